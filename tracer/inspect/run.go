package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/outfile"
	"tcptour/tracer/page"
	"tcptour/tracer/quiz"
	"tcptour/tracer/wire"
)

// Bounds on what is kept for the ladders, drawn at the end: the
// timeline above them has every packet.
const (
	// maxLadders is how many connections get a ladder, the first ones;
	// -conn picks others.
	maxLadders = 100
	// maxLadderEvents is how many segments of a connection its ladder
	// draws, the first ones.
	maxLadderEvents = 400
	// lookahead is how many packets are read before the first is
	// explained, to learn at how many interfaces the file was captured.
	lookahead = 4096
	// flushEvery is how many events wait in the trace before they are
	// printed.
	flushEvery = 512
)

// inspector explains the packets of one file as they are read.
type inspector struct {
	cfg     config
	flt     filter
	tr      *tracer.Trace
	out     io.Writer
	dec     *capture.Decoder
	numbers *wire.ConnNumbers
	anns    map[string]*wire.Annotator
	ifaces  map[string]bool // the interfaces whose packets were seen
	multi   bool            // more than one interface in the lookahead

	read, shown, waiting int
	skipped              map[string]int // packets not shown, by reason
	held                 int            // IP fragments held until their datagram was whole
	seen                 bitset         // the TCP connections shown, by number
	nconns               int            // how many
	total                int            // the TCP connections in the file (the highest number)
	conns                []int          // those with a ladder or statistics, in order
	ladders              map[int]*ladder
	laddersLeftOut       int
	stats                map[int]*connStats
	finish               func() error // waits for the timeline to be printed
}

// ladder is what is kept of a connection for its ladder.
type ladder struct {
	events []tracer.Event
	more   int // segments not kept
}

