package tracer

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"
)

// Printer writes events somewhere: [NewPretty] for people, [NewJSON] for
// programs.
type Printer interface {
	Print(Event) error
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
	all      []Event
	err      error
}

// Options configure a [Trace].
type Options struct {
	// Printers receive the events when they are flushed.
	Printers []Printer
	// Live flushes after every event: for long-running programs whose
	// events should show at once.
	Live bool
}

// New starts a trace; its clock starts now.
func New(opts Options) *Trace { return NewAt(time.Now(), opts) }

// NewAt starts a trace whose clock started at start: for events read
// from a file, the time of the first one.
func NewAt(start time.Time, opts Options) *Trace {
	return &Trace{
		start:    start,
		live:     opts.Live,
		printers: slices.Clone(opts.Printers),
		ids:      make(map[connKey]int),
	}
}

// Start returns the time the trace started.
func (t *Trace) Start() time.Time { return t.start }

// Add records e. It sets Seq, Step (for a PhaseStep event, the next
// step number), Elapsed, Time (when zero), the
// connection id (when e has a five-tuple and no id) and the note (when
// empty), and returns the event as recorded.
func (t *Trace) Add(e Event) Event {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	e.Seq = t.seq
	if e.Phase == PhaseStep {
		t.steps = append(t.steps, e.Time)
		e.Step = len(t.steps)
	}
	if e.Step == 0 {
		// The step an event belongs to is the last one started before
		// it happened, whenever its hook ran.
		e.Step = sort.Search(len(t.steps), func(i int) bool { return t.steps[i].After(e.Time) })
	}
	e.Elapsed = e.Time.Sub(t.start)
	if e.Conn == 0 && e.Local.IsValid() && e.Remote.IsValid() {
		e.Conn = t.connID(e.Tuple())
	}
	if e.Note == "" {
		e.Note = defaultNote(e)
	}
	t.pending = append(t.pending, e)
	t.all = append(t.all, e)
	if t.live {
		t.flushLocked()
	}
	return e
}

// ConnID returns the id of the connection with this five-tuple, from
// either end's point of view, giving it the next id if it has none.
func (t *Trace) ConnID(ft FiveTuple) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.connID(ft)
}

func (t *Trace) connID(ft FiveTuple) int {
	k := ft.key()
	id, ok := t.ids[k]
	if !ok {
		t.nextID++
		id = t.nextID
		t.ids[k] = id
	}
	return id
}

// Flush prints the events added since the last flush, sorted by time,
// and returns the first error any printer has returned so far.
func (t *Trace) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked()
	return t.err
}

func (t *Trace) flushLocked() {
	sortEvents(t.pending)
	for _, e := range t.pending {
		for _, p := range t.printers {
			if err := p.Print(e); err != nil && t.err == nil {
				t.err = err
			}
		}
	}
	t.pending = t.pending[:0]
}

// Events returns every event recorded so far, sorted by time.
func (t *Trace) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := slices.Clone(t.all)
	sortEvents(ev)
	return ev
}

