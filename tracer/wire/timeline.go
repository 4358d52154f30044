package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
)

// PhaseSay marks a program's own lines (the seed's CONNECTED…, DATA…) in
// the trace. They are added as events rather than printed at once, so
// that they take their place in time order among the trace's events,
// packets included. The timeline writes their Text, as is, to its say
// writer; they never reach the trace's printer (nor the JSON output).
const PhaseSay tracer.Phase = "say"

// flushBatch is how many events waiting in the trace make FlushEvery
// print before its time.
const flushBatch = 1024

// syncTimeout bounds each wait for the capture to catch up; it takes
// a few milliseconds.
const syncTimeout = 5 * time.Second

// Timeline prints a program's trace in true time order while packets
// arrive from the capture's goroutine a little after the events that
// caused them.
//
// The trace is not live: events wait in it, and the timeline is its
// only printer. Flush first waits until the capture has handed over
// every packet sent so far (Session.Sync), then prints only the
// events that happened before that wait began, sorted by time, and
// holds the later ones for the next Flush. Anything that happens after
// an event printed has a later time, and every packet sent before it
// is already in: so nothing printed is ever followed by an earlier
// event.
type Timeline struct {
	actor   string         // who says the seed's lines
	printer tracer.Printer // the trace's events
	say     io.Writer      // the seed's lines
	trace   *tracer.Trace
	wire    *Session // nil without capture
	states  *States  // nil where the kernel tells nothing

	printMu sync.Mutex // one Flush or Close at a time
	warned  bool       // the trace has a note that the capture lagged
	err     error      // the first error writing

	mu      sync.Mutex // guards held and spare
	held    []tracer.Event
	spare   []tracer.Event  // an empty buffer for held, after a release
	recycle tracer.Recycler // what keeps spare

	// What release has seen of each socket, to tie each change of
	// state to the segment that caused it (see sockets).
	socks sockets
	// listenerClosed is when each listener closed, by its address, to
	// tell a connection reset in a closed listener's queue.
	listenerClosed map[netip.AddrPort]time.Time
	// On a link: when each segment not yet seen arriving left its
	// end, and which arrived once.
	left map[packetKey][]time.Time
	came map[packetKey]bool
	// packets is set when the trace holds the packets: the capture is on.
	packets bool
	// printed holds the events as they were printed, by Seq, when the
	// trace keeps its events: with the notes and causes the timeline
	// gave them (an arrival's delay, the segment that made a change of
	// state), which Events gives back in place of the trace's own.
	// sayApart is Config.SayApart; sayBuf holds the seed's lines of
	// a release, then.
	sayApart bool
	sayBuf   []byte
	keep     bool
	printed  map[int64]tracer.Event

	// shown maps the trace's connection ids to those the timeline
	// shows: 1, 2, … in the order the connections first appear in time.
	// The trace numbers them in the order their events reach it, and
	// the packets of a connection come a little late: a refused connect
	// would otherwise take the number after the connection that
	// followed it.
	//
	// The trace's ids come from the five-tuple, which a new connection
	// may reuse once the old one is closed (TIME_WAIT taken over, a
	// fixed local port): a SYN with a new initial sequence number, or,
	// after an end of the old connection closed, that end beginning a
	// connection again (SYN_SENT, SYN_RECV, Dial or Accept returning),
	// starts a new connection with a number of its own, as tshark's
	// tcp.stream does.
	// numbered keeps the number each event was given, by Seq, so that
	// showing the events again gives the same numbers.
	idMu      sync.Mutex
	gens      map[int]*generation
	numbered  map[int64]int
	lastShown int
}

// closedEnd is when the end at local closed (see generation.closed).
type closedEnd struct {
	local netip.AddrPort
	at    time.Time
}

// closedAt returns when the end at local closed, and whether it did.
func (g *generation) closedAt(local netip.AddrPort) (time.Time, bool) {
	for _, c := range g.closed {
		if c.local == local {
			return c.at, true
		}
	}
	return time.Time{}, false
}

