package page

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/wire"
)

// Doc is what a page shows.
type Doc struct {
	Title     string         // "tcptour · lesson 12 · …", "server on 127.0.0.1:6969", "inspect x.pcapng"
	Command   string         // the command line that made it, shown small at the top
	Events    []tracer.Event // resolved (Note built), time order: all of the trace
	Narration []Narration    // a lesson's printed figures, may be nil
	LeftOut   []string       // what the producer already left out, each a sentence, shown
}

// Narration is a figure a lesson printed: Text is shown as <pre> in its
// step and in the timeline after the event with Seq AfterSeq.
type Narration struct {
	Step     int
	AfterSeq int64
	Text     string
}

var (
	//go:embed assets/page.tmpl
	pageTmpl string
	//go:embed assets/page.css
	pageCSS string
	//go:embed assets/page.js
	pageJS string
	//go:embed assets/graph.css
	graphCSS string
	//go:embed assets/graph.js
	graphJS string
)

var tmpl = template.Must(template.New("page").Parse(pageTmpl))

type stepView struct {
	Title, Note string
	Narration   []string
}

type tlRow struct {
	Ms, Actor, What, Note string
	Conn                  int
	Ref                   int      // a packet's frame, for the detail panel
	Narr                  []string // narration printed after it
}

type connView struct {
	ID             int
	Client, Server string
	Ladder         ladderView
	Text           string // the text ladder
	TextLeft       string // why the text ladder is left out
	Seq, Cwnd      template.HTML
}

type counterRow struct {
	Ms, At, Name, Note string
	Delta, Value       int64
}

type view struct {
	Title, Command, When string
	LessonNote           string
	Steps                []stepView
	Actors               []string
	ConnIDs              []int
	Timeline             []tlRow
	Conns                []connView
	States               template.HTML
	Counters             []counterRow
	LeftOut              []string
	Folded               []string
	CSS                  template.CSS
	JS, GraphJS          template.JS
}