func run(cfg config, stdout, stderr io.Writer) error {
	flt, err := newFilter(cfg)
	if err != nil {
		return err
	}
	// The Mermaid and HTML files are checked before the capture is
	// read (see tracer/outfile), and put in place only when complete.
	if cfg.mermaid != "" && cfg.html != "" && filepath.Clean(cfg.mermaid) == filepath.Clean(cfg.html) {
		return fmt.Errorf("-mermaid and -html both name %s: give each its own file", cfg.html)
	}
	create := func(flag, path string) (*outfile.File, error) {
		if path == "" {
			return nil, nil
		}
		if in, err := os.Stat(cfg.file); err == nil && cfg.file != "-" {
			if out, err := os.Stat(path); err == nil && os.SameFile(in, out) {
				return nil, fmt.Errorf("-%s %s: is the capture file to read: name another", flag, path)
			}
		}
		return outfile.Create(flag, path, 0o644)
	}
	mermaid, err := create("mermaid", cfg.mermaid)
	if err != nil {
		return err
	}
	defer mermaid.Discard()
	html, err := create("html", cfg.html)
	if err != nil {
		return err
	}
	defer html.Discard()
	src, err := capture.OpenFile(cfg.file)
	if err != nil {
		return err
	}
	defer src.Close()

	// The first packets, to learn the interfaces and the first time.
	var head []capture.Packet
	var readErr error
	for len(head) < lookahead {
		p, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		head = append(head, p)
	}
	if readErr != nil && len(head) == 0 {
		return readErr
	}
	in := &inspector{cfg: cfg, flt: flt, out: stdout, dec: capture.NewDecoder(), numbers: wire.NewConnNumbers(),
		anns: map[string]*wire.Annotator{}, ifaces: map[string]bool{}, skipped: map[string]int{},
		ladders: map[int]*ladder{}, stats: map[int]*connStats{}}
	seen := map[string]bool{}
	for _, p := range head {
		seen[p.Interface] = true
	}
	in.multi = len(seen) > 1
	var printers []tracer.Printer
	var printer *asyncPrinter
	switch {
	case cfg.stats:
	case cfg.json:
		printer = newAsyncPrinter(tracer.NewJSON(stdout))
	default:
		printer = newAsyncPrinter(tracer.NewPrettyWith(stdout, tracer.PrettyOptions{
			Color: tracer.ColorWanted(stdout, cfg.noColor), Width: tracer.TerminalWidth(stdout)}))
	}
	if printer != nil {
		printers = append(printers, printer)
		closed := false
		// Printed before anything else is written, and at every return.
		finish := func() error {
			if closed {
				return nil
			}
			closed = true
			return printer.Close()
		}
		defer finish()
		in.finish = finish
	}
	// The page needs every event shown; the rest of inspect streams.
	history := tracer.NoHistory
	if html != nil {
		history = 0
	}
	in.tr = tracer.NewAt(firstTime(head), tracer.Options{Printers: printers, History: history})
	if !cfg.json && !cfg.stats {
		for _, c := range src.Comments() {
			fmt.Fprintf(stdout, "Comment in the file: %s\n\n", c)
		}
	}
	for _, p := range head {
		if err := in.packet(p); err != nil {
			return err
		}
	}
	head = nil
	for readErr == nil {
		p, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if err := in.packet(p); err != nil {
			return err
		}
	}
	if err := in.tr.Flush(); err != nil {
		return err
	}
	if in.finish != nil {
		if err := in.finish(); err != nil {
			return err
		}
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "inspect: warning: %v; showing the %s before it\n", readErr, plural(in.read, "packet"))
	}
	if mermaid != nil {
		var b strings.Builder
		if err := wire.Mermaid(&b, in.ladderEvents(), in.ladderIDs()); err != nil {
			return err
		}
		if _, err := io.WriteString(mermaid, b.String()); err != nil {
			return err
		}
		if err := mermaid.Commit(); err != nil {
			return err
		}
	}
	if html != nil {
		if err := in.writePage(html); err != nil {
			return err
		}
	}
	if cfg.stats {
		return in.printStats()
	}
	if cfg.json {
		return nil
	}
	in.summary()
	for _, id := range in.ladderIDs() {
		fmt.Fprintln(stdout)
		l := in.ladders[id]
		if err := wire.FitLadder(stdout, l.events, id, tracer.TerminalWidth(stdout)); err != nil {
			return err
		}
		if l.more > 0 {
			fmt.Fprintf(stdout, "… and %s more of connection #%d, not drawn: the timeline above has them.\n", plural(l.more, "packet"), id)
		}
	}
	if in.laddersLeftOut > 0 {
		fmt.Fprintf(stdout, "\nLadders are drawn for the first %d connections; %d more are not drawn: -conn N draws any.\n", maxLadders, in.laddersLeftOut)
	}
	if cfg.quiz {
		return in.quiz(stdout)
	}
	return nil
}

// writePage writes the -html page of every event shown, and commits it.
func (in *inspector) writePage(f *outfile.File) error {
	var left []string
	if n := in.read - in.shown; n > 0 {
		left = append(left, fmt.Sprintf("%s of %s read are not on this page: %s.", plural(n, "packet"), in.name(), in.notShown()))
	}
	err := page.Write(f, page.Doc{Title: "inspect " + in.name(), Command: in.cfg.command, Events: in.tr.Events(), LeftOut: left})
	if err != nil {
		return err
	}
	return f.Commit()
}

// quiz asks the questions the capture answers (-quiz), about what
// inspect keeps of it as it streams: the connections that have a
// ladder, each whole (a ladder cut short would give a wrong count).
func (in *inspector) quiz(stdout io.Writer) error {
	var events []tracer.Event
	cut := 0
	for _, id := range in.ladderIDs() {
		l := in.ladders[id]
		if l.more > 0 {
			cut++
			continue
		}
		events = append(events, l.events...)
	}
	slices.SortStableFunc(events, func(a, b tracer.Event) int { return a.Time.Compare(b.Time) })
	q := quiz.Make(events)
	if cut > 0 || in.laddersLeftOut > 0 {
		q.Why = strings.TrimSpace(fmt.Sprintf("About the first %d connections shown, each of at most %d segments (what inspect keeps of a file as it reads it). %s", maxLadders, maxLadderEvents, q.Why))
	}
	return quiz.Ask(context.Background(), in.cfg.quizIn, stdout, q, quiz.Options{Title: "Questions about this capture", Interactive: in.cfg.quizAsk,
		Width: tracer.TerminalWidth(stdout), Color: tracer.ColorWanted(stdout, in.cfg.noColor)})
}

