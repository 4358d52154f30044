package wire

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
)

// writes counts the writes into a buffer.
type writes struct {
	bytes.Buffer
	n int
}

func (w *writes) Write(p []byte) (int, error) {
	w.n++
	return w.Buffer.Write(p)
}

func (w *writes) WriteString(s string) (int, error) {
	w.n++
	return w.Buffer.WriteString(s)
}

// A flush writes the seed's lines each in its place between the
// events, or, with SayApart, all at once after the events, which go to
// the printer in one batch: the same events and lines in the same
// order either way.
func TestSayApart(t *testing.T) {
	for _, apart := range []bool{false, true} {
		var out, say writes
		tl, _, err := NewTimeline("server", tracer.NewJSON(&out), &say, Config{Mode: ModeOff, SayApart: apart})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			tl.Trace().Note("server", strings.Repeat("a", i+1))
			tl.Say("line %d\n", i)
			tl.Trace().Note("server", strings.Repeat("b", i+1))
		}
		if err := tl.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tl.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := say.String(), "line 0\nline 1\nline 2\n"; got != want {
			t.Errorf("apart %v: the lines %q, want %q", apart, got, want)
		}
		var texts []string
		for _, e := range printed(t, &out.Buffer) {
			texts = append(texts, e.Text)
		}
		if got, want := strings.Join(texts, " "), "a b aa bb aaa bbb"; got != want {
			t.Errorf("apart %v: the events %q, want %q", apart, got, want)
		}
		// In place: a write for each line, and for each run of events
		// between them. Apart: one of each.
		wantSay, wantOut := 3, 4
		if apart {
			wantSay, wantOut = 1, 1
		}
		if say.n != wantSay || out.n != wantOut {
			t.Errorf("apart %v: %d writes of lines, %d of events; want %d and %d", apart, say.n, out.n, wantSay, wantOut)
		}
	}
}

// An event found while a release prints (the change to TIME_WAIT found
// when the kernel was asked) and put back among the held, for a later
// release, is shown again there: in a timeline without history too, it
// keeps the number it was given. (The trace's connection 5 is shown as
// 1; the placed event's, the trace's 3, as 2: shown again without the
// number kept, the 2 would be taken for the trace's own 2, a third.)
func TestPlacedKeepsNumber(t *testing.T) {
	var out bytes.Buffer
	tl, _, err := NewTimeline("lesson", tracer.NewJSON(&out), io.Discard, Config{Mode: ModeOff, History: tracer.NoHistory})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	ready := []tracer.Event{{Seq: 1, Time: t0, Conn: 5, Actor: "server", Phase: tracer.PhaseWrite}}
	tl.show(ready, tl.keep)
	placed := &tracer.Event{Time: t0.Add(2 * time.Second), Conn: 3, Actor: "kernel", Phase: tracer.PhaseNote, Note: "placed"}
	if ready = tl.place(ready, 0, placed, t0.Add(time.Second)); len(ready) != 1 {
		t.Fatalf("placed among the ready (%d events), want it held for later", len(ready))
	}
	tl.release(time.Time{})
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, `"note":"placed"`) {
			found = true
			if !strings.Contains(line, `"conn":2,`) {
				t.Errorf("the placed event printed as %s; want connection 2, as place showed it", line)
			}
		}
	}
	if !found {
		t.Errorf("the placed event was not printed:\n%s", out.String())
	}
}

// A timeline that keeps no history forgets the numbers of the events it
// printed; one that keeps it remembers them, to show them again alike.
func TestForgetsPrinted(t *testing.T) {
	for _, history := range []int{0, tracer.NoHistory} {
		tl, _, err := NewTimeline("lesson", tracer.NewJSON(io.Discard), io.Discard, Config{Mode: ModeOff, History: history})
		if err != nil {
			t.Fatal(err)
		}
		client, server, _ := connect(t, tl)
		closeBoth(t, client, server)
		if err := tl.Flush(); err != nil {
			t.Fatal(err)
		}
		tl.idMu.Lock()
		n := len(tl.numbered)
		tl.idMu.Unlock()
		if _, _, err := tl.Close(); err != nil {
			t.Fatal(err)
		}
		if history == tracer.NoHistory && n != 0 {
			t.Errorf("no history: %d numbers kept after the flush, want none", n)
		}
		if history == 0 && n < 4 {
			t.Errorf("with a history: %d numbers kept after the flush, want one for each event of the connection", n)
		}
	}
}

