package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The clients dial one after another, so the connection ids are fixed:
// #1–#4 reach the first server (#3 and #4 over the limit), #5–#7 the
// LimitListener (#7 waits for a slot).

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	ev := res.Events
	// Node's way: four handshakes before any Accept, two kept, two
	// closed at once; the extra clients read EOF and a reset; the count
	// goes down as handlers end.
	lessontest.Order(t, ev,
		"server listen",
		"client connect-done",
		"client connect-done",
		"client connect-done",
		"client connect-done",
		"client write hello?",
		"kernel note holds 4 connections",
		"kernel note holds 6 bytes",
		"server accept",
		"server note 1 of at most 2 connections open",
		"server accept",
		"server note 2 of at most 2 connections open",
		"server accept",
		"server note the limit: close this one at once",
		"server accept",
		"server note the limit: close this one at once",
		"client eof",
		"client error connection reset by peer",
		"server note A handler ended: 1 connection open",
		"server note A handler ended: 0 connections open",
		"server close listener",
	)
	// LimitListener: the third connection's Accept waits for a Close.
	lessontest.Order(t, ev,
		"server close listener",
		"server listen",
		"client connect-done",
		"client connect-done",
		"client connect-done",
		"client write hello?",
		"kernel note holds 1 connection waiting for Accept",
		"kernel note holds 6 unread bytes",
		"client close",
		"server close",
		"server accept",
		"server read hello?",
		`client read You said \"hello?\"`,
		"server close listener",
	)
	for _, c := range []struct {
		conn, step int
		actor      string
		phase      tracer.Phase
		detail     string
	}{
		{3, 3, "server", tracer.PhaseClose, "in 0 out 0"},
		{3, 4, "client", tracer.PhaseEOF, ""},
		{4, 3, "server", tracer.PhaseClose, "in 0 out 0"},
		{4, 4, "client", tracer.PhaseError, "connection reset by peer"},
		{7, 7, "client", tracer.PhaseWrite, "hello?"},
		{7, 8, "server", tracer.PhaseAccept, ""},
	} {
		if !slices.ContainsFunc(ev, func(e tracer.Event) bool {
			return e.Conn == c.conn && e.Step == c.step && e.Actor == c.actor && e.Phase == c.phase &&
				strings.Contains(lessontest.Golden([]tracer.Event{e}), c.detail)
		}) {
			t.Errorf("no %s %s %q on connection #%d in step %d", c.actor, c.phase, c.detail, c.conn, c.step)
		}
	}
	// The server sent the first FIN on #3, so the server's end is the
	// one left in TIME_WAIT (docs/lessons/07.md); after #4's RST the
	// kernel keeps nothing of it.
	for _, e := range ev {
		if e.Actor != "server" || e.Phase != tracer.PhaseAccept || (e.Conn != 3 && e.Conn != 4) {
			continue
		}
		server := kernel.FiveTuple{Proto: "tcp", Local: e.Local, Remote: e.Remote}
		client := kernel.FiveTuple{Proto: "tcp", Local: e.Remote, Remote: e.Local}
		want := map[int]kernel.State{3: kernel.TimeWait, 4: kernel.Gone}[e.Conn]
		states, err := kernel.States(server, client)
		if errors.Is(err, kernel.ErrUnsupported) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if states[server] != want || states[client] != kernel.Gone {
			t.Errorf("connection #%d after the lesson: the server's end %v, the client's %v; want %v and gone",
				e.Conn, states[server], states[client], want)
		}
	}
	// Connections #3 and #4 never reach a handler: nothing is read or
	// written on the server's side.
	for _, e := range ev {
		if (e.Conn == 3 || e.Conn == 4) && e.Actor == "server" && (e.Phase == tracer.PhaseRead || e.Phase == tracer.PhaseWrite) {
			t.Errorf("the server %s on connection #%d, which it should have closed at once", e.Phase, e.Conn)
		}
	}
}