// close records that the end at local closed at t, unless it was
// recorded closing later.
func (g *generation) close(local netip.AddrPort, t time.Time) {
	for i := range g.closed {
		if c := &g.closed[i]; c.local == local {
			if t.After(c.at) {
				c.at = t
			}
			return
		}
	}
	g.closed = append(g.closed, closedEnd{local, t})
}

// generation is the connection a trace id stands for now.
type generation struct {
	n      int    // the number the timeline shows
	isn    uint32 // the client's initial sequence number, when hasISN
	hasISN bool   // a SYN of this connection was seen
	// closed is when each end of it, by its local address, closed:
	// its program closed it, or its socket went to CLOSE or TIME_WAIT.
	// A connection has two ends: a map for them would take a few
	// hundred bytes for each of the many connections a server keeps.
	closed []closedEnd
	// start is when its first event happened, prev the connection the
	// id stood for before: an event that happened before start, shown
	// late (a state found when the kernel was asked), is prev's.
	start time.Time
	prev  *generation
}

// segment is what a change of state keeps of the segment that caused it.
type segment struct {
	seq     int64
	time    time.Time
	elapsed time.Duration
	flags   string
}

// NewTimeline starts the trace of actor, printed by printer with the
// seed's lines written to say, with the capture cfg asks for and the
// kernel's view of the sockets: TCP_INFO at each event of a connection
// and each change of a socket's state (see [States]), as the kernel
// reports it unless cfg.Mode is ModeOff. skipped holds
// the lines to print saying what is missing and why: Start's line
// saying why there is no capture, StartStates' saying why the states
// are only asked for.
func NewTimeline(actor string, printer tracer.Printer, say io.Writer, cfg Config) (tl *Timeline, skipped []string, err error) {
	tl = &Timeline{actor: actor, printer: printer, say: say,
		listenerClosed: map[netip.AddrPort]time.Time{}, keep: cfg.History != tracer.NoHistory, printed: map[int64]tracer.Event{},
		sayApart: cfg.SayApart}
	tl.trace = tracer.New(tracer.Options{Printers: []tracer.Printer{tl}, History: cfg.History, TCPInfo: true})
	var noCapture, noStates string
	tl.wire, noCapture, err = Start(tl.trace, cfg)
	if err != nil {
		return nil, nil, err
	}
	tl.packets = tl.wire != nil
	// Capture off means: nothing watched from outside the program; the
	// states are then asked for.
	tl.states, noStates = StartStates(tl.trace, cfg.Mode != ModeOff)
	if len(cfg.Ends) > 0 {
		if err := tl.states.askAt(cfg.Ends); err != nil {
			tl.states.Close()
			if _, _, cerr := tl.wire.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			return nil, nil, err
		}
	}
	if noCapture != "" {
		// Its line says "sudo", which the states need too.
		skipped = append(skipped, noCapture)
	} else if noStates != "" {
		skipped = append(skipped, noStates)
	}
	return tl, skipped, nil
}

// Hooks returns hooks that add the events of the timeline's actor to
// the trace and capture every port it listens on or connects to, from
// before the first packet.
func (tl *Timeline) Hooks() *tracer.Hooks { return tl.ActorHooks(tl.actor) }

// ActorHooks is Hooks for the events of another actor ("client",
// "server", …): a lesson plays both.
func (tl *Timeline) ActorHooks(actor string) *tracer.Hooks {
	return tl.states.Hooks(tl.wire.Hooks(tl.trace.Hooks(actor)))
}

// Say adds one of the seed's lines to the trace, to print in its place.
func (tl *Timeline) Say(format string, args ...any) {
	tl.trace.Record(&tracer.Event{Actor: tl.actor, Phase: PhaseSay, Text: fmt.Sprintf(format, args...)})
}

// Print is the trace's printer: it holds e until Flush releases it.
func (tl *Timeline) Print(e tracer.Event) error { return tl.PrintBatch([]tracer.Event{e}) }

// PrintBatch holds events until Flush releases them, as the trace
// recorded them: the printer builds their notes.
func (tl *Timeline) PrintBatch(events []tracer.Event) error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.held = append(tl.held, events...)
	return nil
}