// Write writes d's page to w: one HTML file with everything in it.
//
// Per connection (in wire.Conns order, sections #c1, #c2, …) an SVG
// ladder (svg#ld1, …): one element per captured TCP frame carries
// data-frame (the segment's <g class="sg">, and on a link the dot of
// its arrival inside it), with data-note, -flags, -seq, -ack, -len,
// -win, -opt, -sack, -an, -time, -at, -pay; classes rt
// (retransmission), da (duplicate ACK), zw (zero window), rs (RST), lo
// (lost), each said in its text too. Beyond a budget of 3000 frames per
// page, runs of ordinary segments fold (<g class="fd">, their data in a
// <script type="application/json">), and the page says so; a fold's
// button draws it. The URL hash #frame=N pins frame N on load.
func Write(w io.Writer, d Doc) error {
	v := view{Title: d.Title, Command: d.Command, LeftOut: d.LeftOut,
		CSS: template.CSS(pageCSS + graphCSS), JS: template.JS(pageJS), GraphJS: template.JS(graphJS)}
	if v.Title == "" {
		v.Title = "tcptour trace"
	}
	ev := d.Events
	if len(ev) > 0 {
		v.When = ev[0].Time.UTC().Format(time.DateTime + " UTC")
	}
	narrAfter := map[int64][]string{}
	for _, n := range d.Narration {
		narrAfter[n.AfterSeq] = append(narrAfter[n.AfterSeq], n.Text)
	}
	// steps
	stepIdx := map[int]int{}
	for _, e := range ev {
		switch e.Phase {
		case tracer.PhaseLesson:
			v.LessonNote = e.Note
		case tracer.PhaseStep:
			stepIdx[e.Step] = len(v.Steps)
			v.Steps = append(v.Steps, stepView{Title: e.Text, Note: e.Note})
		}
	}
	for _, n := range d.Narration {
		if k, ok := stepIdx[n.Step]; ok {
			v.Steps[k].Narration = append(v.Steps[k].Narration, n.Text)
		} else {
			v.Steps = append(v.Steps, stepView{Narration: []string{n.Text}})
		}
	}
	// ladders: the budget shared by the connections: the small ones draw
	// all their frames, the others equal shares of the rest
	ids := wire.Conns(ev, true)
	if len(ids) > maxConns {
		v.Folded = append(v.Folded, fmt.Sprintf("This page draws the first %d of the trace's %d connections; the other %d are left out of it, and of its timeline (tracer/inspect -conn N makes a page of any).",
			maxConns, len(ids), len(ids)-maxConns))
		ids = ids[:maxConns]
	}
	drawnConn := map[int]bool{}
	// Each connection's events, and where they are in ev: what draws
	// a connection reads its own events, not the whole trace's.
	at := map[int][]int{}
	for _, id := range ids {
		drawnConn[id] = true
	}
	for i, e := range ev {
		if drawnConn[e.Conn] {
			at[e.Conn] = append(at[e.Conn], i)
		}
	}
	type laid struct {
		client, server string
		ev             []tracer.Event
		rows           []lrow
		frames         int
	}
	lays := make([]laid, len(ids))
	for k, id := range ids {
		own := make([]tracer.Event, len(at[id]))
		for j, i := range at[id] {
			own[j] = ev[i]
		}
		c, s, rows := ladderRows(own, id)
		lays[k] = laid{c, s, own, rows, countFrames(rows)}
	}
	allows := share(lays, func(l laid) int { return l.frames }, segBudget)
	dataAllows := share(lays, func(l laid) int { return l.frames }, foldDataBudget)
	folded := map[int]bool{} // events drawn in a fold, left out of the timeline
	for k, id := range ids {
		l := lays[k]
		allow := allows[k]
		cv := connView{ID: id, Client: l.client, Server: l.server, Seq: seqGraph(l.ev, id), Cwnd: cwndChart(l.ev, id)}
		cv.Ladder = ladderSVG(l.ev, id, l.rows, l.client, l.server, allow, dataAllows[k])
		for _, f := range cv.Ladder.folds {
			for j := f.from; j < f.to; j++ {
				folded[at[id][l.rows[j].ev]] = true
			}
		}
		if cv.Ladder.Folds > 0 {
			v.Folded = append(v.Folded, fmt.Sprintf("Connection #%d: %d of its %d segments are folded, in %d runs of ordinary data and ACKs sent once (no handshake, loss, retransmission, duplicate ACK, zero window, FIN or RST among them); each fold's button draws it. The timeline leaves them out too.",
				id, cv.Ladder.Folded, cv.Ladder.Segs, cv.Ladder.Folds))
			if n := cv.Ladder.Folded - cv.Ladder.Kept; n > 0 {
				v.Folded = append(v.Folded, fmt.Sprintf("Of those, %d are not kept on this page, whose folds draw at most %d segments in all: their folds have no button (the time–sequence graph draws them; the program's output or --json lists them).", n, foldDataBudget))
			}
		}
		if len(l.rows)-countKind(l.rows, 'a')-countKind(l.rows, 'u') <= segBudget {
			var t strings.Builder
			wire.Ladder(&t, l.ev, id)
			cv.Text = t.String()
		} else {
			cv.TextLeft = fmt.Sprintf("Its text ladder, %d rows, is left out of the page: too long to read here.", len(l.rows))
		}
		v.Conns = append(v.Conns, cv)
	}
	// timeline, actors, connections, counters
	seenActor := map[string]bool{}
	seenConn := map[int]bool{}
	// A run of folded packets of one connection, until its next event
	// shown, is one row (its frames from the lowest to the highest: a
	// file need not be in time order), whatever other connections did
	// meanwhile.
	type skip struct{ n, lo, hi int }
	skips := map[int]*skip{}
	unlisted := 0
	flushSkip := func(conn int) {
		if k := skips[conn]; k != nil {
			delete(skips, conn)
			if len(v.Timeline) >= maxRows {
				unlisted++
				return
			}
			v.Timeline = append(v.Timeline, tlRow{Actor: "wire", Conn: conn,
				What: fmt.Sprintf("… %d packets, frames %d to %d: ordinary data and ACKs, folded in the ladder of connection #%d", k.n, k.lo, k.hi, conn)})
		}
	}
	notDrawn := 0
	for i, e := range ev {
		if e.Conn != 0 && !drawnConn[e.Conn] && len(drawnConn) == maxConns {
			notDrawn++ // a connection left out of the page
			continue
		}
		if !seenActor[e.Actor] {
			seenActor[e.Actor] = true
			v.Actors = append(v.Actors, e.Actor)
		}
		if e.Conn != 0 && !seenConn[e.Conn] {
			seenConn[e.Conn] = true
			v.ConnIDs = append(v.ConnIDs, e.Conn)
		}
		if e.Phase == tracer.PhaseCounter && e.Counter != nil {
			v.Counters = append(v.Counters, counterRow{Ms: ms(e), At: e.Counter.At, Name: e.Counter.Name, Delta: e.Counter.Delta, Value: e.Counter.Value, Note: e.Note})
		}
		if folded[i] {
			f := e.Packet.Frame
			if k := skips[e.Conn]; k != nil {
				k.n, k.lo, k.hi = k.n+1, min(k.lo, f), max(k.hi, f)
			} else {
				skips[e.Conn] = &skip{1, f, f}
			}
			continue
		}
		flushSkip(e.Conn)
		if len(v.Timeline) >= maxRows {
			unlisted++
			continue
		}
		r := tlRow{Ms: ms(e), Actor: e.Actor, Conn: e.Conn, What: what(e), Note: e.Note, Narr: narrAfter[e.Seq]}
		if e.Packet != nil {
			r.Ref = e.Packet.Frame
		}
		v.Timeline = append(v.Timeline, r)
	}
	for _, c := range slices.Sorted(maps.Keys(skips)) {
		flushSkip(c)
	}
	if unlisted > 0 {
		v.Timeline = append(v.Timeline, tlRow{Actor: "page", What: fmt.Sprintf("… and %d more events, not listed: a page lists at most %d (the program's own output, or --json, lists every one)", unlisted, maxRows)})
	}
	if notDrawn > 0 {
		v.Timeline = append(v.Timeline, tlRow{Actor: "page", What: fmt.Sprintf("… and %d events of the connections this page does not draw, left out", notDrawn)})
	}
	v.States = stateDiagram(ev)
	return tmpl.Execute(w, v)
}