func sortEvents(ev []Event) {
	slices.SortStableFunc(ev, func(a, b Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
}

// Note adds a remark by actor to the trace.
func (t *Trace) Note(actor, text string) {
	t.Add(Event{Actor: actor, Phase: PhaseNote, Text: text})
}

// Hooks returns hooks that add every event to t as done by actor.
func (t *Trace) Hooks(actor string) *Hooks {
	// The connections on which this actor has sent its FIN with
	// CloseWrite: their EOF closes both directions.
	var (
		wmu     sync.Mutex
		wclosed = map[[2]netip.AddrPort]bool{}
	)
	tcp := func(at time.Time, local, remote netip.AddrPort) Event {
		return Event{Time: at, Actor: actor, Proto: "tcp", Local: local, Remote: remote}
	}
	return &Hooks{
		Listen: func(i ListenInfo) {
			e := Event{Time: i.Time, Actor: actor, Phase: PhaseListen, Proto: "tcp", Local: i.Local, Addr: i.Addr}
			if i.Err != nil {
				e.Phase, e.Op, e.Err = PhaseError, "listen", i.Err.Error()
				e.Note = errorNote("listen", i.Err)
			}
			t.Add(e)
		},
		DNSStart: func(i DNSStartInfo) {
			t.Add(Event{Time: i.Time, Actor: actor, Phase: PhaseDNSStart, Name: i.Host})
		},
		DNSDone: func(i DNSDoneInfo) {
			e := Event{Time: i.Time, Actor: actor, Phase: PhaseDNSDone, Name: i.Host, DNSServers: i.Servers, Addrs: i.Addrs, Duration: i.Duration}
			if i.Literal {
				e.Phase = PhaseDNSSkip
			}
			if i.Err != nil {
				e.Op, e.Err = "lookup", i.Err.Error()
				e.Note = errorNote("lookup", i.Err)
			}
			t.Add(e)
		},
		ConnectStart: func(i ConnectStartInfo) {
			t.Add(Event{Time: i.Time, Actor: actor, Phase: PhaseConnectStart, Proto: "tcp", Remote: i.Remote})
		},
		ConnectDone: func(i ConnectDoneInfo) {
			e := tcp(i.Time, i.Local, i.Remote)
			e.Phase, e.Duration = PhaseConnectDone, i.Duration
			if i.Err != nil {
				e.Phase, e.Op, e.Err = PhaseError, "connect", i.Err.Error()
				e.Note = errorNote("connect", i.Err)
			}
			t.Add(e)
		},
		Accept: func(i AcceptInfo) {
			e := tcp(i.Time, i.Local, i.Remote)
			e.Phase = PhaseAccept
			if i.Err != nil {
				e.Phase, e.Op, e.Err = PhaseError, "accept", i.Err.Error()
				e.Note = errorNote("accept", i.Err)
			}
			t.Add(e)
		},
		Read: func(i IOInfo) {
			if i.N > 0 {
				e := tcp(i.Time, i.Local, i.Remote)
				e.Phase, e.Bytes, e.Data = PhaseRead, i.N, Preview(i.Data)
				t.Add(e)
			}
			switch {
			case i.Err == nil:
			case errors.Is(i.Err, io.EOF):
				e := tcp(i.Time, i.Local, i.Remote)
				e.Phase = PhaseEOF
				wmu.Lock()
				if wclosed[[2]netip.AddrPort{i.Local, i.Remote}] {
					e.Note = "Read returned io.EOF: the peer's FIN arrived, so it will send nothing more (Node's 'end' event). " +
						"This side had already sent its own FIN with CloseWrite: both directions are now closed."
				}
				wmu.Unlock()
				t.Add(e)
			default:
				e := tcp(i.Time, i.Local, i.Remote)
				e.Phase, e.Op, e.Err = PhaseError, "read", i.Err.Error()
				e.Note = errorNote("read", i.Err)
				t.Add(e)
			}
		},
		Write: func(i IOInfo) {
			e := tcp(i.Time, i.Local, i.Remote)
			e.Phase, e.Bytes, e.Data = PhaseWrite, i.N, Preview(i.Data)
			t.Add(e)
		},
		CloseWrite: func(i CloseWriteInfo) {
			wmu.Lock()
			wclosed[[2]netip.AddrPort{i.Local, i.Remote}] = true
			wmu.Unlock()
			e := tcp(i.Time, i.Local, i.Remote)
			e.Phase = PhaseCloseWrite
			t.Add(e)
		},
		Error: func(i ErrorInfo) {
			e := tcp(i.Time, i.Local, i.Remote)
			e.Phase, e.Op, e.Err = PhaseError, i.Op, i.Err.Error()
			e.Note = errorNote(i.Op, i.Err)
			t.Add(e)
		},
		Close: func(i CloseInfo) {
			e := tcp(i.Time, i.Local, i.Remote)
			e.Phase = PhaseClose
			if i.Listener {
				e.Remote = netip.AddrPort{}
				t.Add(e)
				return
			}
			e.BytesIn, e.BytesOut, e.Lifetime, e.PeerClosed = i.BytesIn, i.BytesOut, i.Lifetime, i.PeerClosed
			e.Note = closeNote(i)
			t.Add(e)
		},
	}
}
