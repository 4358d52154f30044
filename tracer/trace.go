package tracer

import (
	"cmp"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"tcptour/tracer/kernel"
)

// Printer writes events somewhere: [NewPretty] for people, [NewJSON] for
// programs.
type Printer interface {
	Print(Event) error
}

// BatchPrinter is a Printer that can print many events at once: a
// [Trace] hands it each flush's events in one call, so that it can write
// them with one Write. The events are as the trace recorded them: their
// default notes and data previews may not be built yet
// ([Event.Resolved] builds them).
// NewJSON and NewPretty return BatchPrinters.
type BatchPrinter interface {
	Printer
	// PrintBatch prints events in order. It must not keep the slice.
	PrintBatch(events []Event) error
}

// PrintBatch hands events to p: in one call when p is a [BatchPrinter],
// else one by one, each with its note built.
func PrintBatch(p Printer, events []Event) error {
	if bp, ok := p.(BatchPrinter); ok {
		return bp.PrintBatch(events)
	}
	var first error
	for i := range events {
		if err := p.Print(events[i].Resolved()); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Trace records events from any number of actors, gives each TCP
// connection an id from its five-tuple, fills in a plain-language note
// for each event that lacks one, and prints the events in time order.
//
// Events wait in the trace until [Trace.Flush] sorts them by time and
// hands them to the printers, so that events from other sources that
// arrive late (packets read from a capture) still print in true time
// order. A trace made with Live set flushes after every event instead.
//
// By default a trace also keeps every event, for [Trace.Events]; see
// [Options.History] for programs that run for long.
//
// A Trace is safe for concurrent use.
type Trace struct {
	mu       sync.Mutex
	start    time.Time
	live     bool
	printers []Printer
	seq      int64
	steps    []time.Time // when each step started: steps[0] is step 1
	nextID   int
	ids      map[connKey]int
	pending  []Event
	spare    []Event    // an empty buffer for pending, after a flush
	recycle  Recycler   // what keeps spare
	scratch  connIDs    // file's answer for an event of no wrapped connection
	printMu  sync.Mutex // one Flush at a time; taken before mu
	all      []Event    // the history: every event, or the latest history of them
	history  int        // 0: keep all events; n > 0: the latest n; < 0: none
	allNext  int        // where the next event goes in a full, bounded history
	tcpInfo  bool       // the hooks read TCP_INFO (Options.TCPInfo)
	// full receives a value when pending reaches fullAt events (see
	// NotifyPending); nil for none.
	full   chan struct{}
	fullAt int
	// busy is read-locked by each connection hook while it runs:
	// Settle waits for them.
	busy sync.RWMutex
	err  error

	// With a bounded history the trace also forgets the ids of closed
	// connections, or ids would grow without bound as well: open counts
	// the ends of each connection open in the trace, and the ids of
	// connections whose ends have all closed move to closed[0]; when that
	// holds forgetAfter ids it becomes closed[1], whose ids are
	// forgotten. So a packet that follows the last Close (the FIN, the
	// final ACK) still finds its connection's id.
	open   map[int]int
	closed [2]map[connKey]int
}

// NoHistory is the [Options.History] of a trace that keeps no events for
// [Trace.Events].
const NoHistory = -1

// forgetAfter is how many closed connections a trace with a bounded
// history remembers the ids of, at least.
const forgetAfter = 4096

// Options configure a [Trace].
type Options struct {
	// Printers receive the events when they are flushed.
	Printers []Printer
	// Live flushes after every event: for long-running programs whose
	// events should show at once.
	Live bool
	// History is how many events the trace keeps for [Trace.Events]:
	// 0 (the default) keeps every event, as a lesson needs for its
	// ladders; n > 0 keeps the latest n; [NoHistory] keeps none. A
	// program that runs for long and does not need Events should set
	// NoHistory, or the trace grows with every event. With a bounded
	// history (n > 0 or NoHistory) the trace also forgets the id of a
	// connection some time after all its ends have closed (after at
	// least 4096 other connections have closed), so that it stays small;
	// a later connection with the same five-tuple then gets a new id.
	History int
	// TCPInfo makes the hooks of [Trace.Hooks] read the kernel's
	// TCP_INFO through the connection's socket at each of its events
	// and keep it in the event's TCP field: the state, the round-trip
	// time, the congestion window, the segments in flight and
	// retransmitted, the bytes acknowledged and received. It costs one
	// getsockopt system call per event. Where the kernel gives no
	// TCP_INFO (systems other than Linux) the field stays nil.
	TCPInfo bool
}

// New starts a trace; its clock starts now.
func New(opts Options) *Trace { return NewAt(time.Now(), opts) }

// NewAt starts a trace whose clock started at start: for events read
// from a file, the time of the first one.
func NewAt(start time.Time, opts Options) *Trace {
	t := &Trace{
		start:    start,
		live:     opts.Live,
		printers: slices.Clone(opts.Printers),
		ids:      make(map[connKey]int),
		history:  max(opts.History, NoHistory),
		tcpInfo:  opts.TCPInfo,
	}
	if t.history != 0 {
		t.open = make(map[int]int)
		t.closed = [2]map[connKey]int{make(map[connKey]int), make(map[connKey]int)}
	}
	return t
}

// Start returns the time the trace started.
func (t *Trace) Start() time.Time { return t.start }

// Add records e. It sets Seq, Step (for a PhaseStep event, the next
// step number), Elapsed, Time (when zero), the
// connection id (when e has a five-tuple and no id) and the note (when
// empty), and returns the event as recorded.
func (t *Trace) Add(e Event) Event {
	t.add(&e)
	return e.Resolved()
}

// Record adds *e to the trace as Add does, and sets in *e what Add sets,
// except the note, which is built when the event is printed or read.
// It spares the copies of an Event that Add makes, for a program that
// records many events and keeps none.
func (t *Trace) Record(e *Event) { t.add(e) }

// ConnRef remembers a trace's id for the events of one connection, so
// that [Trace.RecordFor] finds it once rather than by the event's
// five-tuple each time. The zero ConnRef is ready; it is for one
// connection, and must not be copied once used.
type ConnRef struct{ ids atomic.Pointer[connIDs] }

// cached returns what a trace remembers through r, nil for none (or a
// nil r).
func (r *ConnRef) cached() *connIDs {
	if r == nil {
		return nil
	}
	return r.ids.Load()
}

// RecordFor is Record for an event of the connection r stands for:
// a packet of a connection the caller follows (the annotator).
func (t *Trace) RecordFor(e *Event, r *ConnRef) { t.addFrom(e, r) }

// Insert records *e as Record does, but leaves it to the caller to
// print: it is numbered, given its step, elapsed time and connection id,
// and kept for [Trace.Events], but no printer of the trace receives it.
// It is for a printer that learns of an event while it prints, and
// prints it in its place itself.
func (t *Trace) Insert(e *Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.pending)
	t.addLocked(e, nil)
	t.pending = t.pending[:n]
}

// add is Add on the event in place (an Event is large: the hooks build
// theirs on the stack and hand it over without a copy).
func (t *Trace) add(e *Event) { t.addFrom(e, nil) }

// addFrom is add for an event of the connection r stands for, nil for
// none.
func (t *Trace) addFrom(e *Event, r *ConnRef) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	t.mu.Lock()
	t.addLocked(e, r)
	t.mu.Unlock()
	if t.live {
		// NOTE: ignoring the error; Flush returns it later.
		_ = t.Flush()
	}
}