// Flush prints, in time order, every event that happened before the
// capture caught up, and returns the first error writing. When no
// event waits it returns at once, without asking the capture.
func (tl *Timeline) Flush() error {
	tl.printMu.Lock()
	defer tl.printMu.Unlock()
	// NOTE: ignoring the error; Print never fails.
	_ = tl.trace.Flush()
	tl.mu.Lock()
	idle := len(tl.held) == 0
	tl.mu.Unlock()
	if idle {
		// A packet still on its way is added later and printed by a
		// later Flush; nothing printed now could come after it.
		return tl.err
	}
	before := time.Now()
	// The events of hooks still reading TCP_INFO may be older than
	// before: wait for them.
	tl.trace.Settle()
	tl.sync()
	_ = tl.trace.Flush()
	tl.release(before)
	return tl.err
}

// FlushEvery prints the trace every d, as a program that runs for long
// does (the server), from a goroutine of its own, until the function it
// returns is called; that function waits for the goroutine. It prints
// sooner whenever flushBatch events wait: a busy server's batches then
// stay small enough for the processor's caches (at 100 ms, a server
// capturing 5,000 connections a second would sort and copy batches of
// 10,000 events, 4.5 MB). A Flush's error is left for Close to return.
func (tl *Timeline) FlushEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	full := tl.trace.NotifyPending(flushBatch)
	var printing sync.WaitGroup
	printing.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			case <-full:
			}
			// NOTE: ignoring the error; Close returns it.
			_ = tl.Flush()
		}
	})
	return func() {
		close(done)
		printing.Wait()
	}
}

// Drain is Flush, done until the events that Flush found while it
// waited (the changes of state found when the kernel was asked) are
// printed too: before a program waits for a person, as a lesson does at
// each step, so that nothing of the step before prints after the wait.
func (tl *Timeline) Drain() error {
	// A Flush holds back what happened while it waited; the next one
	// prints it. Three at most, should the program still be busy.
	for range 3 {
		if err := tl.Flush(); err != nil {
			return err
		}
		tl.mu.Lock()
		held := len(tl.held)
		tl.mu.Unlock()
		if held == 0 {
			break
		}
	}
	return tl.err
}

// Close waits for the capture to catch up and stops it, which leaves
// the pcap file complete (for the caller to commit: see [Files]), then
// prints every event left. It
// returns the number of packets in the trace, the kernel's counts, and
// the capture's error or else the first error writing.
func (tl *Timeline) Close() (packets int, stats capture.Stats, err error) {
	tl.printMu.Lock()
	defer tl.printMu.Unlock()
	tl.sync()
	tl.states.Close()
	stats, packets, err = tl.wire.Close()
	if note := dropsNote(stats); note != "" {
		// The summary says so too, but a JSON trace has none.
		tl.trace.Note("wire", note)
	}
	_ = tl.trace.Flush()
	tl.release(time.Time{})
	if err == nil && tl.err != nil {
		err = fmt.Errorf("writing the trace: %w", tl.err)
	}
	return packets, stats, err
}

// dropsNote is the trace's note on the packets the kernel dropped
// because the capture fell behind, "" when it dropped none.
func dropsNote(stats capture.Stats) string {
	if stats.KernelDrops == 0 {
		return ""
	}
	return fmt.Sprintf("The kernel dropped %d packets before the capture could read them (it fell behind, and its ring was full): the trace and the pcap file lack them, and the notes on the packets around them do not know of them.", stats.KernelDrops)
}

// sync waits until the kernel's changes of state so far and the
// capture's packets sent so far are in the trace. If the capture cannot
// catch up, the trace says so, once.
//
// The states come first: a change caused by a segment happens after
// the segment arrived, so every segment that caused one of them is then
// sent before the capture is asked to catch up.
func (tl *Timeline) sync() {
	tl.states.Sync()
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	if err := tl.wire.Sync(ctx); err != nil && !tl.warned {
		tl.warned = true
		tl.trace.Note("wire", "The capture could not catch up ("+err.Error()+"): from here on a packet may print after the events it caused.")
	}
}

