package main

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The golden file stays the same from run to run although the
// conversations of step 4 interleave differently each time: within a
// step it lists each actor's events per connection, and the ids are
// fixed because the clients dial one after another (ids follow the
// order in which connections first appear in the trace).

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	ev := res.Events
	lessontest.Order(t, ev,
		"server listen",
		"client connect-done",
		"client connect-done",
		"client connect-done",
		"client note 3 connections to the same server address",
		// Step 3: #1's handler is busy while #2 and #3 are answered.
		"client write slow",
		"server read slow",
		"client write hi",
		`client read You said \"hi\"`,
		"client write hi",
		`client read You said \"hi\"`,
		`server write You said \"slow\"`,
		`client read You said \"slow\"`,
		"server close listener",
	)
	// Dialed one after another: ids 1, 2, 3 in the order of the Dials,
	// each from its own port, all to the same server address.
	var dials []tracer.Event
	for _, e := range ev {
		if e.Actor == "client" && e.Phase == tracer.PhaseConnectDone {
			dials = append(dials, e)
		}
	}
	ports := map[uint16]bool{}
	for i, e := range dials {
		if e.Conn != i+1 {
			t.Errorf("dial %d got connection id #%d", i+1, e.Conn)
		}
		ports[e.Local.Port()] = true
		if e.Remote != dials[0].Remote {
			t.Errorf("dial %d went to %v, not %v", i+1, e.Remote, dials[0].Remote)
		}
	}
	if len(dials) != clients || len(ports) != clients {
		t.Errorf("%d dials from %d different ports, want %d and %d", len(dials), len(ports), clients, clients)
	}
	// Each connection's conversation keeps its order, whatever the others do.
	for id := 1; id <= clients; id++ {
		var want []string
		for i := 1; i <= 3; i++ {
			msg := fmt.Sprintf("message %d", i)
			want = append(want,
				"client write "+msg,
				"server read "+msg,
				`server write You said \"`+msg+`\"`,
				`client read You said \"`+msg+`\"`)
		}
		lessontest.Order(t, lessontest.OfConns(ev, id), append(want, "client close", "server eof", "server close")...)
	}
	// Each server-side event carries the id of its client's connection.
	for _, e := range ev {
		if e.Actor == "server" && e.Conn != 0 && !slices.ContainsFunc(dials, func(d tracer.Event) bool {
			return d.Conn == e.Conn && d.Local == e.Remote && d.Remote == e.Local
		}) {
			t.Errorf("server event %s #%d %v ↔ %v matches no client connection", e.Phase, e.Conn, e.Local, e.Remote)
		}
	}
}

// On the wire: three handshakes from three client ports to one server
// port; every packet carries the id of the connection whose five-tuple
// it has; #2's and #3's exchanges happen while #1 waits for its answer.
func TestLessonOnTheWire(t *testing.T) {
	ev := lessontest.RunCapture(t, info, run)
	tuples := map[int][2]netip.AddrPort{} // id → client, server
	for _, e := range ev {
		if e.Actor == "client" && e.Phase == tracer.PhaseConnectDone {
			tuples[e.Conn] = [2]netip.AddrPort{e.Local, e.Remote}
		}
	}
	syns := 0
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		tu, ok := tuples[e.Conn]
		switch {
		case !ok:
			t.Errorf("packet %s on connection #%d, which no client dialed", p.Flags, e.Conn)
		case p.From == "client" && (p.Src != tu[0] || p.Dst != tu[1]),
			p.From == "server" && (p.Src != tu[1] || p.Dst != tu[0]):
			t.Errorf("packet %s %v → %v marked #%d, whose five-tuple is %v ↔ %v", p.Flags, p.Src, p.Dst, e.Conn, tu[0], tu[1])
		}
		if p.Flags == "SYN" {
			syns++
		}
	}
	if syns != clients {
		t.Errorf("%d SYNs, want %d", syns, clients)
	}
	for id := 1; id <= clients; id++ {
		lessontest.Order(t, lessontest.OfConns(ev, id),
			"wire packet SYN client→server",
			"wire packet SYN ACK server→client",
			"wire packet ACK client→server len 0",
			"client connect-done",
		)
	}
	lessontest.Order(t, ev,
		"client write slow",
		"wire packet PSH ACK client→server len 4",  // #1: slow
		"wire packet PSH ACK server→client len 13", // #2 answered
		"wire packet PSH ACK server→client len 13", // #3 answered
		"wire packet PSH ACK server→client len 15", // then #1
		`client read You said \"slow\"`,
	)
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