// addLocked records e, an event of the connection r stands for (nil for
// none); t.mu is held.
func (t *Trace) addLocked(e *Event, r *ConnRef) {
	t.seq++
	e.Seq = t.seq
	if e.Phase == PhaseStep || len(t.steps) > 0 {
		t.stepOf(e)
	}
	e.Elapsed = e.Time.Sub(t.start)
	var ids *connIDs
	if e.Conn == 0 && e.Local.IsValid() && e.Remote.IsValid() {
		// The wrapper, or the annotator, remembers the id: no lookup,
		// but the first time.
		if ids = r.cached(); ids == nil || ids.t != t {
			ids = t.file(e, r)
		}
		e.Conn = ids.id
	}
	if e.Note == "" && e.lazy == 0 {
		e.lazy = noteDefault // built when printed or read
	}
	if t.open != nil && ids != nil {
		t.track(e, ids)
	}
	t.pending = push(t.pending, e)
	if len(t.pending) == t.fullAt && t.full != nil {
		select {
		case t.full <- struct{}{}:
		default: // one wakes the flusher
		}
	}
	switch {
	case t.history == 0 || len(t.all) < t.history:
		t.all = push(t.all, e)
	case t.history > 0:
		// Full: overwrite the oldest. Events sorts by time anyway.
		t.all[t.allNext] = *e
		t.allNext = (t.allNext + 1) % t.history
	}
}