// release prints the held events that happened before the time given
// (all of them for the zero time), in time order.
func (tl *Timeline) release(before time.Time) {
	tl.mu.Lock()
	tl.held = tracer.Unsent(tl.held)
	tracer.SortEvents(tl.held)
	n := len(tl.held)
	if !before.IsZero() {
		n = sort.Search(n, func(i int) bool { return !tl.held[i].Time.Before(before) })
	}
	var ready []tracer.Event
	if n == len(tl.held) {
		// All of them: print this buffer, and hold the next events in
		// the spare one.
		ready, tl.held, tl.spare = tl.held, tl.spare, nil
	} else {
		// Those before: into the spare buffer, kept from the last
		// release (no allocation once it is big enough).
		ready = append(tl.spare[:0], tl.held[:n]...)
		tl.spare = nil
		tl.held = slices.Delete(tl.held, 0, n)
	}
	tl.mu.Unlock()
	defer func() {
		tl.mu.Lock()
		if tl.spare == nil {
			tl.spare = tl.recycle.Reuse(ready)
		}
		tl.mu.Unlock()
	}()
	// Without a history, an event is shown once (those placed back
	// among the held excepted, which place records), printed, and
	// forgotten: its number is not kept.
	tl.show(ready, tl.keep)
	tl.arrivals(ready)
	for i := 0; i < len(ready); i++ {
		if e := tl.cause(&ready[i]); e != nil {
			// The TIME_WAIT found when asked, after a FIN_WAIT_2
			// the packets showed: in its place, now or at a later
			// release.
			ready = tl.place(ready, i, e, before)
		}
	}
	if tl.keep {
		tl.mu.Lock()
		for _, e := range ready {
			if e.Phase != PhaseSay {
				tl.printed[e.Seq] = e
			}
		}
		tl.mu.Unlock()
	} else {
		tl.forget(ready)
	}
	if tl.sayApart {
		// The events in one batch, the seed's lines after them in one
		// write: ready's events that are not lines move up in place.
		kept := 0
		for i := range ready {
			if ready[i].Phase == PhaseSay {
				tl.sayBuf = append(tl.sayBuf, ready[i].Text...)
				continue
			}
			if kept != i {
				ready[kept] = ready[i]
			}
			kept++
		}
		if kept > 0 {
			tl.fail(tracer.PrintBatch(tl.printer, ready[:kept]))
		}
		if len(tl.sayBuf) > 0 {
			_, err := tl.say.Write(tl.sayBuf)
			tl.fail(err)
			tl.sayBuf = tl.sayBuf[:0]
		}
		return
	}
	// The trace's events go to the printer in runs, each with one
	// call; the seed's lines, to say, in their places between them.
	run := 0
	for i := 0; i <= len(ready); i++ {
		if i < len(ready) && ready[i].Phase != PhaseSay {
			continue
		}
		if run < i {
			tl.fail(tracer.PrintBatch(tl.printer, ready[run:i]))
		}
		if i < len(ready) {
			_, err := io.WriteString(tl.say, ready[i].Text)
			tl.fail(err)
		}
		run = i + 1
	}
}

// fail keeps the first error writing.
func (tl *Timeline) fail(err error) {
	if err != nil && tl.err == nil {
		tl.err = err
	}
}

