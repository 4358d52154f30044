package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The tests that run the lesson's program mostly wait: they run side
// by side, up to 10 at once.
func TestMain(m *testing.M) { lessontest.Main(m) }

func TestLesson(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel lines need Linux's socket diagnostics")
	}
	res := lessontest.Run(t, info, run)
	// Connection #1: the client closes first and ends in TIME_WAIT;
	// the server reads EOF, waits in CLOSE_WAIT, closes, and is gone.
	lessontest.Order(t, res.Events,
		"server listen",
		"kernel note the server's listening socket: LISTEN",
		"client connect-done",
		"server accept",
		"kernel note the client's socket: ESTABLISHED",
		"kernel note the server's socket: ESTABLISHED",
		"client close",
		"kernel note the client's socket: FIN_WAIT_1",
		"server eof",
		"kernel note the server's socket: CLOSE_WAIT",
		"kernel note the client's socket: FIN_WAIT_2",
		"server close",
		"kernel note the server's socket: gone",
		"kernel note the client's socket: TIME_WAIT",
		// The port in TIME_WAIT cannot be bound again.
		"client connect-start",
		"client error bind: address already in use",
		"kernel note the client's old socket: TIME_WAIT",
	)
	// Connection #2: the server closes first and ends in TIME_WAIT.
	lessontest.Order(t, res.Events,
		"kernel note the client's old socket",
		"client connect-done",
		"server accept",
		"server close",
		"kernel note the server's socket: FIN_WAIT_1",
		"client eof",
		"kernel note the client's socket: CLOSE_WAIT",
		"client close",
		"kernel note the client's socket: gone",
		"kernel note the server's socket: TIME_WAIT",
		"server close listener",
		"kernel note the server's listening socket: gone",
		"kernel note connection #1's client socket: TIME_WAIT",
		"kernel note connection #2's server socket: TIME_WAIT",
	)
	// Who closed first, as the tracer saw it: the side that closed
	// without having read the peer's FIN.
	for _, e := range res.Events {
		if e.Phase != tracer.PhaseClose || !e.Remote.IsValid() {
			continue
		}
		first := map[int]string{1: "client", 2: "server"}[e.Conn]
		if e.PeerClosed == (e.Actor == first) {
			t.Errorf("conn #%d: %s closed with peer_closed=%v; the %s should close first", e.Conn, e.Actor, e.PeerClosed, first)
		}
	}
}

func TestLessonOnTheWire(t *testing.T) {
	t.Parallel()
	ev := lessontest.RunCapture(t, info, run)
	// Connection #1: FIN, the delayed ACK, FIN, ACK, each state between.
	lessontest.Order(t, ev,
		"client close",
		"wire packet FIN ACK client→server",
		"kernel note the client's socket: FIN_WAIT_1",
		"server eof",
		"kernel note the server's socket: CLOSE_WAIT",
		"wire packet ACK server→client len 0",
		"kernel note the client's socket: FIN_WAIT_2",
		"server close",
		"wire packet FIN ACK server→client",
		"wire packet ACK client→server len 0",
		"kernel note the server's socket: gone",
		"kernel note the client's socket: TIME_WAIT",
		"client error bind: address already in use",
	)
	// Connection #2: the server's FIN first; the client's FIN carries
	// the ACK of it; the server's last ACK.
	lessontest.Order(t, ev,
		"client error bind: address already in use",
		"wire packet SYN client→server",
		"server close",
		"wire packet FIN ACK server→client",
		"kernel note the server's socket: FIN_WAIT_1",
		"client eof",
		"client close",
		"wire packet FIN ACK client→server",
		"wire packet ACK server→client len 0",
		"kernel note the server's socket: TIME_WAIT",
	)
	// The closing segments of each connection, from its first FIN on:
	// four for #1, three for #2.
	want := map[int]string{
		1: "FIN ACK client→server, ACK server→client, FIN ACK server→client, ACK client→server",
		2: "FIN ACK server→client, FIN ACK client→server, ACK server→client",
	}
	closing := map[int][]string{}
	syns := 0
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		if p.Flags == "SYN" {
			syns++
		}
		if strings.Contains(p.Flags, "FIN") || len(closing[e.Conn]) > 0 {
			closing[e.Conn] = append(closing[e.Conn], fmt.Sprintf("%s %s→%s", p.Flags, p.From, p.To))
		}
	}
	for id, w := range want {
		if got := strings.Join(closing[id], ", "); got != w {
			t.Errorf("conn #%d closed with\n\t%s\nwant\n\t%s", id, got, w)
		}
	}
	// The dial from the port in TIME_WAIT sent nothing: bind failed
	// before any SYN.
	if syns != 2 {
		t.Errorf("%d SYNs, want 2 (one per connection)", syns)
	}
}

// Without CAP_NET_RAW the lesson says why in one line and goes on; the
// kernel lines need no privilege.
func TestLessonWithoutCapturePermission(t *testing.T) {
	lessontest.RunUnprivileged(t, info)
}

// Where the kernel reports each change of state as it makes it (root,
// tracefs), the passive closer passes through CLOSE_WAIT and LAST_ACK
// and the active closer ends in TIME_WAIT, each change after the
// segment that caused it.
func TestLessonStates(t *testing.T) {
	t.Parallel()
	ev := lessontest.RunCapture(t, info, run)
	live := slices.ContainsFunc(ev, func(e tracer.Event) bool { return e.Phase == tracer.PhaseState && !e.State.Asked })
	if !live {
		t.Skip("the kernel does not report changes of state here (needs root and tracefs mounted)")
	}
	// Connection #1: the client closes first.
	lessontest.Order(t, ev,
		"client close",
		"kernel state client ESTABLISHED → FIN_WAIT_1",
		"wire packet FIN ACK client→server",
		"kernel state server ESTABLISHED → CLOSE_WAIT  ← FIN ACK",
		"wire packet ACK server→client len 0",
		"kernel state client FIN_WAIT_1 → FIN_WAIT_2  ← ACK",
		"server close",
		"kernel state server CLOSE_WAIT → LAST_ACK",
		"wire packet FIN ACK server→client",
		"wire packet ACK client→server len 0",
		"kernel state server LAST_ACK → CLOSE  ← ACK",
		"kernel state client FIN_WAIT_2 → TIME_WAIT, kept by the kernel for 60 s",
	)
	// Connection #2: the server closes first.
	lessontest.Order(t, ev,
		"client error bind: address already in use",
		"server close",
		"kernel state server ESTABLISHED → FIN_WAIT_1",
		"wire packet FIN ACK server→client",
		"kernel state client ESTABLISHED → CLOSE_WAIT  ← FIN ACK",
		"client close",
		"kernel state client CLOSE_WAIT → LAST_ACK",
		"wire packet FIN ACK client→server",
		"kernel state server FIN_WAIT_1 → FIN_WAIT_2  ← FIN ACK",
		"kernel state server FIN_WAIT_2 → TIME_WAIT, kept by the kernel for 60 s",
		"kernel state client LAST_ACK → CLOSE  ← ACK",
	)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}
