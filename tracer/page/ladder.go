package page

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"

	"tcptour/tracer"
	"tcptour/tracer/wire"
)

// The ladder's geometry, in SVG user units; assets/page.js draws the
// rows of a fold with the same numbers (lad below).
const (
	ladW   = 760 // width
	ladXC  = 200 // the client's line
	ladXS  = 590 // the server's line
	ladTop = 44  // the first row's top
	ladRH  = 20  // a row's height
)

// segBudget is how many frames the ladders of one page draw at most
// (segments, and on a link their arrivals too);
// beyond, runs of ordinary segments fold (see foldRuns).
var segBudget = 3000

// foldDataBudget is how many folded segments a page keeps the data of,
// for its fold buttons to draw; the folds beyond say they are not kept
// (a page of 100,000 segments would otherwise be tens of megabytes that
// a browser takes many seconds to open).
var foldDataBudget = 20000

// lrow is one row of a ladder as the page draws it: wire's rows, and on
// a link a row for each segment's arrival.
type lrow struct {
	kind     byte // 'l' client side, 'r' server side, 'd' a segment (its departure on a link), 'a' its arrival, 'u' an arrival whose departure was not seen
	ev       int  // index in events
	lr       wire.LadderRow
	arr      int  // for 'd': the row of its arrival, -1 for none
	ordinary bool // a segment (or its arrival) a fold may hold
	again    bool // for 'u': the same frame had arrived already (the link delivered it twice)
}

// arrivalKey names a segment seen arriving on a link: a second arrival
// with the same one is the same frame delivered twice.
type arrivalKey struct {
	from, to string
	seq, ack uint32
	len      int
	flags    string
	ipid     uint16
	mark     string
}

// ladderRows lays out connection id's rows.
func ladderRows(events []tracer.Event, id int) (client, server string, out []lrow) {
	c, s, rs := wire.LadderRows(events, id)
	arrival := map[int]bool{}
	for _, r := range rs {
		if r.Arrival >= 0 {
			arrival[r.Arrival] = true
		}
	}
	rowOf := make([]int32, len(events))
	next := 0
	lastWin := map[string]int{} // by sender: the window it last advertised
	sent := map[string]int{}    // by sender: segments sent so far
	came := map[arrivalKey]bool{}
	for i, e := range events {
		if e.Conn != id {
			continue
		}
		if next < len(rs) && rs[next].Event == i {
			r := rs[next]
			next++
			switch {
			case r.Arrow != "":
				p := e.Packet
				prev, seen := lastWin[p.From]
				lastWin[p.From] = p.Window
				sent[p.From]++
				// Ordinary: data sent once or a plain ACK, with its
				// arrival (on a link) as plain; not the handshake's
				// last ACK (the client's second segment), nor a window
				// change to or from 0.
				ord := len(p.Analysis) == 0 && !p.Resent && !r.Lost && (p.Flags == "ACK" || p.Flags == "PSH ACK") &&
					p.Window != 0 && (!seen || prev != 0) && !(p.From == "client" && sent[p.From] <= 2) &&
					(p.At == "" || r.Arrival >= 0 && len(events[r.Arrival].Packet.Analysis) == 0)
				rowOf[i] = int32(len(out))
				out = append(out, lrow{kind: 'd', ev: i, lr: r, arr: -1, ordinary: ord})
			case r.Left != "":
				out = append(out, lrow{kind: 'l', ev: i, lr: r, arr: -1})
			default:
				out = append(out, lrow{kind: 'r', ev: i, lr: r, arr: -1})
			}
			continue
		}
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" || p.At == "" || p.At == p.From {
			continue
		}
		rowOf[i] = int32(len(out))
		k := arrivalKey{p.From, p.To, p.RawSeq, p.RawAck, p.Len, p.Flags, p.IPID, p.Mark}
		if arrival[i] {
			out = append(out, lrow{kind: 'a', ev: i, arr: -1})
		} else {
			out = append(out, lrow{kind: 'u', ev: i, arr: -1, again: came[k]})
		}
		came[k] = true
	}
	for k := range out {
		if r := &out[k]; r.kind == 'd' && r.lr.Arrival >= 0 {
			r.arr = int(rowOf[r.lr.Arrival])
			out[r.arr].ordinary = r.ordinary
		}
	}
	return c.String(), s.String(), out
}