// packet explains one packet, and prints it when it passes the filter.
func (in *inspector) packet(p capture.Packet) error {
	in.read++
	d, err := in.dec.Decode(p)
	if d.TCP == nil && d.UDP == nil {
		reason := d.Skip
		if err != nil || reason == "" {
			reason = capture.SkipReason(err)
		}
		switch reason {
		case capture.SkipIPv4Held, capture.SkipIPv6Held:
			// Shown with the fragment that completes its datagram.
			in.held++
		default:
			in.skipped[reason]++
		}
		return nil
	}
	ann := in.anns[p.Interface]
	if ann == nil {
		ann = wire.NewAnnotator()
		ann.NumberConns(in.numbers)
		if in.multi || (len(in.anns) > 0 && p.Interface != "") {
			ann.AtEnd(p.Interface)
		}
		in.anns[p.Interface] = ann
	}
	e := ann.Event(d)
	pk := e.Packet
	if pk != nil {
		if in.multi {
			pk.At, pk.IPID = p.Interface, d.IPID
		}
		pk.Comment = p.Comment
		pk.Frame = in.read
		// A preview of the payload, when the capture kept some of it.
		switch {
		case d.TCP != nil && len(d.TCP.Payload) > 0:
			pk.Payload = tracer.PreviewOf(d.TCP.Payload, d.TCP.PayloadLen)
		case d.UDP != nil && d.DNS == nil && len(d.UDP.Payload) > 0:
			pk.Payload = tracer.PreviewOf(d.UDP.Payload, d.UDP.PayloadLen)
		}
	}
	in.total = max(in.total, e.Conn)
	if !in.flt.shows(&e) {
		in.skipped["left out by the filter"]++
		return nil
	}
	in.shown++
	if e.Conn != 0 {
		in.keep(&e)
	}
	if in.cfg.stats && in.cfg.html == "" {
		return nil
	}
	in.tr.Record(&e)
	if in.waiting++; in.waiting >= flushEvery {
		in.waiting = 0
		return in.tr.Flush()
	}
	return nil
}

// keep keeps what the ladder or the statistics of e's connection need.
func (in *inspector) keep(e *tracer.Event) {
	first := !in.seen.has(e.Conn)
	if first {
		in.seen.add(e.Conn)
		in.nconns++
	}
	if in.cfg.stats {
		// The statistics of every connection shown, printed at the end:
		// they grow with the connections in the file, about 200 bytes
		// each.
		st := in.stats[e.Conn]
		if st == nil {
			st = &connStats{id: e.Conn}
			in.stats[e.Conn] = st
			in.conns = append(in.conns, e.Conn)
		}
		st.add(e)
		return
	}
	l := in.ladders[e.Conn]
	if l == nil {
		if len(in.ladders) >= maxLadders {
			if first {
				in.laddersLeftOut++
			}
			return
		}
		l = &ladder{}
		in.ladders[e.Conn] = l
		in.conns = append(in.conns, e.Conn)
	}
	if len(l.events) >= maxLadderEvents {
		l.more++
		return
	}
	c := *e
	c.Note = ""                           // not drawn
	c.Elapsed = e.Time.Sub(in.tr.Start()) // for -quiz: the time the timeline shows
	l.events = append(l.events, c)
}