// countPrinter counts the events printed, and closes done once it has
// printed want.
type countPrinter struct {
	mu      sync.Mutex
	n, want int
	done    chan struct{}
}

func (p *countPrinter) Print(tracer.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n++; p.n == p.want {
		close(p.done)
	}
	return nil
}

// FlushEvery prints as soon as flushBatch events wait, long before its
// tick.
func TestFlushEveryBatch(t *testing.T) {
	p := &countPrinter{want: flushBatch, done: make(chan struct{})}
	tl, _, err := NewTimeline("server", p, io.Discard, Config{Mode: ModeOff, History: tracer.NoHistory})
	if err != nil {
		t.Fatal(err)
	}
	stop := tl.FlushEvery(time.Hour)
	for range flushBatch {
		tl.Trace().Note("server", "an event")
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.mu.Lock()
		t.Errorf("%d events waited, and %d were printed within 10 s of an hour's tick", flushBatch, p.n)
		p.mu.Unlock()
	}
	stop()
	if _, _, err := tl.Close(); err != nil {
		t.Fatal(err)
	}
}

// A generation keeps, for each end, when it closed last, whatever the
// order the closes are shown in.
func TestGenerationClosed(t *testing.T) {
	a, b := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:7000")
	t0 := time.Unix(1000, 0)
	var g generation
	g.close(a, t0.Add(2*time.Second))
	g.close(a, t0.Add(time.Second)) // shown late: not the last
	g.close(b, t0.Add(3*time.Second))
	g.close(b, t0.Add(4*time.Second))
	for _, c := range []struct {
		end  netip.AddrPort
		want time.Time
	}{{a, t0.Add(2 * time.Second)}, {b, t0.Add(4 * time.Second)}} {
		if got, ok := g.closedAt(c.end); !ok || !got.Equal(c.want) {
			t.Errorf("%v closed at %v, %v; want %v", c.end, got, ok, c.want)
		}
	}
	if _, ok := g.closedAt(netip.MustParseAddrPort("127.0.0.1:40001")); ok {
		t.Error("an end that never closed is said to have")
	}
	if len(g.closed) != 2 {
		t.Errorf("%d ends recorded, want 2", len(g.closed))
	}
}

// A connection Accept took is never said to have been reset in its
// closed listener's queue, however many connections a busy program's
// timeline has seen come and go since: what it remembers of a socket
// is let go at the socket's end, not all at once with the rest.
func TestAcceptedRemembered(t *testing.T) {
	tl := serverTimeline(t)
	server := netip.MustParseAddrPort("127.0.0.1:7000")
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	at := time.Unix(1000, 0)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }
	tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhaseAccept, Local: server, Remote: client})
	// Other connections, each a segment received by its server and
	// the server's socket closed: more than the timeline remembers at
	// once, twice over.
	for i := range 2*maxSockets + 2 {
		other := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1 + byte(i>>16), 1}), uint16(i))
		tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhasePacket,
			Packet: &tracer.Packet{Proto: "tcp", Src: other, Dst: server, From: "client", To: "server", Flags: "ACK"}})
		tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhaseState, Local: server, Remote: other,
			State: &tracer.StateChange{Side: "server", From: kernel.LastAck, To: kernel.Close}})
	}
	if n := len(tl.socks.cur) + len(tl.socks.old); n > 1 {
		t.Errorf("%d sockets remembered once the others closed, want 1", n)
	}
	tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhaseClose, Local: server}) // the listener
	e := &tracer.Event{Time: tick(), Phase: tracer.PhaseState, Local: server, Remote: client,
		State: &tracer.StateChange{Side: "server", From: kernel.Established, To: kernel.Close}}
	tl.cause(e)
	if e.State.Reason != "" {
		t.Errorf("an accepted connection that closed after its listener got reason %q", e.State.Reason)
	}
	// Its socket found gone when asked, once what was seen of it was let
	// go at its end; a server's socket gone from TIME_WAIT: not reset in
	// a queue either.
	for _, from := range []kernel.State{kernel.Close, kernel.TimeWait} {
		e := &tracer.Event{Time: tick(), Phase: tracer.PhaseState, Local: server, Remote: client,
			State: &tracer.StateChange{Side: "server", From: from, To: kernel.Gone, Asked: true}}
		tl.cause(e)
		if e.State.Reason != "" {
			t.Errorf("a socket gone from %v after its listener closed got reason %q", from, e.State.Reason)
		}
	}
}