// The functions addLocked calls for what is not on every event's way,
// apart, so that its frame stays small: each hook's goroutine (one per
// connection in a server) grows its stack to the deepest call it makes.

// stepOf numbers a step, or gives e the step it happened in. t.mu is
// held.
//
//go:noinline
func (t *Trace) stepOf(e *Event) {
	if e.Phase == PhaseStep {
		t.steps = append(t.steps, e.Time)
		e.Step = len(t.steps)
	}
	if e.Step == 0 {
		// The step an event belongs to is the last one started before
		// it happened, whenever its hook ran.
		e.Step = sort.Search(len(t.steps), func(i int) bool { return t.steps[i].After(e.Time) })
	}
}

// file finds the id of e's connection, and has r remember it; without
// one, the answer is in t's scratch space. t.mu is held.
//
//go:noinline
func (t *Trace) file(e *Event, r *ConnRef) *connIDs {
	ids := &t.scratch
	if r != nil {
		ids = new(connIDs)
	}
	ids.t, ids.key = t, keyOf(e.Tuple())
	ids.id = t.idOf(&ids.key)
	if r != nil {
		r.ids.Store(ids)
	}
	return ids
}

// push appends *e to evs. It copies the event straight into the slice:
// an Event is large, and every hook's stack, which an idle connection's
// goroutine keeps, would otherwise hold copies of it.
//
//go:noinline
func push(evs []Event, e *Event) []Event {
	evs = slices.Grow(evs, 1)
	evs = evs[:len(evs)+1]
	evs[len(evs)-1] = *e
	return evs
}

// track counts the open ends of e's connection, and forgets the ids of
// connections long closed (with a bounded history).
//
//go:noinline
func (t *Trace) track(e *Event, ids *connIDs) {
	var d int
	switch {
	case e.Phase == PhaseAccept || e.Phase == PhaseConnectDone:
		d = 1
	case e.Phase == PhaseClose && e.Remote.IsValid():
		d = -1
	default:
		return
	}
	// Counted by id, which both ends share: a small key.
	n := t.open[ids.id] + d
	if n > 0 {
		t.open[ids.id] = n
		if n == 1 {
			t.reopen(&ids.key)
		}
		return
	}
	delete(t.open, ids.id)
	id, ok := t.ids[ids.key]
	if !ok {
		return
	}
	delete(t.ids, ids.key)
	if len(t.closed[0]) >= forgetAfter {
		clear(t.closed[1])
		t.closed[0], t.closed[1] = t.closed[1], t.closed[0]
	}
	t.closed[0][ids.key] = id
}

// reopen gives a new connection with the five-tuple of one closed lately
// that one's id (as without a bounded history), which it keeps while
// open. t.mu is held.
func (t *Trace) reopen(k *connKey) {
	if _, ok := t.ids[*k]; ok {
		return
	}
	for _, m := range t.closed {
		if id, ok := m[*k]; ok {
			t.ids[*k] = id
			delete(m, *k)
		}
	}
}

// ConnID returns the id of the connection with this five-tuple, from
// either end's point of view, giving it the next id if it has none.
func (t *Trace) ConnID(ft FiveTuple) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.connID(ft)
}