// WriteMermaid writes the ladders of every connection to w (a
// tracer/outfile.File for -mermaid), as one Mermaid sequence diagram:
// the packets and the calls, or the calls alone without capture.
func (tl *Timeline) WriteMermaid(w io.Writer) error {
	events := tl.Events()
	var b strings.Builder
	if err := Mermaid(&b, events, Conns(events, false)); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary writes how many packets the trace showed and where they were
// saved; nothing without capture.
func (tl *Timeline) Summary(w io.Writer, packets int, stats capture.Stats, pcap string) {
	if tl.wire == nil {
		return
	}
	where := "on lo"
	if ends := tl.wire.Ends(); len(ends) == 2 {
		where = fmt.Sprintf("at the link's two ends, the %s's %s and the %s's %s", ends[0].Name, ends[0].Interface, ends[1].Name, ends[1].Interface)
	}
	fmt.Fprintf(w, "\nCaptured %d packets %s (the kernel counted %d, dropped %d).\n",
		packets, where, stats.Packets-stats.Markers, stats.KernelDrops)
	if pcap != "" {
		fmt.Fprintf(w, "Saved to %s: tshark -r %s\n", pcap, pcap)
		if len(tl.wire.Ends()) == 2 {
			fmt.Fprintf(w, "It has one interface for each end: tshark -r %s -Y 'frame.interface_name == \"client\"' -w client.pcapng keeps the client's, for tshark's analysis (docs/link.md).\n", pcap)
		}
	}
}

// Trace returns the timeline's trace. Its events number connections as
// they reached it; [Timeline.Events] numbers them as the timeline shows
// them.
func (tl *Timeline) Trace() *tracer.Trace { return tl.trace }

// Events returns the trace's events, in time order, with the connection
// ids the timeline shows, and those printed already as they were
// printed: with the notes and causes the timeline gave them (what the
// terminal and the JSON showed), which the trace's own lack.
func (tl *Timeline) Events() []tracer.Event {
	evs := tl.trace.Events()
	tl.mu.Lock()
	for i := range evs {
		if e, ok := tl.printed[evs[i].Seq]; ok {
			evs[i] = e.Resolved()
		}
	}
	tl.mu.Unlock()
	tl.show(evs, true)
	return evs
}

// show gives the events, in time order, the connection ids the timeline
// shows, numbering the connections it has not shown yet. With record,
// it keeps the number it gave each event, for the event shown again
// (Events, with a history; an event placed back among those held).
func (tl *Timeline) show(evs []tracer.Event, record bool) {
	tl.idMu.Lock()
	defer tl.idMu.Unlock()
	if tl.gens == nil {
		tl.gens, tl.numbered = map[int]*generation{}, map[int64]int{}
	}
	if len(tl.gens) > maxShown {
		// A long-running program: forget the connections numbered
		// longest ago (ids grow with time).
		for id, g := range tl.gens {
			if g.n < tl.lastShown-maxShown/2 {
				delete(tl.gens, id)
			}
		}
	}
	if len(tl.numbered) > maxNumbered {
		var last int64
		for seq := range tl.numbered {
			last = max(last, seq)
		}
		for seq := range tl.numbered {
			if seq < last-maxNumbered/2 {
				delete(tl.numbered, seq)
			}
		}
	}
	for i := range evs {
		e := &evs[i]
		if e.Conn == 0 {
			continue
		}
		if n, ok := tl.numbered[e.Seq]; ok && e.Seq != 0 {
			e.Conn = n
			continue
		}
		g := tl.gens[e.Conn]
		switch {
		case g == nil || g.startsAnew(e):
			tl.lastShown++
			g = &generation{n: tl.lastShown, start: e.Time, prev: g}
			tl.gens[e.Conn] = g
			if g.prev != nil {
				g.prev.prev = nil // one is enough
			}
		case g.prev != nil && e.Time.Before(g.start):
			g = g.prev
		}
		switch {
		case isSYN(e) && !g.hasISN:
			g.isn, g.hasISN = e.Packet.RawSeq, true
		case closes(e):
			g.close(e.Local, e.Time)
		}
		if record && e.Seq != 0 {
			tl.numbered[e.Seq] = g.n
		}
		e.Conn = g.n
	}
}

// isSYN reports whether e is a TCP segment with SYN and without ACK:
// a connection's first.
func isSYN(e *tracer.Event) bool {
	p := e.Packet
	return p != nil && p.Proto == "tcp" && strings.HasPrefix(p.Flags, "SYN") && !strings.Contains(p.Flags, "ACK")
}

// closes reports whether e ends an end of its connection: the program
// closed the socket, or the kernel moved it to CLOSE or TIME_WAIT.
func closes(e *tracer.Event) bool {
	if e.State != nil {
		return e.State.To == kernel.Close || e.State.To == kernel.TimeWait
	}
	return e.Phase == tracer.PhaseClose && e.Remote.IsValid()
}

// begins reports whether e is an end of a connection beginning it:
// going to SYN_SENT or SYN_RECV, or to ESTABLISHED from SYN_SENT, or
// Dial or Accept returning.
func begins(e *tracer.Event) bool {
	if e.State != nil {
		return e.State.To == kernel.SynSent || e.State.To == kernel.SynRecv ||
			e.State.From == kernel.SynSent && e.State.To == kernel.Established
	}
	return e.Phase == tracer.PhaseConnectDone || e.Phase == tracer.PhaseAccept
}

// startsAnew reports whether e, an event of g's five-tuple, belongs to a
// new connection: a SYN with another initial sequence number than g's,
// or an end of g that had closed beginning a connection again. (An end
// closed by its peer is not enough: a Dial's or an Accept's hook may run
// after the other end closed the same connection.)
func (g *generation) startsAnew(e *tracer.Event) bool {
	switch {
	case isSYN(e):
		return g.hasISN && e.Packet.RawSeq != g.isn
	case begins(e):
		t, ok := g.closedAt(e.Local)
		return ok && e.Time.After(t) && !e.Time.Before(g.start)
	}
	return false
}

// arrivals says of each segment seen arriving at a link's end how long
// after it left the other end it came, in place of the note its
// leaving has: evs are in time order, so a segment's leaving comes
// first. A segment sent again has the same numbers as its first copy:
// the copy that arrived is taken to be the last that left (see
// lostCopies).
func (tl *Timeline) arrivals(evs []tracer.Event) {
	for i := range evs {
		e := &evs[i]
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.At == "" || p.Proto != "tcp" {
			continue
		}
		if tl.left == nil || len(tl.left) > maxWatched {
			tl.left, tl.came = map[packetKey][]time.Time{}, map[packetKey]bool{}
		}
		k := segKeyOf(p)
		if p.At == p.From {
			tl.left[k] = append(tl.left[k], e.Time)
			continue
		}
		ts := tl.left[k]
		switch {
		case len(ts) > 0:
			// The copy that left last: an earlier one still
			// unmatched was lost on the way.
			e.Note = fmt.Sprintf("It reaches the %s %s after it left the %s.", p.To, tracer.FormatDuration(e.Time.Sub(ts[len(ts)-1])), p.From)
			delete(tl.left, k)
			tl.came[k] = true
		case tl.came[k]:
			e.Note = fmt.Sprintf("It reaches the %s again: the link delivered one segment twice.", p.To)
		}
	}
}

// forget lets go of the numbers of events printed, in a timeline that
// keeps no history: nothing shows them again (Events has none). Only
// the events place put back among the held have one (release records
// no others): a server's numbers would otherwise grow the map to
// maxNumbered, whose lookups missed the CPU's caches (3 % of a
// capturing server's CPU in a profile), and writing and deleting one
// for each event cost 2 % more.
func (tl *Timeline) forget(printed []tracer.Event) {
	tl.idMu.Lock()
	defer tl.idMu.Unlock()
	for i := range printed {
		delete(tl.numbered, printed[i].Seq)
	}
}

// maxShown bounds the connections whose shown ids the timeline keeps.
const maxShown = 1 << 16

// maxNumbered bounds the events whose shown ids the timeline keeps.
const maxNumbered = 1 << 20

// Session returns the timeline's capture, nil without one.
func (tl *Timeline) Session() *Session { return tl.wire }

// cause ties a change of state to the segment that caused it, when the
// change is one a received segment makes and that segment is the last
// the socket received since its previous change: a FIN for CLOSE_WAIT,
// the ACK of this side's FIN for FIN_WAIT_2, a RST for a reset. It sees
// the events in time order. A change to TIME_WAIT that the kernel made
// when the program let go of a socket in FIN_WAIT_2, before the peer's
// FIN came, becomes FIN_WAIT_2 kept by the kernel, and cause returns
// the change to TIME_WAIT found later, to print in its place.
func (tl *Timeline) cause(e *tracer.Event) (later *tracer.Event) {
	switch {
	case e.Phase == tracer.PhasePacket && e.Packet != nil && e.Packet.Proto == "tcp" && (e.Packet.At == "" || e.Packet.At == e.Packet.To):
		// Received: on a link, as its receiver's end saw it. Kept for
		// the sockets whose changes of state States reports (not a
		// client's of another program, which would never be let go),
		// or for any without States.
		if tl.states != nil && !tl.states.follows(e.Packet.Dst, e.Packet.Src) {
			break
		}
		s := tl.socks.of([2]netip.AddrPort{e.Packet.Dst, e.Packet.Src})
		s.lastIn, s.hasIn = segment{e.Seq, e.Time, e.Elapsed, e.Packet.Flags}, true
		if strings.Contains(e.Packet.Flags, "FIN") {
			s.finIn = true
		}
	case e.Phase == tracer.PhaseClose && !e.Remote.IsValid() && e.Local.IsValid():
		if len(tl.listenerClosed) > maxWatched {
			clear(tl.listenerClosed) // a program that opens listeners without end
		}
		tl.listenerClosed[e.Local] = e.Time
	case e.Phase == tracer.PhaseListen && e.Local.IsValid():
		// Listening there again: its connections are in a queue that
		// is open.
		delete(tl.listenerClosed, e.Local)
	case e.Phase == tracer.PhaseAccept && e.Remote.IsValid():
		tl.socks.of([2]netip.AddrPort{e.Local, e.Remote}).accepted = true
	case e.Phase == tracer.PhaseState && e.State != nil:
		k := [2]netip.AddrPort{e.Local, e.Remote}
		s := tl.socks.find(k)
		if s == nil {
			s = new(socketSeen) // not kept: a change that ends it
			if !ends(e.State.To) {
				s = tl.socks.of(k)
			}
		}
		p := s.lastIn
		fresh := s.hasIn && p.time.After(s.lastChange) && !p.time.After(e.Time)
		if e.State.To == kernel.TimeWait && !e.State.Asked {
			later = tl.states.handedOver(e, tl.packets, s.finIn)
		}
		// Found when asked, a change is tied to a segment only where
		// only a received segment makes it: the peer's FIN, from
		// FIN_WAIT_2 to TIME_WAIT; the ACK of this side's FIN, or a
		// RST, from LAST_ACK.
		asked := e.State.Asked && !(e.State.From == kernel.FinWait2 && e.State.To == kernel.TimeWait) &&
			!(e.State.From == kernel.LastAck && (e.State.To == kernel.Gone || e.State.To == kernel.Close))
		if fresh && !asked && causedBy(e.State, p.flags) {
			// A copy: the trace's own event may be read meanwhile.
			c := *e.State
			c.Cause, c.CauseFlags, c.CauseElapsed = p.seq, p.flags, p.elapsed
			e.State = &c
		}
		if closed, ok := tl.listenerClosed[e.Local]; ok && e.State.Side == "server" && !s.accepted && queued(e.State.From) &&
			(e.State.To == kernel.Close || e.State.To == kernel.Gone) && !closed.After(e.Time) && !strings.Contains(e.State.CauseFlags, "RST") {
			// Never accepted, ended after its listener closed: the
			// kernel reset it, as it does every connection left in
			// a listener's queue when the listener closes.
			c := *e.State
			c.Reason = tracer.ReasonListenerClosed
			e.State = &c
		}
		s.lastChange = e.Time
		if ends(e.State.To) { // (handedOver may have made it FIN_WAIT_2)
			// No later change of it is tied to a segment, nor to its
			// listener's close.
			tl.socks.forget(k)
		}
	}
	return later
}

// ends reports whether a change to state is a socket's end: CLOSE, or
// TIME_WAIT (the kernel's timewait socket takes over), or found gone.
func ends(state kernel.State) bool {
	return state == kernel.Close || state == kernel.Gone || state == kernel.TimeWait
}

// queued reports whether a connection in state may be waiting in its
// listener's queue, not yet accepted.
func queued(state kernel.State) bool {
	return state == kernel.SynRecv || state == kernel.Established || state == kernel.CloseWait
}

// sockets is what a timeline has seen of each socket, by its (local,
// remote) addresses, until the socket's end (its change to CLOSE or
// TIME_WAIT, or found gone). Where the kernel reports no end (a socket
// asked about past maxWatched), its records would grow without end: once
// the current map holds maxSockets it becomes the old one, whose
// sockets are let go at the next turn unless seen again, so that a
// socket is remembered for at least maxSockets others, never dropped
// all at once with the rest.
type sockets struct {
	cur, old map[[2]netip.AddrPort]*socketSeen
}

// maxSockets bounds the sockets a timeline remembers, in each of its
// two maps.
const maxSockets = 1 << 14

// socketSeen is what release has seen of one socket.
type socketSeen struct {
	lastIn     segment   // the last TCP segment it received, if hasIn
	hasIn      bool      // it received one
	lastChange time.Time // its last change of state
	finIn      bool      // it received its peer's FIN
	accepted   bool      // Accept took it
}

// find returns what was seen of the socket k, nil if nothing.
func (ss *sockets) find(k [2]netip.AddrPort) *socketSeen {
	if s, ok := ss.cur[k]; ok {
		return s
	}
	return ss.old[k]
}

// of returns what was seen of the socket k, a new record if nothing,
// kept among the current.
func (ss *sockets) of(k [2]netip.AddrPort) *socketSeen {
	if s, ok := ss.cur[k]; ok {
		return s
	}
	s, ok := ss.old[k]
	if !ok {
		s = new(socketSeen)
	}
	if ss.cur == nil || len(ss.cur) >= maxSockets {
		ss.old, ss.cur = ss.cur, make(map[[2]netip.AddrPort]*socketSeen)
	}
	ss.cur[k] = s
	return s
}

// forget lets go of what was seen of the socket k.
func (ss *sockets) forget(k [2]netip.AddrPort) {
	delete(ss.cur, k)
	delete(ss.old, k)
}

// place puts e, a change cause returned for ready[i], in its place
// among the events ready to print after i, or back among those held for
// a later release when it comes at or after before.
func (tl *Timeline) place(ready []tracer.Event, i int, e *tracer.Event, before time.Time) []tracer.Event {
	tl.trace.Insert(e)
	one := []tracer.Event{*e}
	// Recorded: it may be held, and shown again at a later release.
	tl.show(one, true)
	e.Conn = one[0].Conn
	if !before.IsZero() && !e.Time.Before(before) {
		tl.mu.Lock()
		tl.held = append(tl.held, *e)
		tl.mu.Unlock()
		return ready
	}
	j := i + 1 + sort.Search(len(ready)-i-1, func(n int) bool { return ready[i+1+n].Time.After(e.Time) })
	return slices.Insert(ready, j, *e)
}

// causedBy reports whether a segment with these flags is what makes the
// kernel change state c's way when it arrives.
func causedBy(c *tracer.StateChange, flags string) bool {
	has := func(f string) bool { return slices.Contains(strings.Fields(flags), f) }
	switch from, to := c.From, c.To; {
	case from == kernel.SynSent && to == kernel.Established:
		return has("SYN") && has("ACK")
	case to == kernel.SynRecv, from == kernel.SynRecv && to == kernel.Established:
		return has("ACK") && !has("SYN")
	case to == kernel.CloseWait, to == kernel.Closing, from == kernel.FinWait2 && to == kernel.TimeWait:
		return has("FIN")
	case from == kernel.FinWait1 && to == kernel.TimeWait:
		return has("FIN") && has("ACK")
	case from == kernel.LastAck && (to == kernel.Close || to == kernel.Gone):
		return has("ACK") || has("RST")
	case from == kernel.FinWait1 && to == kernel.FinWait2, from == kernel.Closing && to == kernel.TimeWait:
		return has("ACK")
	case to == kernel.Close || to == kernel.Gone:
		return has("RST")
	}
	return false
}