// A socket whose end the kernel never reports is remembered for at least
// maxSockets others, longer when seen again, and let go after two turns
// without: the records stay bounded.
func TestSocketsBounded(t *testing.T) {
	key := func(i int) [2]netip.AddrPort {
		return [2]netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 2 + byte(i>>16), 1}), uint16(i)),
			netip.MustParseAddrPort("127.0.0.1:7000")}
	}
	var ss sockets
	kept, dropped := key(-1), key(-2)
	ss.of(kept).accepted = true
	ss.of(dropped).accepted = true
	n := 0
	for range 3 {
		for range maxSockets {
			ss.of(key(n))
			n++
		}
		if s := ss.find(kept); s == nil || !s.accepted {
			t.Fatalf("after %d others, a socket seen again after each %d was let go", n, maxSockets)
		}
		ss.of(kept)
		if n == maxSockets && ss.find(dropped) == nil {
			t.Fatalf("let go after only %d others", n)
		}
		if got := len(ss.cur) + len(ss.old); got > 2*maxSockets+2 {
			t.Fatalf("%d records after %d sockets, want at most %d", got, n, 2*maxSockets+2)
		}
	}
	if ss.find(dropped) != nil {
		t.Errorf("a socket not seen again for %d others is still remembered", n)
	}
}

// What a timeline keeps of each socket is kept for the program's own
// sockets only, not for the sockets of another program it talks to (a
// load generator's), which no change of state would ever let go.
func TestPeerSocketsNotKept(t *testing.T) {
	tl := serverTimeline(t)
	if tl.states == nil {
		t.Skip("no States here: every socket is kept, none being reported")
	}
	server := netip.MustParseAddrPort("127.0.0.1:7000")
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	tl.states.addPort(server.Port(), true) // the program listens on it
	for _, p := range []*tracer.Packet{
		{Proto: "tcp", Src: client, Dst: server, From: "client", To: "server", Flags: "SYN"},
		{Proto: "tcp", Src: server, Dst: client, From: "server", To: "client", Flags: "SYN ACK"},
	} {
		tl.cause(&tracer.Event{Time: time.Now(), Phase: tracer.PhasePacket, Packet: p})
	}
	if tl.socks.find([2]netip.AddrPort{server, client}) == nil {
		t.Error("nothing kept of the server's socket, which received the SYN")
	}
	if tl.socks.find([2]netip.AddrPort{client, server}) != nil {
		t.Error("the other program's socket is kept")
	}
}

// A connection that ends unaccepted while its program listens on the
// address again, after closing a listener there, is not said to be
// reset in the closed listener's queue.
func TestListeningAgain(t *testing.T) {
	tl := serverTimeline(t)
	server := netip.MustParseAddrPort("127.0.0.1:7000")
	at := time.Unix(1000, 0)
	tick := func() time.Time { at = at.Add(time.Microsecond); return at }
	change := func(client netip.AddrPort) *tracer.Event {
		e := &tracer.Event{Time: tick(), Phase: tracer.PhaseState, Local: server, Remote: client,
			State: &tracer.StateChange{Side: "server", From: kernel.Established, To: kernel.Close}}
		tl.cause(e)
		return e
	}
	tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhaseListen, Local: server})
	tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhaseClose, Local: server})
	if e := change(netip.MustParseAddrPort("127.0.0.1:40000")); e.State.Reason != tracer.ReasonListenerClosed {
		t.Errorf("a connection left in the closed listener's queue: reason %q, want %q", e.State.Reason, tracer.ReasonListenerClosed)
	}
	tl.cause(&tracer.Event{Time: tick(), Phase: tracer.PhaseListen, Local: server})
	if e := change(netip.MustParseAddrPort("127.0.0.1:40001")); e.State.Reason != "" {
		t.Errorf("a connection of the listener open again: reason %q", e.State.Reason)
	}
}

// The trace says how many packets the kernel dropped, when it dropped
// any: a JSON trace has no summary to say it.
func TestDropsNote(t *testing.T) {
	if got := dropsNote(capture.Stats{Packets: 10}); got != "" {
		t.Errorf("no drops: %q, want no note", got)
	}
	if got := dropsNote(capture.Stats{Packets: 10, KernelDrops: 3}); !strings.Contains(got, "dropped 3 packets") {
		t.Errorf("3 drops: %q", got)
	}
}

// serverTimeline is a server's timeline without capture or history,
// closed when the test ends, for tests that feed cause events.
func serverTimeline(t *testing.T) *Timeline {
	t.Helper()
	tl, _, err := NewTimeline("server", tracer.NewJSON(io.Discard), io.Discard, Config{Mode: ModeOff, History: tracer.NoHistory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}