func (t *Trace) connID(ft FiveTuple) int {
	k := keyOf(ft)
	return t.idOf(&k)
}

// idOf is connID of the connection filed under *k.
func (t *Trace) idOf(kp *connKey) int {
	k := *kp
	if id, ok := t.ids[k]; ok {
		return id
	}
	for _, m := range t.closed {
		if id, ok := m[k]; ok {
			return id // a late packet of a closed connection
		}
	}
	t.nextID++
	t.ids[k] = t.nextID
	return t.nextID
}

// Settle returns once every hook of [Trace.Hooks] that was running when
// it was called has added its event. A hook's event happened a little
// before the hook adds it (the wrappers read TCP_INFO, see
// [Options].TCPInfo, then call it): a printer that releases the events
// older than a moment it chose calls Settle first, so that none of them
// is still on its way.
func (t *Trace) Settle() {
	// Nothing to guard: having had the lock is the point.
	t.busy.Lock()
	t.busy.Unlock()
}

// Flush prints the events added since the last flush, sorted by time,
// and returns the first error any printer has returned so far.
//
// The events are printed outside the lock the hooks take, so that the
// program's calls do not wait while they are written; flushes print one
// after the other, each batch after the one before.
func (t *Trace) Flush() error {
	t.printMu.Lock()
	defer t.printMu.Unlock()
	t.mu.Lock()
	batch := t.pending
	t.pending, t.spare = t.spare, nil
	t.mu.Unlock()
	var perr error
	batch = Unsent(batch)
	if len(batch) > 0 {
		SortEvents(batch)
		for _, p := range t.printers {
			if err := PrintBatch(p, batch); err != nil && perr == nil {
				perr = err
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.spare == nil {
		t.spare = t.recycle.Reuse(batch)
	}
	if t.err == nil {
		t.err = perr
	}
	return t.err
}

// NotifyPending returns a channel that receives a value each time n
// events come to wait for [Trace.Flush] (n > 0): for a program that
// flushes on a timer to flush sooner when events come fast, and so keep
// its batches small enough to stay in the processor's caches. A value
// not yet received is not sent again. One channel per trace: a later
// call replaces it.
func (t *Trace) NotifyPending(n int) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.full, t.fullAt = make(chan struct{}, 1), max(n, 1)
	return t.full
}

// keepEvents is the room for events a buffer keeps between batches
// whatever their size.
const keepEvents = 1024

// smallBatches is how many small batches in a row a Recycler waits
// before it lets a big buffer go.
const smallBatches = 16

// Recycler keeps the buffer of a batch of events for the next batch. It
// keeps its room while it is used, and lets go of a burst's big buffer
// once the batches have been small (under a quarter of it) for a while,
// rather than hold it for good. The zero Recycler is ready.
//
// Two buffers take turns (one fills while the other prints), and a
// flush often follows another at once with a handful of events: a
// buffer let go at the first small batch would grow again from nothing,
// a copy of every event at each doubling, at every turn of a busy
// program.
type Recycler struct{ small int }

// Reuse returns evs emptied, its events let go, for the next batch, or
// nil when its room is no longer wanted.
func (r *Recycler) Reuse(evs []Event) []Event {
	if cap(evs) > keepEvents && len(evs) < cap(evs)/4 {
		if r.small++; r.small >= smallBatches {
			r.small = 0
			return nil
		}
	} else {
		r.small = 0
	}
	clear(evs)
	return evs[:0]
}

// Events returns every event recorded so far, sorted by time; with
// [Options.History] set, only the latest ones, or none.
func (t *Trace) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := make([]Event, len(t.all))
	for i := range t.all {
		ev[i] = t.all[i].Resolved()
	}
	ev = Unsent(ev)
	SortEvents(ev)
	return ev
}

// SortEvents sorts events by time, and by Seq when the times are equal:
// the order of a trace. It compares them in place (an Event is large),
// and leaves a sorted slice, the usual case, as it is.
func SortEvents(ev []Event) {
	before := func(a, b *Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	}
	i := 1
	for i < len(ev) && before(&ev[i], &ev[i-1]) >= 0 {
		i++
	}
	if i >= len(ev) {
		return // in order already, as most batches are
	}
	// An Event is large: sort their indexes, then move each event once
	// to its place, following the permutation's cycles.
	idx := make([]int32, len(ev))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int { return before(&ev[a], &ev[b]) })
	for i := range idx {
		if idx[i] < 0 {
			continue // moved already
		}
		held := ev[i]
		j := i
		for {
			k := int(idx[j])
			idx[j] = -1
			if k == i {
				ev[j] = held
				break
			}
			ev[j] = ev[k]
			j = k
		}
	}
}

