package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// jsonTimeline is a timeline whose trace is printed as JSON into the
// returned buffer, with capture in mode (off, or auto).
func jsonTimeline(t *testing.T, mode string) (*Timeline, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	tl, _, err := NewTimeline("lesson", tracer.NewJSON(&out), io.Discard, Config{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return tl, &out
}

// printed reads back the JSON events a timeline printed.
func printed(t *testing.T, out *bytes.Buffer) []tracer.Event {
	t.Helper()
	var evs []tracer.Event
	dec := json.NewDecoder(out)
	for {
		var e tracer.Event
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
}

// A change of state made by a received segment is tied to that segment,
// when it is the last the socket received since its previous change and
// has the flag that makes the change; one the program made is tied to
// nothing.
func TestTimelineTiesStatesToSegments(t *testing.T) {
	tl, out := jsonTimeline(t, ModeOff)
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	server := netip.MustParseAddrPort("127.0.0.1:6969")
	if tl.states != nil {
		// The program's ports, as its Listen and Dial hooks give them:
		// both ends are its sockets.
		tl.states.addPort(server.Port(), true)
		tl.states.addPort(server.Port(), false)
	}
	t0 := time.Now()
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	packet := func(us int, src, dst netip.AddrPort, flags string) {
		tl.Trace().Add(tracer.Event{Time: at(us), Actor: "wire", Phase: tracer.PhasePacket,
			Packet: &tracer.Packet{Proto: "tcp", Src: src, Dst: dst, Flags: flags}})
	}
	state := func(us int, local, remote netip.AddrPort, from, to kernel.State) {
		tl.Trace().Add(tracer.Event{Time: at(us), Actor: "kernel", Phase: tracer.PhaseState, Proto: "tcp",
			Local: local, Remote: remote, State: &tracer.StateChange{Side: "x", From: from, To: to}})
	}
	packet(1, client, server, "SYN")
	packet(2, server, client, "SYN ACK")
	state(3, client, server, kernel.SynSent, kernel.Established) // ← SYN ACK
	packet(4, client, server, "ACK")
	state(5, server, client, kernel.Listen, kernel.SynRecv)         // ← ACK
	state(6, server, client, kernel.SynRecv, kernel.Established)    // the same ACK, already used
	state(10, client, server, kernel.Established, kernel.FinWait1)  // Close: no segment
	packet(11, client, server, "FIN ACK")                           //
	state(12, server, client, kernel.Established, kernel.CloseWait) // ← FIN ACK
	packet(13, server, client, "PSH ACK")                           // data, not the ACK of the FIN…
	state(14, client, server, kernel.FinWait1, kernel.FinWait2)     // …but it acknowledges it: ← PSH ACK
	packet(20, client, server, "RST")
	state(21, server, client, kernel.CloseWait, kernel.Close) // ← RST
	if err := tl.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // the change → the flags of its cause, "" for none
		"SYN_SENT→ESTABLISHED":   "SYN ACK",
		"LISTEN→SYN_RECV":        "ACK",
		"SYN_RECV→ESTABLISHED":   "",
		"ESTABLISHED→FIN_WAIT_1": "",
		"ESTABLISHED→CLOSE_WAIT": "FIN ACK",
		"FIN_WAIT_1→FIN_WAIT_2":  "PSH ACK",
		"CLOSE_WAIT→CLOSE":       "RST",
	}
	seqOf := map[time.Time]int64{}
	seen := 0
	for _, e := range printed(t, out) {
		if e.Phase == tracer.PhasePacket {
			seqOf[e.Time] = e.Seq
		}
		if e.Phase != tracer.PhaseState || e.Actor != "kernel" || e.State.Side != "x" {
			continue
		}
		seen++
		k := e.State.From.String() + "→" + e.State.To.String()
		flags, ok := want[k]
		if !ok {
			t.Errorf("unexpected change %s", k)
			continue
		}
		if e.State.CauseFlags != flags {
			t.Errorf("%s: caused by %q, want %q", k, e.State.CauseFlags, flags)
		}
		if flags != "" && (e.State.Cause == 0 || e.State.Cause >= e.Seq || e.State.CauseElapsed <= 0 || e.State.CauseElapsed > e.Elapsed) {
			t.Errorf("%s: cause seq %d at %v, the change's seq %d at %v", k, e.State.Cause, e.State.CauseElapsed, e.Seq, e.Elapsed)
		}
	}
	if seen != len(want) {
		t.Errorf("%d changes printed, want %d", seen, len(want))
	}
}

// The pretty output says a change's cause after the change.
func TestStateDetail(t *testing.T) {
	e := tracer.Event{Phase: tracer.PhaseState, State: &tracer.StateChange{Side: "server", From: kernel.Established,
		To: kernel.CloseWait, CauseFlags: "FIN ACK", CauseElapsed: 15853 * time.Microsecond}}
	if got, want := tracer.Detail(e), "server ESTABLISHED → CLOSE_WAIT  ← FIN ACK at +15.853 ms"; got != want {
		t.Errorf("Detail = %q, want %q", got, want)
	}
	e.State = &tracer.StateChange{Side: "client", From: kernel.FinWait2, To: kernel.TimeWait, Kept: true, Expires: 59998 * time.Millisecond, Asked: true}
	if got, want := tracer.Detail(e), "client FIN_WAIT_2 → TIME_WAIT, kept by the kernel for 60 s (found when asked)"; got != want {
		t.Errorf("Detail = %q, want %q", got, want)
	}
}

// connect opens a connection through hooks, the client's and the
// server's, on a new loopback listener.
func connect(t *testing.T, tl *Timeline) (client, server net.Conn, ln net.Listener) {
	t.Helper()
	ln, err := tracer.Listen(context.Background(), tl.ActorHooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	d := tracer.Dialer{Hooks: tl.ActorHooks("client")}
	client, err = d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server, ln
}

// closeBoth closes a connection the usual way: the client first, the
// server once it has read the client's FIN. It returns once the client's
// end is in TIME_WAIT and the server's gone.
func closeBoth(t *testing.T, client, server net.Conn) {
	t.Helper()
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(server); err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := kernel.WaitState(ctx, tuple(client), kernel.TimeWait); err != nil {
		t.Fatal(err)
	}
	if err := kernel.WaitGone(ctx, tuple(server)); err != nil {
		t.Fatal(err)
	}
}

func tuple(c net.Conn) tracer.FiveTuple {
	return tracer.FiveTuple{Proto: "tcp", Local: c.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort()}
}

// changes lists the printed changes of state as "side FROM→TO".
func changes(evs []tracer.Event) []string {
	var cs []string
	for _, e := range evs {
		if e.Phase == tracer.PhaseState {
			cs = append(cs, fmt.Sprintf("%s %s→%s", e.State.Side, e.State.From, e.State.To))
		}
	}
	return cs
}

// Without the tracepoint, States asks the kernel about the sockets the
// program closed: the client's end found in TIME_WAIT, kept 60 s, the
// server's gone.
func TestStatesAsked(t *testing.T) {
	tl, out := jsonTimeline(t, ModeOff)
	if tl.states == nil {
		t.Skip("no socket diagnostics here")
	}
	if tl.states.Live() {
		t.Fatal("with capture off, the states are asked for")
	}
	client, server, _ := connect(t, tl)
	closeBoth(t, client, server)
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	evs := printed(t, out)
	// Asked at the same Sync, the two ends come in no fixed order.
	cs := changes(evs)
	slices.Sort(cs)
	got := strings.Join(cs, ", ")
	if want := "client ESTABLISHED→TIME_WAIT, server CLOSE_WAIT→gone, server CLOSE→LISTEN"; got != want {
		t.Errorf("changes: %s\nwant %s", got, want)
	}
	for _, e := range evs {
		if e.Phase != tracer.PhaseState || !e.Remote.IsValid() {
			continue
		}
		if !e.State.Asked || e.Conn != 1 {
			t.Errorf("%s: asked %v, conn %d; want asked, conn 1", e.State.To, e.State.Asked, e.Conn)
		}
		if e.State.To == kernel.TimeWait && (!e.State.Kept || e.State.Expires < 50*time.Second || e.State.Expires > 60*time.Second) {
			t.Errorf("TIME_WAIT kept %v for %v, want kept about 60 s", e.State.Kept, e.State.Expires)
		}
		if !strings.Contains(e.Note, "asked") {
			t.Errorf("the note of an asked change does not say so: %q", e.Note)
		}
	}
	// The events of the program's own sockets carry their TCP_INFO.
	for _, e := range evs {
		switch e.Phase {
		case tracer.PhaseConnectDone, tracer.PhaseAccept, tracer.PhaseEOF, tracer.PhaseClose:
			if e.Remote.IsValid() && e.TCP == nil {
				t.Errorf("%s %s: no TCP_INFO", e.Actor, e.Phase)
			}
		}
	}
	for _, c := range []struct {
		actor string
		phase tracer.Phase
		want  kernel.State
	}{
		{"client", tracer.PhaseConnectDone, kernel.Established},
		{"server", tracer.PhaseAccept, kernel.Established},
		{"client", tracer.PhaseClose, kernel.Established},
		{"server", tracer.PhaseEOF, kernel.CloseWait},
		{"server", tracer.PhaseClose, kernel.CloseWait},
	} {
		for _, e := range evs {
			if e.Actor == c.actor && e.Phase == c.phase && e.TCP != nil && e.TCP.State != c.want {
				t.Errorf("%s %s: TCP_INFO state %s, want %s", c.actor, c.phase, e.TCP.State, c.want)
			}
		}
	}
}

// With the tracepoint, each change comes as the kernel made it, in
// order, and the connection that ended in FIN_WAIT_2 is found in
// TIME_WAIT, kept by the kernel.
func TestStatesLive(t *testing.T) {
	tl, out := jsonTimeline(t, ModeAuto)
	if !tl.states.Live() {
		tl.Close()
		t.Skip("the kernel does not report changes of state here (needs root and tracefs)")
	}
	client, server, ln := connect(t, tl)
	closeBoth(t, client, server)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	evs := printed(t, out)
	var client1, server1, listener []string
	var kept []tracer.StateChange // the client's, handed to a timewait socket
	for _, e := range evs {
		if e.Phase != tracer.PhaseState {
			continue
		}
		s := e.State.From.String() + "→" + e.State.To.String()
		if e.State.Side == "client" && e.State.From == kernel.FinWait2 {
			kept = append(kept, *e.State)
		}
		if e.State.Asked && s != "CLOSE→LISTEN" && (s != "FIN_WAIT_2→TIME_WAIT" || !slices.Contains(client1, "FIN_WAIT_2→FIN_WAIT_2")) {
			// Only the LISTEN is asked for: listen(2) made it before
			// the program knew its port; and a timewait socket found
			// in FIN_WAIT_2 is watched, by asking, into TIME_WAIT (no
			// tracepoint tells, see below).
			t.Errorf("%s asked, with the tracepoint", s)
		}
		switch {
		case e.State.Side == "client":
			client1 = append(client1, s)
		case e.State.Side == "server" && e.Remote.IsValid():
			server1 = append(server1, s)
		}
		if e.State.Side == "server" && !e.Remote.IsValid() {
			listener = append(listener, s)
		}
		if e.Remote.IsValid() && e.Conn != 1 {
			t.Errorf("%s: conn %d, want 1", s, e.Conn)
		}
	}
	// The client's socket, closed, is handed to a timewait socket when
	// the ACK of its FIN comes (FIN_WAIT_2→CLOSE, asked about at once).
	// The server's ACK usually waits, delayed, and comes with its FIN:
	// the timewait socket is then in TIME_WAIT. Where the server is slow
	// to close (a busy machine), the ACK comes alone first, and the
	// timewait socket is found still in FIN_WAIT_2, kept, then watched
	// (asked about) into TIME_WAIT when the FIN comes.
	wantClient := "CLOSE→SYN_SENT SYN_SENT→ESTABLISHED ESTABLISHED→FIN_WAIT_1 FIN_WAIT_1→FIN_WAIT_2 FIN_WAIT_2→TIME_WAIT"
	finLater := "CLOSE→SYN_SENT SYN_SENT→ESTABLISHED ESTABLISHED→FIN_WAIT_1 FIN_WAIT_1→FIN_WAIT_2 FIN_WAIT_2→FIN_WAIT_2 FIN_WAIT_2→TIME_WAIT"
	switch got := strings.Join(client1, " "); got {
	case wantClient:
		if len(kept) != 1 || !kept[0].Kept || kept[0].Asked {
			t.Errorf("the client's FIN_WAIT_2→TIME_WAIT %+v: want it kept, from the tracepoint", kept)
		}
	case finLater:
		if len(kept) != 2 || !kept[0].Kept || kept[0].Asked || !kept[1].Kept || !kept[1].Asked {
			t.Errorf("the client's changes from FIN_WAIT_2 %+v: want one kept from the tracepoint, then one kept found when asked", kept)
		}
	default:
		t.Errorf("client: %s\nwant    %s\nor      %s", got, wantClient, finLater)
	}
	if len(kept) > 0 {
		if last := kept[len(kept)-1]; last.Expires < 50*time.Second || last.Expires > 60*time.Second {
			t.Errorf("TIME_WAIT kept for %v, want about 60 s", last.Expires)
		}
	}
	if got, want := strings.Join(listener, " "), "CLOSE→LISTEN LISTEN→CLOSE"; got != want {
		t.Errorf("listener: %s\nwant      %s", got, want)
	}
	wantServer := "LISTEN→SYN_RECV SYN_RECV→ESTABLISHED ESTABLISHED→CLOSE_WAIT CLOSE_WAIT→LAST_ACK LAST_ACK→CLOSE"
	if got := strings.Join(server1, " "); got != wantServer {
		t.Errorf("server: %s\nwant    %s", got, wantServer)
	}
}

// When the kernel stops answering, the trace says so once and goes on.
func TestStatesFailureNoted(t *testing.T) {
	tl, out := jsonTimeline(t, ModeAuto)
	if !tl.states.Live() {
		tl.Close()
		t.Skip("the kernel does not report changes of state here (needs root and tracefs)")
	}
	// A watcher closed under the timeline: its next Sync fails.
	if _, err := tl.states.w.Close(); err != nil {
		t.Fatal(err)
	}
	client, server, _ := connect(t, tl)
	closeBoth(t, client, server)
	if err := tl.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tl.Close(); err != nil {
		t.Fatalf("Close: %v, want the failure in the trace, not an error", err)
	}
	notes := 0
	for _, e := range printed(t, out) {
		if e.Phase == tracer.PhaseNote && strings.HasPrefix(e.Text, "no more states: ") {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d notes saying the states stopped, want 1", notes)
	}
}

// fakeAsker answers States' questions from a function.
type fakeAsker struct {
	lookup func(ft tracer.FiveTuple) (kernel.Socket, error)
}

func (f fakeAsker) Lookup(ft tracer.FiveTuple) (kernel.Socket, error) { return f.lookup(ft) }
func (f fakeAsker) Close() error                                      { return nil }

// A socket closed on a five-tuple while the kernel is being asked about
// the previous socket with that five-tuple is watched from its own
// state: the answer about the old one does not overwrite it.
func TestStatesAskedTupleReused(t *testing.T) {
	tr := tracer.New(tracer.Options{})
	s, _ := StartStates(tr, false)
	if s == nil {
		t.Skip("no socket diagnostics here")
	}
	ft := tracer.FiveTuple{Proto: "tcp",
		Local: netip.MustParseAddrPort("127.0.0.1:40000"), Remote: netip.MustParseAddrPort("127.0.0.1:6969")}
	s.mu.Lock()
	s.watch(ft, kernel.FinWait2) // the first socket, closed
	s.mu.Unlock()

	asked := 0
	s.diag = fakeAsker{func(got tracer.FiveTuple) (kernel.Socket, error) {
		asked++
		if asked == 1 {
			// The first socket is gone, and meanwhile the program
			// closed a second one on the same five-tuple.
			s.mu.Lock()
			s.watch(ft, kernel.Established)
			s.mu.Unlock()
			return kernel.Socket{}, kernel.ErrNotFound
		}
		return kernel.Socket{State: kernel.TimeWait, Local: got.Local, Remote: got.Remote}, nil
	}}
	s.Sync()
	s.Sync()
	s.Close()

	var got []string
	for _, e := range tr.Events() {
		if e.Phase == tracer.PhaseState {
			got = append(got, e.State.From.String()+" → "+e.State.To.String())
		}
	}
	want := []string{"ESTABLISHED → TIME_WAIT"}
	if !slices.Equal(got, want) {
		t.Errorf("changes %q, want %q: the second socket followed from its own state", got, want)
	}
	if asked != 2 {
		t.Errorf("asked %d times, want 2 (the first socket, then the second)", asked)
	}
}

// A connection the kernel hands to a timewait socket that is found in
// TIME_WAIT when asked, a little later: the change is shown at the
// kernel's time only with what was true then. The peer's FIN came
// before it: TIME_WAIT then. The FIN came after it (the program closed
// in FIN_WAIT_2): FIN_WAIT_2 then, and TIME_WAIT when asked, after the
// FIN. No packets to tell: TIME_WAIT when asked. Never a state before
// it happened.
func TestStatesHandover(t *testing.T) {
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	server := netip.MustParseAddrPort("127.0.0.1:6969")
	for _, tc := range []struct {
		name    string
		packets bool
		finAt   time.Duration // the FIN's arrival, after the change (negative: before)
		want    []string      // the states and the FIN, in the order printed
	}{
		{"FIN before the change", true, -100 * time.Microsecond,
			[]string{"FIN", "FIN_WAIT_2→TIME_WAIT kept ←FIN"}},
		{"FIN after the change", true, 400 * time.Microsecond,
			[]string{"FIN_WAIT_2→FIN_WAIT_2 kept", "FIN", "FIN_WAIT_2→TIME_WAIT kept asked ←FIN"}},
		{"no packets", false, 0,
			[]string{"FIN_WAIT_2→TIME_WAIT kept asked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, out := jsonTimeline(t, ModeOff)
			if tl.states == nil {
				t.Skip("no socket diagnostics here")
			}
			tl.packets = tc.packets
			s := tl.states
			s.addPort(server.Port(), false)
			s.diag = fakeAsker{func(ft tracer.FiveTuple) (kernel.Socket, error) {
				return kernel.Socket{State: kernel.TimeWait, Local: ft.Local, Remote: ft.Remote, Expires: 60 * time.Second}, nil
			}}
			at := time.Now().Add(-2 * time.Millisecond)
			if tc.packets {
				tl.Trace().Add(tracer.Event{Time: at.Add(tc.finAt), Actor: "wire", Phase: tracer.PhasePacket,
					Packet: &tracer.Packet{Proto: "tcp", Src: server, Dst: client, Flags: "FIN ACK"}})
			}
			s.change(kernel.Change{Time: at, Local: client, Remote: server, From: kernel.FinWait2, To: kernel.Close})
			asked := time.Now()
			if _, _, err := tl.Close(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range printed(t, out) {
				switch {
				case e.Phase == tracer.PhasePacket:
					got = append(got, "FIN")
				case e.Phase == tracer.PhaseState:
					c := e.State
					s := c.From.String() + "→" + c.To.String()
					if c.Kept {
						s += " kept"
					}
					if c.Asked {
						s += " asked"
						if e.Time.Before(at) || e.Time.After(asked) {
							t.Errorf("%s at %v, want the time it was asked", s, e.Time.Sub(at))
						}
					} else if !e.Time.Equal(at) {
						t.Errorf("%s at %v, want the kernel's time", s, e.Time.Sub(at))
					}
					if c.CauseFlags != "" {
						s += " ←FIN"
					}
					got = append(got, s)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("printed %q\nwant    %q", got, tc.want)
			}
		})
	}
}

// With the kernel reporting each change, a second listen on a port whose
// changes it already reports is not asked about too: each listen has
// one CLOSE → LISTEN.
func TestStatesListenTwice(t *testing.T) {
	tl, out := jsonTimeline(t, ModeAuto)
	if !tl.states.Live() {
		tl.Close()
		t.Skip("the kernel does not report changes of state here (needs root and tracefs)")
	}
	h := tl.ActorHooks("server")
	ln, err := tracer.Listen(context.Background(), h, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ln, err = tracer.Listen(context.Background(), h, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range changes(printed(t, out)) {
		if c == "server CLOSE→LISTEN" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d changes to LISTEN for two listens, want 2", n)
	}
}

// A connection that ends in its listener's queue, never accepted, after
// the listener closed, is said to be reset for that; one the program
// accepted is not.
func TestTimelineListenerClosedReason(t *testing.T) {
	tl, out := jsonTimeline(t, ModeOff)
	server := netip.MustParseAddrPort("127.0.0.1:6969")
	queued := netip.MustParseAddrPort("127.0.0.1:40000")
	accepted := netip.MustParseAddrPort("127.0.0.1:40001")
	t0 := time.Now()
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	tr := tl.Trace()
	tr.Add(tracer.Event{Time: at(1), Actor: "server", Phase: tracer.PhaseAccept, Proto: "tcp", Local: server, Remote: accepted})
	tr.Add(tracer.Event{Time: at(2), Actor: "server", Phase: tracer.PhaseClose, Proto: "tcp", Local: server})
	for i, client := range []netip.AddrPort{queued, accepted} {
		tr.Add(tracer.Event{Time: at(3 + i), Actor: "kernel", Phase: tracer.PhaseState, Proto: "tcp", Local: server, Remote: client,
			State: &tracer.StateChange{Side: "server", From: kernel.CloseWait, To: kernel.Close}})
	}
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range printed(t, out) {
		if e.Phase != tracer.PhaseState || e.State.Side != "server" || !e.Remote.IsValid() {
			continue
		}
		want := ""
		if e.Remote == queued {
			want = tracer.ReasonListenerClosed
		}
		if e.State.Reason != want {
			t.Errorf("%v: reason %q, want %q", e.Remote, e.State.Reason, want)
		}
		if want != "" && !strings.Contains(e.Note, "accept queue, never accepted") {
			t.Errorf("note: %s", e.Note)
		}
	}
}

// Drain prints what a Flush found while it waited too: the states found
// when the kernel was asked about the sockets the program closed, which
// a lesson must print before it pauses for the next step.
func TestTimelineDrain(t *testing.T) {
	tl, out := jsonTimeline(t, ModeOff)
	if tl.states == nil {
		t.Skip("no socket diagnostics here")
	}
	client, server, _ := connect(t, tl)
	closeBoth(t, client, server)
	if err := tl.Drain(); err != nil {
		t.Fatal(err)
	}
	got := changes(printed(t, out))
	if !slices.Contains(got, "client ESTABLISHED→TIME_WAIT") || !slices.Contains(got, "server CLOSE_WAIT→gone") {
		t.Errorf("after Drain: %q, want the TIME_WAIT and the server's end found when asked", got)
	}
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
}
