package tracer

import (
	"io"
	"net"
	"strings"
	"testing"

	"tcptour/tracer/kernel"
)

// A note that depends on a condition checks it: what ended LAST_ACK (the
// ACK, a RST, unknown), what ended SYN_SENT, a Close on a socket the
// kernel already calls CLOSE, a connection reset in a closed listener's
// queue.
func TestConditionalNotes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		e       Event
		want    string
		notWant string
	}{
		{"LAST_ACK ended by the ACK", Event{Phase: PhaseState, State: &StateChange{From: kernel.LastAck, To: kernel.Close, CauseFlags: "ACK"}},
			"The ACK of this side's FIN arrived", "RST"},
		{"LAST_ACK ended by RST", Event{Phase: PhaseState, State: &StateChange{From: kernel.LastAck, To: kernel.Close, CauseFlags: "RST"}},
			"A RST came instead of the ACK of this side's FIN", "The ACK of this side's FIN arrived"},
		{"LAST_ACK ended, cause unknown", Event{Phase: PhaseState, State: &StateChange{From: kernel.LastAck, To: kernel.Gone, Asked: true}},
			"the ACK of its FIN came back, or a RST", "arrived:"},
		{"SYN_SENT refused", Event{Phase: PhaseState, State: &StateChange{From: kernel.SynSent, To: kernel.Close, CauseFlags: "RST ACK"}},
			"answered with RST", "gave up"},
		{"SYN_SENT given up", Event{Phase: PhaseState, State: &StateChange{From: kernel.SynSent, To: kernel.Close}},
			"or the program gave up", ""},
		{"reset in a closed listener's queue", Event{Phase: PhaseState, State: &StateChange{From: kernel.CloseWait, To: kernel.Close, Reason: ReasonListenerClosed}},
			"never accepted", ""},
		{"found in TIME_WAIT", Event{Phase: PhaseState, State: &StateChange{From: kernel.TimeWait, To: kernel.TimeWait, Asked: true}},
			"had already moved the connection to a TIME_WAIT socket", "→"},
	} {
		e := tc.e
		got := defaultNote(&e)
		if !strings.Contains(got, tc.want) || (tc.notWant != "" && strings.Contains(got, tc.notWant)) {
			t.Errorf("%s: %q\nwant it to say %q and not %q", tc.name, got, tc.want, tc.notWant)
		}
	}

	closeNote := func(kind uint8, e Event) string { return string(appendCloseNote(nil, kind, &e)) }
	reset := Event{Phase: PhaseClose, PeerClosed: true, TCP: &kernel.Info{State: kernel.Close}}
	if got := closeNote(noteClose, reset); !strings.Contains(got, "Close sends nothing") || strings.Contains(got, "now sends this side's FIN") {
		t.Errorf("Close on a socket the kernel calls CLOSE: %q", got)
	}
	passive := Event{Phase: PhaseClose, PeerClosed: true, TCP: &kernel.Info{State: kernel.CloseWait}}
	if got := closeNote(noteClose, passive); !strings.Contains(got, "now sends this side's FIN") {
		t.Errorf("Close in CLOSE_WAIT: %q", got)
	}
	if got := writeFailedNote(13, 0); !strings.Contains(got, "none of them reached the kernel") {
		t.Errorf("a Write that wrote nothing: %q", got)
	}
	if got := writeFailedNote(13, 5); !strings.Contains(got, "after 5 bytes") {
		t.Errorf("a Write cut short: %q", got)
	}
}

// A Write that fails before a byte reaches the kernel leaves no WRITE in
// the trace, only its error, which says so; one that succeeds stays.
func TestFailedWriteUnsent(t *testing.T) {
	tr := New(Options{})
	a, b := net.Pipe()
	c := WrapConn(a, tr.Hooks("client"))
	go func() {
		buf := make([]byte, 2)
		io.ReadFull(b, buf)
		b.Close()
	}()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("I am Chuck!!!")); err == nil {
		t.Fatal("a Write to a closed pipe succeeded")
	}
	c.Close()
	var writes, errs int
	for _, e := range tr.Events() {
		switch e.Phase {
		case PhaseWrite:
			writes++
			if e.Bytes != 2 {
				t.Errorf("a WRITE of %d bytes, want only the 2 that went", e.Bytes)
			}
		case PhaseError:
			errs++
			if !strings.Contains(e.Note, "The Write of 13 bytes failed: none of them") {
				t.Errorf("the error's note: %q", e.Note)
			}
		}
	}
	if writes != 1 || errs != 1 {
		t.Errorf("%d WRITE and %d ERROR events, want 1 and 1", writes, errs)
	}
}

// The state machine's changes, and a change found when asked that spans
// several of them, shown without an arrow.
func TestTransition(t *testing.T) {
	for _, tc := range []struct {
		from, to kernel.State
		want     bool
	}{
		{kernel.Close, kernel.Listen, true}, {kernel.Established, kernel.FinWait1, true},
		{kernel.FinWait1, kernel.TimeWait, true}, {kernel.LastAck, kernel.Gone, true},
		{kernel.TimeWait, kernel.Gone, true}, {kernel.FinWait2, kernel.FinWait2, true},
		{kernel.Established, kernel.FinWait2, false}, {kernel.Established, kernel.TimeWait, false},
		{kernel.Close, kernel.TimeWait, false}, {kernel.CloseWait, kernel.TimeWait, false},
	} {
		if got := Transition(tc.from, tc.to); got != tc.want {
			t.Errorf("Transition(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	jump := Event{Phase: PhaseState, State: &StateChange{Side: "client", From: kernel.Established, To: kernel.FinWait2, Asked: true}}
	if got := Detail(jump); got != "client FIN_WAIT_2 (found when asked; last seen ESTABLISHED)" {
		t.Errorf("a jump found when asked: %q", got)
	}
	if got := defaultNote(&jump); !strings.Contains(got, "went through other states since") {
		t.Errorf("its note: %q", got)
	}
	edge := Event{Phase: PhaseState, State: &StateChange{Side: "client", From: kernel.FinWait2, To: kernel.TimeWait, Asked: true}}
	if got := Detail(edge); got != "client FIN_WAIT_2 → TIME_WAIT (found when asked)" {
		t.Errorf("one change found when asked: %q", got)
	}
}