// Note adds a remark by actor to the trace.
func (t *Trace) Note(actor, text string) {
	t.Add(Event{Actor: actor, Phase: PhaseNote, Text: text})
}

// Hooks returns hooks that add every event to t as done by actor.
func (t *Trace) Hooks(actor string) *Hooks {
	h := &hooks{t: t, actor: actor, wclosed: map[[2]netip.AddrPort]bool{}}
	return &Hooks{
		TCPInfo:      t.tcpInfo,
		Listen:       h.listen,
		DNSStart:     h.dnsStart,
		DNSDone:      h.dnsDone,
		ConnectStart: h.connectStart,
		ConnectDone:  h.connectDone,
		Accept:       h.accept,
		Read:         h.read,
		Write:        h.write,
		CloseWrite:   h.closeWrite,
		Error:        h.error,
		Close:        h.close,
	}
}

// hooks are the hooks of one actor of a trace. Each builds its event in
// one variable and hands it to add by pointer: an Event is large, and the
// stack of a connection's goroutine, which an idle connection keeps,
// grows with every copy on it.
type hooks struct {
	t     *Trace
	actor string
	// The connections on which this actor has sent its FIN with
	// CloseWrite: their EOF closes both directions.
	wmu     sync.Mutex
	wclosed map[[2]netip.AddrPort]bool
}

// tcp sets *e to an event of a TCP connection.
func (h *hooks) tcp(e *Event, ph Phase, at time.Time, local, remote netip.AddrPort, tcp *kernel.Info) {
	// Field by field: a composite literal would be built in a copy on
	// the stack first.
	*e = Event{}
	e.Time, e.Actor, e.Phase, e.Proto = at, h.actor, ph, "tcp"
	e.Local, e.Remote, e.TCP = local, remote, tcp
}

// failed turns *e into the error of op.
func failed(e *Event, op string, err error) {
	e.Phase, e.Op, e.Err = PhaseError, op, err.Error()
	e.Note = errorNote(op, err)
}

func (h *hooks) listen(i ListenInfo) {
	e := Event{Time: i.Time, Actor: h.actor, Phase: PhaseListen, Proto: "tcp", Local: i.Local, Addr: i.Addr}
	if i.Err != nil {
		failed(&e, "listen", i.Err)
	}
	h.t.add(&e)
}

func (h *hooks) dnsStart(i DNSStartInfo) {
	h.t.add(&Event{Time: i.Time, Actor: h.actor, Phase: PhaseDNSStart, Name: i.Host})
}

func (h *hooks) dnsDone(i DNSDoneInfo) {
	e := Event{Time: i.Time, Actor: h.actor, Phase: PhaseDNSDone, Name: i.Host, DNSServers: i.Servers, Addrs: i.Addrs, Duration: i.Duration}
	if i.Literal {
		e.Phase = PhaseDNSSkip
	}
	if i.Err != nil {
		e.Op, e.Err = "lookup", i.Err.Error()
		e.Note = errorNote("lookup", i.Err)
	}
	h.t.add(&e)
}

func (h *hooks) connectStart(i ConnectStartInfo) {
	h.t.add(&Event{Time: i.Time, Actor: h.actor, Phase: PhaseConnectStart, Proto: "tcp", Remote: i.Remote})
}