// The acceptance: the extra connection's handshake and immediate close
// on the wire. #3 sent nothing and gets FIN; #4's bytes were unread and
// it gets RST; #7's handshake and bytes wait until a slot frees.
func TestLessonOnTheWire(t *testing.T) {
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, lessontest.OfConns(ev, 3),
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"wire packet ACK client→server len 0",
		"client connect-done",
		"server accept",
		"server close",
		"wire packet FIN ACK server→client len 0",
		// The client's kernel may acknowledge the FIN at once or, as it
		// expects to send its own FIN soon, in that FIN.
		"client eof",
		"client close",
		"wire packet FIN ACK client→server",
		"wire packet ACK server→client len 0",
	)
	lessontest.Order(t, lessontest.OfConns(ev, 4),
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"wire packet ACK client→server len 0",
		"client connect-done",
		"client write hello?",
		"wire packet PSH ACK client→server len 6",
		"wire packet ACK server→client len 0",
		"server accept",
		"server close",
		"wire packet RST ACK server→client",
		"client error",
	)
	lessontest.Order(t, lessontest.OfConns(ev, 5, 7),
		"wire packet SYN client→server",     // #5
		"wire packet SYN client→server",     // #7
		"wire packet SYN ACK server→client", // #7
		"wire packet ACK client→server len 0",
		"client write hello?",
		"wire packet PSH ACK client→server len 6",
		"wire packet ACK server→client len 0",
		"wire packet FIN ACK client→server", // #5 leaves
		"server close",                      // its slot frees
		"server accept",                     // only now: #7
		"server read hello?",
	)
	for _, e := range ev {
		p := e.Packet
		if p == nil {
			continue
		}
		switch {
		case e.Conn == 3 && strings.Contains(p.Flags, "RST"):
			t.Errorf("RST on connection #3, which had nothing unread")
		case e.Conn == 4 && strings.Contains(p.Flags, "FIN"):
			t.Errorf("FIN on connection #4, which the server closed with unread bytes")
		case e.Conn != 4 && strings.Contains(p.Flags, "RST"):
			t.Errorf("RST on connection #%d", e.Conn)
		}
	}
}

// Without CAP_NET_RAW the lesson says why in one line and goes on.
func TestLessonWithoutCapturePermission(t *testing.T) {
	lessontest.RunUnprivileged(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}

// The lab's counters, the lesson's alone, move in step 3 only, as
// docs/lessons/07.md says: #4's reset on close, counted on both ends.
func TestLabCounters(t *testing.T) {
	labCounters(t, lessontest.RunJSON(t, lessontest.Build(t)), map[int]string{
		3: "TcpEstabResets +2, TcpOutRsts +1, TcpExtTCPAbortOnClose +1",
	})
}

// labCounters checks the lab's COUNTER events of a lesson's run, step
// by step: want[step] lists them in order, as "Name +delta". Without a
// lab, which the run says at its start, it skips: the host's counters
// are everyone's.
func labCounters(t *testing.T, ev []tracer.Event, want map[int]string) {
	t.Helper()
	if !slices.ContainsFunc(ev, func(e tracer.Event) bool { return e.Actor == "lab" && e.Text == "a network of the lesson's own" }) {
		t.Skip("no lab here: only a lab's counters are the lesson's alone")
	}
	got := map[int][]string{}
	for _, e := range ev {
		if e.Phase == tracer.PhaseCounter {
			got[e.Step] = append(got[e.Step], fmt.Sprintf("%s +%d", e.Counter.Name, e.Counter.Delta))
		}
	}
	steps := map[int]bool{}
	for step := range got {
		steps[step] = true
	}
	for step := range want {
		steps[step] = true
	}
	for step := range steps {
		if g := strings.Join(got[step], ", "); g != want[step] {
			t.Errorf("step %d: the lab's kernel counted %q, want %q", step, g, want[step])
		}
	}
}