// ladderIDs are the connections with a ladder, in order.
func (in *inspector) ladderIDs() []int {
	var ids []int
	for _, id := range in.conns {
		if in.ladders[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// ladderEvents are the events kept for the ladders.
func (in *inspector) ladderEvents() []tracer.Event {
	var all []tracer.Event
	for _, id := range in.ladderIDs() {
		all = append(all, in.ladders[id].events...)
	}
	return all
}

// summary prints the line after the timeline: what was read, shown and
// left out, and why.
func (in *inspector) summary() {
	fmt.Fprintf(in.out, "\n%s read from %s", plural(in.read, "packet"), in.name())
	if in.flt.active() {
		fmt.Fprintf(in.out, "; %d shown (%s)", in.shown, in.flt.String())
	}
	if n := in.dec.Held(); n > 0 {
		in.skipped["an IP fragment of a datagram never completed"] += n
	}
	if left := in.read - in.shown - in.skipped["left out by the filter"] - (in.held - in.dec.Held()); left > 0 {
		reasons := slices.Sorted(maps.Keys(in.skipped))
		var parts []string
		for _, r := range reasons {
			if r != "left out by the filter" {
				parts = append(parts, fmt.Sprintf("%d %s", in.skipped[r], r))
			}
		}
		fmt.Fprintf(in.out, "; %d not shown: %s", left, strings.Join(parts, ", "))
	}
	if joined := in.held - in.dec.Held(); joined > 0 {
		fmt.Fprintf(in.out, "; %s joined to the datagrams they complete", plural(joined, "IP fragment"))
	}
	if len(in.anns) > 1 {
		names := slices.Sorted(maps.Keys(in.anns))
		how := "each explained on its own"
		if slices.Equal(names, []string{"client", "server"}) {
			// A lesson's link: an interface at each end.
			how = "each explained as its end saw it"
		}
		fmt.Fprintf(in.out, "; captured at %d interfaces (%s), %s", len(names), strings.Join(names, ", "), how)
	}
	in.connsLine()
}

// connsLine ends the summary: the TCP connections shown, and with
// filters how many the file holds, and which of those -conn asked for
// it does not.
func (in *inspector) connsLine() {
	if !in.flt.active() {
		fmt.Fprintf(in.out, "; %s.\n", plural(in.nconns, "TCP connection"))
		return
	}
	what := "TCP connections shown"
	if in.nconns == 1 {
		what = "TCP connection shown"
	}
	fmt.Fprintf(in.out, "; %d %s, of %d in the file", in.nconns, what, in.total)
	var missing []string
	for _, n := range in.flt.conns {
		if n > in.total {
			missing = append(missing, fmt.Sprintf("#%d", n))
		}
	}
	switch {
	case len(missing) == 1:
		fmt.Fprintf(in.out, " (no connection %s)", missing[0])
	case len(missing) > 1:
		fmt.Fprintf(in.out, " (no connections %s)", joinAnd(missing))
	}
	fmt.Fprintln(in.out, ".")
}

// name is the file's name as the summary gives it.
func (in *inspector) name() string {
	if in.cfg.file == "-" {
		return "standard input"
	}
	return in.cfg.file
}

func firstTime(pkts []capture.Packet) (t0 time.Time) {
	for _, p := range pkts {
		if t0.IsZero() || p.Time.Before(t0) {
			t0 = p.Time
		}
	}
	return t0
}

// bitset is a set of small positive numbers: connection numbers, which
// grow by one from 1.
type bitset []uint64

func (b bitset) has(n int) bool { return n/64 < len(b) && b[n/64]&(1<<(n%64)) != 0 }

func (b *bitset) add(n int) {
	for n/64 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[n/64] |= 1 << (n % 64)
}

// notShown says, by reason, why packets read are not shown.
func (in *inspector) notShown() string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(in.skipped)) {
		parts = append(parts, fmt.Sprintf("%d %s", in.skipped[r], r))
	}
	if n := in.dec.Held(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d IP fragments of datagrams never completed", n))
	}
	if joined := in.held - in.dec.Held(); joined > 0 {
		parts = append(parts, fmt.Sprintf("%s joined to the datagrams they complete", plural(joined, "IP fragment")))
	}
	return strings.Join(parts, ", ")
}
