package kernel_test

import (
	"net/netip"
	"testing"
	"time"

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
		{0, "gone"},
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

func TestStateText(t *testing.T) {
	for _, s := range []kernel.State{kernel.Established, kernel.TimeWait, kernel.NewSynRecv, 0, 200} {
		b, err := s.MarshalText()
		if err != nil || string(b) != s.String() {
			t.Errorf("MarshalText(%d) = %q, %v; want %q", uint8(s), b, err, s)
		}
		var back kernel.State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", b, uint8(back), err, uint8(s))
		}
	}
	var s kernel.State
	if err := s.UnmarshalText([]byte("TIME-WAIT")); err == nil {
		t.Error("UnmarshalText accepted ss's spelling TIME-WAIT; the names have underscores")
	}
}

func TestTimerText(t *testing.T) {
	for _, tc := range []struct {
		t    kernel.Timer
		want string
	}{
		{kernel.TimerOff, "off"}, {kernel.TimerOn, "on"}, {kernel.TimerKeepalive, "keepalive"},
		{kernel.TimerTimeWait, "timewait"}, {kernel.TimerPersist, "persist"}, {9, "Timer(9)"},
	} {
		b, err := tc.t.MarshalText()
		if err != nil || string(b) != tc.want {
			t.Errorf("MarshalText(%d) = %q, %v; want %q", uint8(tc.t), b, err, tc.want)
		}
		var back kernel.Timer
		if err := back.UnmarshalText(b); err != nil || back != tc.t {
			t.Errorf("UnmarshalText(%q) = %d, %v", b, uint8(back), err)
		}
	}
	var x kernel.Timer
	if err := x.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText accepted an unknown timer")
	}
}

func TestSocketString(t *testing.T) {
	for _, tc := range []struct {
		s    kernel.Socket
		want string
	}{
		{kernel.Socket{State: kernel.Listen, Local: netip.MustParseAddrPort("127.0.0.1:6969"), SendQ: 4096},
			"LISTEN 127.0.0.1:6969 * Recv-Q 0 Send-Q 4096"},
		{kernel.Socket{State: kernel.FinWait1, Local: netip.MustParseAddrPort("127.0.0.1:52844"), Remote: netip.MustParseAddrPort("127.0.0.1:6969"),
			SendQ: 1, Timer: kernel.TimerOn, Expires: 199600 * time.Microsecond},
			"FIN_WAIT_1 127.0.0.1:52844 127.0.0.1:6969 Recv-Q 0 Send-Q 1 timer:(on,200ms,0)"},
		{kernel.Socket{State: kernel.TimeWait, Local: netip.MustParseAddrPort("127.0.0.1:52844"), Remote: netip.MustParseAddrPort("127.0.0.1:6969"),
			Timer: kernel.TimerTimeWait, Expires: 59996 * time.Millisecond},
			"TIME_WAIT 127.0.0.1:52844 127.0.0.1:6969 Recv-Q 0 Send-Q 0 timer:(timewait,60s,0)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