// fold is a run of rows drawn as one, and drawn whole on demand.
type fold struct {
	from, to int // rows, to exclusive
	segs     int // its segments
}

// foldRuns picks the runs of rows to fold so that at most allow
// frames are drawn (segments, and on a link their arrivals): runs of ordinary segments and their arrivals, the
// longest first, and of a run only its tail when that is enough. An
// arrow drawn outside a fold that ends in it (on a link, segments in
// flight) ends on the fold's row until the fold is drawn.
func foldRuns(rows []lrow, allow int) []fold {
	frames := countFrames(rows)
	if frames <= allow {
		return nil
	}
	var runs []fold
	for i := 0; i < len(rows); {
		if !rows[i].ordinary {
			i++
			continue
		}
		j, n := i, 0
		for ; j < len(rows) && rows[j].ordinary; j++ {
			if rows[j].kind == 'd' {
				n++
			}
		}
		if n >= 3 {
			runs = append(runs, fold{i, j, n})
		}
		i = j
	}
	// A run's rows are its frames: departures and arrivals.
	slices.SortStableFunc(runs, func(a, b fold) int { return (b.to - b.from) - (a.to - a.from) })
	var picked []fold
	for _, f := range runs {
		if frames <= allow {
			break
		}
		if need := frames - allow; f.to-f.from > need {
			// Fold only the run's tail: its head stays drawn.
			f.from = f.to - need
			f.segs = 0
			for k := f.from; k < f.to; k++ {
				if rows[k].kind == 'd' {
					f.segs++
				}
			}
			if f.segs == 0 {
				continue
			}
		}
		picked = append(picked, f)
		frames -= f.to - f.from
	}
	slices.SortFunc(picked, func(a, b fold) int { return a.from - b.from })
	// Each fold draws at most foldMax segments at a time.
	var out []fold
	for _, f := range picked {
		cur := fold{from: f.from}
		for k := f.from; k < f.to; k++ {
			if rows[k].kind == 'd' {
				cur.segs++
			}
			if cur.segs >= foldMax && k+1 < f.to {
				cur.to = k + 1
				out = append(out, cur)
				cur = fold{from: k + 1}
			}
		}
		cur.to = f.to
		if cur.segs == 0 && len(out) > 0 && out[len(out)-1].from >= f.from {
			out[len(out)-1].to = f.to // arrivals only: they join the piece before
		} else {
			out = append(out, cur)
		}
	}
	return out
}

// countFrames counts the frames rows draw: segments, and on a link
// their arrivals.
func countFrames(rows []lrow) int {
	n := 0
	for _, r := range rows {
		if r.kind == 'd' || r.kind == 'u' || r.kind == 'a' {
			n++
		}
	}
	return n
}

// foldMax is the most segments one fold holds, which its button draws.
const foldMax = 500

// seg is what a segment's element carries, as data-* attributes (the
// JSON names), in the SVG and in a fold's JSON.
type seg struct {
	Frame int    `json:"frame"`
	Time  string `json:"time"`
	At    string `json:"at,omitempty"`
	Flags string `json:"flags,omitempty"`
	Seq   string `json:"seq,omitempty"`
	Ack   string `json:"ack,omitempty"`
	Len   string `json:"len,omitempty"`
	Win   string `json:"win,omitempty"`
	Opt   string `json:"opt,omitempty"`
	Sack  string `json:"sack,omitempty"`
	An    string `json:"an,omitempty"`
	Pay   string `json:"pay,omitempty"`
	Note  string `json:"note,omitempty"`
	Of    string `json:"of,omitempty"` // an arrival: the frame of its departure
}

func (s seg) attrs(b *strings.Builder) {
	a := func(k, v string) {
		if v != "" {
			b.WriteString(" data-" + k + `="` + template.HTMLEscapeString(v) + `"`)
		}
	}
	a("frame", strconv.Itoa(s.Frame))
	a("time", s.Time)
	a("at", s.At)
	a("flags", s.Flags)
	a("seq", s.Seq)
	a("ack", s.Ack)
	a("len", s.Len)
	a("win", s.Win)
	a("opt", s.Opt)
	a("sack", s.Sack)
	a("an", s.An)
	a("pay", s.Pay)
	a("note", s.Note)
	a("of", s.Of)
}