func (h *hooks) connectDone(i ConnectDoneInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	var e Event
	h.tcp(&e, PhaseConnectDone, i.Time, i.Local, i.Remote, i.TCP)
	e.Duration = i.Duration
	if i.Err != nil {
		failed(&e, "connect", i.Err)
	}
	h.t.addFrom(&e, i.wc.connRef())
}

func (h *hooks) accept(i AcceptInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	var e Event
	h.tcp(&e, PhaseAccept, i.Time, i.Local, i.Remote, i.TCP)
	if i.Err != nil {
		failed(&e, "accept", i.Err)
	}
	h.t.addFrom(&e, i.wc.connRef())
}

func (h *hooks) read(i IOInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	var e Event
	if i.N > 0 {
		h.tcp(&e, PhaseRead, i.Time, i.Local, i.Remote, i.TCP)
		e.Bytes, e.raw = i.N, keepPreview(i.Data) // previewed when printed
		h.t.addFrom(&e, i.wc.connRef())
	}
	switch {
	case i.Err == nil:
	case errors.Is(i.Err, io.EOF):
		h.tcp(&e, PhaseEOF, i.Time, i.Local, i.Remote, i.TCP)
		h.wmu.Lock()
		if h.wclosed[[2]netip.AddrPort{i.Local, i.Remote}] {
			e.Note = "Read returned io.EOF: the peer's FIN arrived, so it will send nothing more (Node's 'end' event). " +
				"This side had already sent its own FIN with CloseWrite: both directions are now closed."
		}
		h.wmu.Unlock()
		h.t.addFrom(&e, i.wc.connRef())
	default:
		h.tcp(&e, PhaseRead, i.Time, i.Local, i.Remote, i.TCP)
		failed(&e, "read", i.Err)
		h.t.addFrom(&e, i.wc.connRef())
	}
}

func (h *hooks) write(i IOInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	var e Event
	h.tcp(&e, PhaseWrite, i.Time, i.Local, i.Remote, i.TCP)
	e.Bytes, e.raw = i.N, keepPreview(i.Data) // previewed when printed
	e.wc, e.wseq = i.wc, i.wseq               // did it fail? Unsent asks
	h.t.addFrom(&e, i.wc.connRef())
}

func (h *hooks) closeWrite(i CloseWriteInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	h.wmu.Lock()
	h.wclosed[[2]netip.AddrPort{i.Local, i.Remote}] = true
	h.wmu.Unlock()
	var e Event
	h.tcp(&e, PhaseCloseWrite, i.Time, i.Local, i.Remote, i.TCP)
	h.t.addFrom(&e, i.wc.connRef())
}

func (h *hooks) error(i ErrorInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	var e Event
	h.tcp(&e, PhaseError, i.Time, i.Local, i.Remote, i.TCP)
	failed(&e, i.Op, i.Err)
	if i.Op == "write" && i.Size > 0 {
		e.Note = writeFailedNote(i.Size, i.Written) + " " + e.Note
	}
	h.t.addFrom(&e, i.wc.connRef())
}

func (h *hooks) close(i CloseInfo) {
	h.t.busy.RLock()
	defer h.t.busy.RUnlock()
	var e Event
	if i.Listener {
		h.tcp(&e, PhaseClose, i.Time, i.Local, netip.AddrPort{}, nil)
		h.t.addFrom(&e, i.wc.connRef())
		return
	}
	if i.WriteClosed {
		// Its EOF, if one comes, is the last news of this CloseWrite.
		h.wmu.Lock()
		delete(h.wclosed, [2]netip.AddrPort{i.Local, i.Remote})
		h.wmu.Unlock()
	}
	h.tcp(&e, PhaseClose, i.Time, i.Local, i.Remote, i.TCP)
	e.BytesIn, e.BytesOut, e.Lifetime, e.PeerClosed = i.BytesIn, i.BytesOut, i.Lifetime, i.PeerClosed
	e.lazy = closeKind(i)
	h.t.addFrom(&e, i.wc.connRef())
}