// The most connections a page draws, and the most rows its timeline
// lists: a page a browser opens in a few seconds, whatever the trace.
const (
	maxConns = 100
	maxRows  = 5000
)

// what is an event's one line in the timeline.
func what(e tracer.Event) string {
	switch e.Phase {
	case tracer.PhasePacket:
		p := e.Packet
		if p == nil {
			break
		}
		s := p.From + " → " + p.To + "  "
		if p.Proto == "tcp" {
			s += wire.SegmentLabel(p)
			if p.Window != 0 {
				s += " win " + strconv.Itoa(p.Window)
			}
			if p.Options != "" {
				s += "  " + p.Options
			}
			if len(p.Analysis) > 0 {
				s += "  · " + strings.Join(p.Analysis, ", ")
			}
		} else {
			s += strings.ToUpper(p.Proto) + " " + p.DNS
		}
		if p.At != "" {
			s += "  (seen at the " + p.At + ")"
		}
		return s
	case tracer.PhaseState:
		if c := e.State; c != nil {
			return c.Side + " " + c.From.String() + " → " + c.To.String()
		}
	case tracer.PhaseCounter:
		if c := e.Counter; c != nil {
			return fmt.Sprintf("%s +%d (now %d)", c.Name, c.Delta, c.Value)
		}
	case tracer.PhaseSample:
		if t := e.TCP; t != nil {
			return fmt.Sprintf("TCP_INFO: cwnd %d, ssthresh %d, rtt %v", t.SndCwnd, t.SndSsthresh, t.RTT)
		}
	case tracer.PhaseRead, tracer.PhaseWrite:
		s := fmt.Sprintf("%s %d B", e.Phase, e.Bytes)
		if e.Data != "" {
			s += " " + e.Data
		}
		return s
	case tracer.PhaseError:
		return "error: " + e.Op + ": " + e.Err
	case tracer.PhaseDNSStart, tracer.PhaseDNSDone, tracer.PhaseDNSSkip:
		s := string(e.Phase) + " " + e.Name
		for _, a := range e.Addrs {
			s += " " + a.String()
		}
		return s
	}
	s := string(e.Phase)
	if e.Text != "" {
		s += ": " + e.Text
	}
	if e.Local.IsValid() && e.Remote.IsValid() {
		s += "  " + e.Local.String() + " ↔ " + e.Remote.String()
	} else if e.Local.IsValid() {
		s += "  " + e.Local.String()
	}
	return s
}

// countKind counts the rows of one kind.
func countKind(rows []lrow, kind byte) int {
	n := 0
	for _, r := range rows {
		if r.kind == kind {
			n++
		}
	}
	return n
}

// share shares budget among items by their need (size): the small ones
// get all they need, the others equal shares of the rest.
func share[T any](items []T, size func(T) int, budget int) []int {
	out := make([]int, len(items))
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return size(items[a]) - size(items[b]) })
	left := budget
	for n, i := range order {
		out[i] = min(size(items[i]), left/(len(items)-n))
		left -= out[i]
	}
	return out
}