func ms(e tracer.Event) string {
	return strconv.FormatFloat(float64(e.Elapsed.Microseconds())/1000, 'f', 3, 64)
}

func segOf(e tracer.Event) seg {
	p := e.Packet
	s := seg{Frame: p.Frame, Time: "+" + ms(e) + " ms", At: p.At, Flags: p.Flags, Note: e.Note, Pay: p.Payload,
		Seq: fmt.Sprintf("%d (raw %d)", p.Seq, p.RawSeq), Len: strconv.Itoa(p.Len), Win: strconv.Itoa(p.Window), Opt: p.Options,
		An: strings.Join(p.Analysis, ", ")}
	if strings.Contains(p.Flags, "ACK") {
		s.Ack = fmt.Sprintf("%d (raw %d)", p.Ack, p.RawAck)
	}
	s.Sack = sackBlocks(p)
	return s
}

// segClass is a segment's classes: how it is drawn (the text says it too).
func segClass(p *tracer.Packet, lost bool) string {
	c := "sg k"
	if p.Len > 0 || strings.Contains(p.Flags, "SYN") || strings.Contains(p.Flags, "FIN") {
		c = "sg d"
	}
	if p.Resent || slices.Contains(p.Analysis, "retransmission") {
		c += " rt"
	}
	if slices.Contains(p.Analysis, "duplicate-ack") {
		c += " da"
	}
	if p.Window == 0 && !strings.Contains(p.Flags, "RST") {
		c += " zw"
	}
	if strings.Contains(p.Flags, "RST") {
		c += " rs"
	}
	if lost {
		c += " lo"
	}
	return c
}

