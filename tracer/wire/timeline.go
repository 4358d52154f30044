package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// PhaseSay marks a program's own lines (the seed's CONNECTED…, DATA…) in
// the trace. They are added as events rather than printed at once, so
// that they take their place in time order among the trace's events,
// packets included. The timeline writes their Text, as is, to its say
// writer; they never reach the trace's printer (nor the JSON output).
const PhaseSay tracer.Phase = "say"

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

	printMu sync.Mutex // one Flush or Close at a time
	warned  bool       // the trace has a note that the capture lagged
	err     error      // the first error writing

	mu   sync.Mutex // guards held
	held []tracer.Event
}

// NewTimeline starts the trace of actor, printed by printer with the
// seed's lines written to say, and the capture cfg asks for. skipped
// is Start's line saying why there is no capture, if any.
func NewTimeline(actor string, printer tracer.Printer, say io.Writer, cfg Config) (tl *Timeline, skipped string, err error) {
	tl = &Timeline{actor: actor, printer: printer, say: say}
	tl.trace = tracer.New(tracer.Options{Printers: []tracer.Printer{tl}, History: cfg.History})
	tl.wire, skipped, err = Start(tl.trace, cfg)
	if err != nil {
		return nil, "", captureError(cfg.PCAP, err)
	}
	return tl, skipped, nil
}

// captureError says in one line why the capture could not start: the
// reason Start gives, or what is wrong with the -pcap file.
func captureError(pcap string, err error) error {
	if pcap == "" {
		return err
	}
	return fileError("pcap", pcap, err)
}

// fileError says in one line why the file named by flag could not be
// written: "-pcap /nonexistent/x.pcapng: no such file or directory".
func fileError(flag, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return fmt.Errorf("-%s %s: %w", flag, path, pe.Err)
	}
	return err
}

// Hooks returns hooks that add the events of the timeline's actor to
// the trace and capture every port it listens on or connects to, from
// before the first packet.
func (tl *Timeline) Hooks() *tracer.Hooks { return tl.wire.Hooks(tl.trace.Hooks(tl.actor)) }

// Say adds one of the seed's lines to the trace, to print in its place.
func (tl *Timeline) Say(format string, args ...any) {
	tl.trace.Add(tracer.Event{Actor: tl.actor, Phase: PhaseSay, Text: fmt.Sprintf(format, args...)})
}

// Print is the trace's printer: it holds e until Flush releases it.
func (tl *Timeline) Print(e tracer.Event) error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.held = append(tl.held, e)
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
	tl.sync()
	_ = tl.trace.Flush()
	tl.release(before)
	return tl.err
}

// Close waits for the capture to catch up and stops it, which leaves
// the pcap file complete and closed, then prints every event left. It
// returns the number of packets in the trace, the kernel's counts, and
// the capture's error or else the first error writing.
func (tl *Timeline) Close() (packets int, stats capture.Stats, err error) {
	tl.printMu.Lock()
	defer tl.printMu.Unlock()
	tl.sync()
	stats, packets, err = tl.wire.Close()
	_ = tl.trace.Flush()
	tl.release(time.Time{})
	if err == nil && tl.err != nil {
		err = fmt.Errorf("writing the trace: %w", tl.err)
	}
	return packets, stats, err
}

// sync waits until the capture has handed every packet sent so far to
// the trace. If it cannot, the trace says so, once.
func (tl *Timeline) sync() {
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
	slices.SortStableFunc(tl.held, func(a, b tracer.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
	n := len(tl.held)
	if !before.IsZero() {
		n, _ = slices.BinarySearchFunc(tl.held, before, func(e tracer.Event, t time.Time) int { return e.Time.Compare(t) })
	}
	ready := slices.Clone(tl.held[:n])
	tl.held = slices.Delete(tl.held, 0, n)
	tl.mu.Unlock()
	for _, e := range ready {
		var err error
		if e.Phase == PhaseSay {
			_, err = io.WriteString(tl.say, e.Text)
		} else {
			err = tl.printer.Print(e)
		}
		if err != nil && tl.err == nil {
			tl.err = err
		}
	}
}

// WriteMermaid writes the ladders of every connection to path, as one
// Mermaid sequence diagram: the packets and the calls, or the calls
// alone without capture.
func (tl *Timeline) WriteMermaid(path string) error {
	events := tl.trace.Events()
	var b strings.Builder
	if err := Mermaid(&b, events, Conns(events, false)); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fileError("mermaid", path, err)
	}
	return nil
}

// Summary writes how many packets the trace showed and where they were
// saved; nothing without capture.
func (tl *Timeline) Summary(w io.Writer, packets int, stats capture.Stats, pcap string) {
	if tl.wire == nil {
		return
	}
	fmt.Fprintf(w, "\nCaptured %d packets on lo (the kernel counted %d, dropped %d).\n",
		packets, stats.Packets-stats.Markers, stats.KernelDrops)
	if pcap != "" {
		fmt.Fprintf(w, "Saved to %s: tshark -r %s\n", pcap, pcap)
	}
}

// Trace returns the timeline's trace.
func (tl *Timeline) Trace() *tracer.Trace { return tl.trace }

// Session returns the timeline's capture, nil without one.
func (tl *Timeline) Session() *Session { return tl.wire }
