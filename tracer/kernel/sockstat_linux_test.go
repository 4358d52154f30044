package kernel_test

import (
	"testing"

	"tcptour/tracer/kernel"
)

// A connection the client closed first leaves its socket in TIME_WAIT:
// the count has it.
func TestTimeWaitCount(t *testing.T) {
	c, s := pair(t, "tcp4", "127.0.0.1:0")
	c.Close()
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server read data, want EOF")
	}
	s.Close() // the client's socket goes to TIME_WAIT on this FIN's arrival
	if err := kernel.WaitState(wait(t), tuple(c), kernel.TimeWait); err != nil {
		t.Fatal(err)
	}
	n, err := kernel.TimeWaitCount()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("TimeWaitCount: %d, want at least the client's socket", n)
	}
}