// drawn is a segment as the SVG draws it (assets/page.js's drawSeg and
// place, for a fold, the same).
type drawn struct {
	Y1    float64
	Y2    float64 // the arrival's row; Y1 on loopback
	Right bool
	Lost  bool
	Half  bool // arrival only: the departure was not seen
	Open  bool // on a link, not seen arriving, and not known lost
	R1    int  // the rows of its departure and arrival (R1 for none), counted in all the ladder's rows
	R2    int
	Cls   string
	Label string
	Title string
	Seg   seg
	Arr   *seg
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// draw writes one segment's <g>. assets/page.js's drawSeg is the same.
func (d drawn) draw(b *strings.Builder) {
	x1, x2 := float64(ladXC), float64(ladXS)
	if !d.Right {
		x1, x2 = x2, x1
	}
	y1, y2 := d.Y1, d.Y2
	if d.Half {
		x1 = (x1 + x2) / 2
	}
	if d.Lost {
		x2, y2 = (x1+x2)/2, y1+ladRH*0.6
	}
	if d.Open {
		x2, y2 = x1+(x2-x1)*0.75, y1+ladRH*0.6
	}
	fmt.Fprintf(b, `<g class="%s" tabindex="0" role="button" data-rows="%d %d %d"`, d.Cls, d.R1, d.R2, b2i(d.Right))
	d.Seg.attrs(b)
	b.WriteString("><title>" + template.HTMLEscapeString(d.Title) + "</title>")
	// The arrow, and over it a wide transparent copy that the mouse
	// can find (class h).
	for _, c := range []string{"", ` class="h"`} {
		fmt.Fprintf(b, `<line%s x1="%s" y1="%s" x2="%s" y2="%s"/>`, c, f1(x1), f1(y1), f1(x2), f1(y2))
	}
	dx, dy := x2-x1, y2-y1
	l := math.Hypot(dx, dy)
	ux, uy := dx/l, dy/l
	bx, by := x2-ux*8, y2-uy*8
	fmt.Fprintf(b, `<path d="M%s %sL%s %sL%s %sZ"/>`, f1(round1(x2)), f1(round1(y2)),
		f1(round1(bx-uy*3.5)), f1(round1(by+ux*3.5)), f1(round1(bx+uy*3.5)), f1(round1(by-ux*3.5)))
	tx, cls := x1+8, ""
	if !d.Right {
		tx, cls = x1-8, ` class="e"`
	}
	fmt.Fprintf(b, `<text x="%s" y="%s"%s>%s</text>`, f1(tx), f1(y1-4), cls, template.HTMLEscapeString(d.Label))
	if d.Lost {
		fmt.Fprintf(b, `<text class="lx" x="%s" y="%s">✗ lost</text>`, f1(x2), f1(y2+12))
	}
	if d.Arr != nil {
		b.WriteString(`<circle class="ar" r="3.5" cx="` + f1(x2) + `" cy="` + f1(y2) + `"`)
		d.Arr.attrs(b)
		b.WriteString("/>")
	}
	b.WriteString("</g>")
}

// foldData is a fold's JSON, which assets/page.js's expand draws: each
// segment of S is [row, arrival's row (rows count in all the ladder's), 1 if client → server, frame,
// flags, seq, raw seq, ack, raw ack, len, window, note (in Notes),
// arrival's frame (0: none), its note, payload, 1 on a link, SACK
// blocks, arrival's time (ms)]; T holds the times (ms) of the rows From to From+N.
type foldData struct {
	From  int      `json:"from"`
	N     int      `json:"n"`
	T     []string `json:"t"`
	Notes []string `json:"notes"`
	S     [][]any  `json:"s"`
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func rowY(k int) float64 { return ladTop + float64(k)*ladRH + ladRH/2 }

// ladderView is one connection's ladder, ready for the template.
type ladderView struct {
	SVG      template.HTML
	Segs     int // segments (departures and unmatched arrivals)
	Folded   int // segments in folds
	Kept     int // of those, the segments whose data the page keeps, for the folds' buttons
	Folds    int
	FoldJSON []foldJSON
	folds    []fold
	// AskedNote explains the mark of the states found when asked, when
	// the ladder has one.
	AskedNote string
}

type foldJSON struct {
	ID   string
	JSON template.JS
}

// askedTitle is the tooltip of a state found when asked: what its mark
// means. Other rows have none.
func askedTitle(r wire.LadderRow) string {
	if !r.Asked {
		return ""
	}
	return "<title>" + template.HTMLEscapeString(wire.AskedNote) + "</title>"
}

// ladderSVG draws connection id's ladder, folding runs beyond allow
// segments.
func ladderSVG(events []tracer.Event, id int, rows []lrow, client, server string, allow, dataAllow int) ladderView {
	var v ladderView
	folds := foldRuns(rows, allow)
	v.folds = folds
	var b strings.Builder
	h := ladTop + len(rows)*ladRH + 12
	for _, f := range folds {
		h -= (f.to - f.from - 1) * ladRH
	}
	lid := fmt.Sprintf("ld%d", id)
	nseg, nre, nda, nlost, nrst, nzw := 0, 0, 0, 0, 0, 0
	for _, r := range rows {
		if r.kind == 'd' || r.kind == 'u' && !r.again {
			nseg++
			p := events[r.ev].Packet
			if p.Resent || slices.Contains(p.Analysis, "retransmission") {
				nre++
			}
			if slices.Contains(p.Analysis, "duplicate-ack") {
				nda++
			}
			if r.lr.Lost {
				nlost++
			}
			if strings.Contains(p.Flags, "RST") {
				nrst++
			}
			if p.Window == 0 && !strings.Contains(p.Flags, "RST") {
				nzw++
			}
		}
	}
	v.Segs = nseg
	desc := fmt.Sprintf("Client %s on the left, server %s on the right, time going down. %d segment%s", client, server, nseg, map[bool]string{true: "", false: "s"}[nseg == 1])
	var extra []string
	for _, c := range []struct {
		n    int
		s, p string
	}{{nre, "retransmission", "retransmissions"}, {nda, "duplicate ACK", "duplicate ACKs"}, {nlost, "lost on the link", "lost on the link"},
		{nrst, "RST", "RSTs"}, {nzw, "zero window", "zero windows"}} {
		if c.n == 1 {
			extra = append(extra, "1 "+c.s)
		} else if c.n > 1 {
			extra = append(extra, fmt.Sprintf("%d %s", c.n, c.p))
		}
	}
	if len(extra) > 0 {
		desc += " (" + strings.Join(extra, ", ") + ")"
	}
	desc += "."
	// The states found when asked, which only the mark tells apart.
	var asked []string
	for _, r := range rows {
		if r.lr.Asked {
			side, label := "server", r.lr.Right
			if r.kind == 'l' {
				side, label = "client", r.lr.Left
			}
			asked = append(asked, fmt.Sprintf("the %s's %s at %s ms", side, strings.TrimSuffix(label, wire.AskedMark), ms(events[r.ev])))
		}
	}
	if len(asked) > 0 {
		desc += " Found when asked, some time after the change: " + strings.Join(asked, ", ") + "."
	}
	fmt.Fprintf(&b, `<svg class="ld" id="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="%st %sd">`, lid, ladW, h, ladW, h, lid, lid)
	fmt.Fprintf(&b, `<title id="%st">Connection #%d: ladder of its segments</title><desc id="%sd">%s</desc>`, lid, id, lid, template.HTMLEscapeString(desc))
	fmt.Fprintf(&b, `<text class="hc e" x="%d" y="16">client %s</text><text class="hs" x="%d" y="16">server %s</text><text class="mu" x="4" y="34">ms</text>`,
		ladXC+6, template.HTMLEscapeString(client), ladXS-6, template.HTMLEscapeString(server))
	fmt.Fprintf(&b, `<line class="vl c" x1="%d" y1="24" x2="%d" y2="%d"/><line class="vl s" x1="%d" y1="24" x2="%d" y2="%d"/>`, ladXC, ladXC, h-4, ladXS, ladXS, h-4)
	// the departures' and arrivals' data, by row
	segAt := func(k int, yOf func(int) float64) drawn {
		r := rows[k]
		e := events[r.ev]
		p := e.Packet
		d := drawn{R1: k, R2: k, Y1: yOf(k), Y2: yOf(k), Right: p.From == "client", Lost: r.lr.Lost, Cls: segClass(p, r.lr.Lost), Seg: segOf(e)}
		label := wire.SegmentLabel(p)
		switch {
		case r.kind == 'u' && r.again:
			// Not sent again: the same frame (its IP ID and numbers)
			// arrived before; the analysis at this end sees it twice.
			d.Half = true
			d.Cls = "sg k hf"
			d.Seg.Of = "the same frame, which had arrived already"
			label += " (arrived again: the link delivered this frame twice; its sender sent it once)"
		case r.kind == 'u':
			d.Half = true
			d.Cls += " hf"
			d.Seg.Of = "not captured"
			label += " (arrival; its departure was not captured)"
		}
		switch {
		case r.again:
		case len(p.Analysis) > 0 && p.Resent && !slices.Contains(p.Analysis, "retransmission"):
			label += " · sent again, " + strings.Join(p.Analysis, ", ")
		case len(p.Analysis) > 0:
			label += " · " + strings.Join(p.Analysis, ", ")
		case p.Resent:
			label += " · sent again"
		}
		d.Label = label
		d.Title = label
		if r.lr.Lost {
			d.Title += " · lost: it left and never arrived"
		}
		if p.At != "" && r.kind == 'd' && r.arr < 0 && !r.lr.Lost {
			d.Open = true
			d.Cls += " un"
			d.Label += " · not seen arriving"
			d.Title = d.Label + " (the other end's capture did not see it: lost, or on its way when the capture stopped)"
		}
		if r.arr >= 0 {
			d.R2, d.Y2 = r.arr, yOf(r.arr)
			a := segOf(events[r.lr.Arrival])
			a.Of = strconv.Itoa(p.Frame)
			d.Arr = &a
		}
		return d
	}
	// pos: each row's place on the page, a fold's rows all on its one.
	pos := make([]int, len(rows))
	fi, p := 0, 0
	for k := range rows {
		if fi < len(folds) && k >= folds[fi].to {
			fi++
			p++
		}
		pos[k] = p
		if fi < len(folds) && k >= folds[fi].from {
			continue
		}
		p++
	}
	yOf := func(k int) float64 { return ladTop + float64(pos[k])*ladRH + ladRH/2 }
	fi = 0
	for k := 0; k < len(rows); k++ {
		if fi < len(folds) && folds[fi].from == k {
			f := folds[fi]
			fi++
			lo, hi := math.MaxInt, 0
			js := foldData{From: f.from, N: f.to - f.from}
			notes := map[string]int{}
			note := func(n string) int {
				k, ok := notes[n]
				if !ok {
					k = len(js.Notes)
					notes[n] = k
					js.Notes = append(js.Notes, n)
				}
				return k
			}
			for j := f.from; j < f.to; j++ {
				e := events[rows[j].ev]
				js.T = append(js.T, ms(e))
				lo, hi = min(lo, e.Packet.Frame), max(hi, e.Packet.Frame)
				r := rows[j]
				if r.kind != 'd' {
					continue
				}
				p := e.Packet
				k2, afr, anote, ams := j, 0, 0, ""
				if r.arr >= 0 {
					a := events[r.lr.Arrival]
					k2, afr, anote, ams = r.arr, a.Packet.Frame, note(a.Note), ms(a)
				}
				sack := sackBlocks(p)
				js.S = append(js.S, []any{j, k2, b2i(p.From == "client"), p.Frame, p.Flags, p.Seq, p.RawSeq, p.Ack, p.RawAck,
					p.Len, p.Window, note(e.Note), afr, anote, p.Payload, b2i(p.At != ""), sack, ams})
			}
			fid := fmt.Sprintf("%sf%d", lid, fi)
			kept := v.Kept+f.segs <= dataAllow
			if kept {
				data, _ := json.Marshal(js)
				v.FoldJSON = append(v.FoldJSON, foldJSON{fid, template.JS(data)})
				v.Kept += f.segs
			}
			v.Folded += f.segs
			v.Folds++
			y0 := ladTop + pos[k]*ladRH
			yc := y0 + ladRH/2
			if kept {
				fmt.Fprintf(&b, `<g class="fd" data-fold="%s" data-r="%d" data-n="%d"><rect x="%d" y="%d" width="%d" height="%d"/><text x="%d" y="%d">… %d segments, frames %d–%d (ordinary data and ACKs: see the graph)</text>`+
					`<g class="fb" role="button" tabindex="0" aria-label="draw the %d segments of frames %d–%d"><rect x="%d" y="%d" width="46" height="16" rx="3"/><text x="%d" y="%d">draw</text></g></g>`,
					fid, f.from, f.to-f.from, 60, y0+2, ladW-124, ladRH-4, 66, yc+4, f.segs, lo, hi, f.segs, lo, hi, ladW-58, y0+2, ladW-48, yc+4)
			} else {
				fmt.Fprintf(&b, `<g class="fd" data-fold="%s" data-r="%d" data-n="%d"><rect x="%d" y="%d" width="%d" height="%d"/><text x="%d" y="%d">… %d segments, frames %d–%d (ordinary data and ACKs, not kept on this page: see the graph)</text></g>`,
					fid, f.from, f.to-f.from, 60, y0+2, ladW-64, ladRH-4, 66, yc+4, f.segs, lo, hi)
			}
			k = f.to - 1
			continue
		}
		r := rows[k]
		y := yOf(k)
		fmt.Fprintf(&b, `<text class="mu" data-r="%d" x="4" y="%s">%s</text>`, k, f1(y+4), ms(events[r.ev]))
		switch r.kind {
		case 'l':
			fmt.Fprintf(&b, `<text class="e ap" data-r="%d" x="%d" y="%s">%s%s</text>`, k, ladXC-8, f1(y+4), askedTitle(r.lr), template.HTMLEscapeString(r.lr.Left))
		case 'r':
			fmt.Fprintf(&b, `<text class="ap" data-r="%d" x="%d" y="%s">%s%s</text>`, k, ladXS+8, f1(y+4), askedTitle(r.lr), template.HTMLEscapeString(r.lr.Right))
		case 'd', 'u':
			segAt(k, yOf).draw(&b)
		}
	}
	b.WriteString("</svg>")
	v.SVG = template.HTML(b.String())
	if len(asked) > 0 {
		v.AskedNote = wire.AskedNote
	}
	return v
}

// sackBlocks are the SACK blocks of p (its Mark holds them raw), each
// relative to the peer's initial sequence number as p's Ack is, with
// the raw numbers after: "7241-8689 (raw 3744159898-3744161346)".
func sackBlocks(p *tracer.Packet) string {
	base := p.RawAck - p.Ack
	var out []string
	for _, f := range strings.Split(p.Mark, " sack ")[1:] {
		l, r, ok := strings.Cut(strings.Fields(f)[0], "-")
		lv, err1 := strconv.ParseUint(l, 10, 32)
		rv, err2 := strconv.ParseUint(r, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, fmt.Sprintf("%d-%d (raw %d-%d)", uint32(lv)-base, uint32(rv)-base, lv, rv))
	}
	return strings.Join(out, ", ")
}
