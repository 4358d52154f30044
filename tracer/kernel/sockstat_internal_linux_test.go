//go:build linux

package kernel

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestTimeWaits(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
		ok   bool
	}{
		{"sockets: used 9\nTCP: inuse 1 orphan 0 tw 2 alloc 1 mem 0\nUDP: inuse 0 mem 0\n", 2, true},
		{"TCP: inuse 1 orphan 0 tw 30417 alloc 1 mem 0", 30417, true},
		{"sockets: used 9\nUDP: inuse 0 tw 3\n", 0, false},
		{"TCP: inuse 1 orphan 0 tw -1 alloc 1\n", 0, false},
		{"TCP: inuse 1 orphan 0 tw\n", 0, false},
		{"", 0, false},
	} {
		n, err := timeWaits([]byte(c.text))
		if (err == nil) != c.ok || n != c.want {
			t.Errorf("%q: %d, %v; want %d (ok %v)", c.text, n, err, c.want, c.ok)
		}
	}
}

// A connection the client closed first leaves its socket in TIME_WAIT:
// the count has it.
func TestTimeWaitCount(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server read data, want EOF")
	}
	s.Close() // the client's socket goes to TIME_WAIT on this FIN's arrival
	ft := FiveTuple{Proto: "tcp", Local: c.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort()}
	// FIN_WAIT_2 until the server's FIN arrives, microseconds on
	// loopback.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitState(ctx, ft, TimeWait); err != nil {
		t.Fatal(err)
	}
	n, err := TimeWaitCount()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("TimeWaitCount: %d, want at least the client's socket", n)
	}
}
