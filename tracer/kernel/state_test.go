package kernel_test

import (
	"testing"

	"tcptour/tracer/kernel"
)

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    kernel.State
		want string
	}{
		{kernel.Established, "ESTABLISHED"},
		{kernel.SynSent, "SYN_SENT"},
		{kernel.SynRecv, "SYN_RECV"},
		{kernel.FinWait1, "FIN_WAIT_1"},
		{kernel.FinWait2, "FIN_WAIT_2"},
		{kernel.TimeWait, "TIME_WAIT"},
		{kernel.Close, "CLOSE"},
		{kernel.CloseWait, "CLOSE_WAIT"},
		{kernel.LastAck, "LAST_ACK"},
		{kernel.Listen, "LISTEN"},
		{kernel.Closing, "CLOSING"},
		{kernel.NewSynRecv, "NEW_SYN_RECV"},
		{0, "State(0)"},
		{13, "State(13)"},
		{255, "State(255)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("State(%d).String() = %q, want %q", uint8(tc.s), got, tc.want)
		}
	}
}

// The constants are the kernel's numbers (include/net/tcp_states.h).
func TestStateNumbers(t *testing.T) {
	for s, n := range map[kernel.State]uint8{
		kernel.Established: 1, kernel.TimeWait: 6, kernel.Close: 7,
		kernel.CloseWait: 8, kernel.Listen: 10, kernel.NewSynRecv: 12,
	} {
		if uint8(s) != n {
			t.Errorf("%s = %d, want %d", s, uint8(s), n)
		}
	}
}
