package page

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/wire"
)

// The time–sequence graph, as tcptrace and Stevens draw it: for each
// direction of a connection that carried data, time across, the
// sender's relative sequence number up; each data segment a vertical
// bar from its first byte to its end at the time it left, the
// receiver's cumulative ACK as a step line and the receive window it
// advertised (ACK + window) as a second one above it. The marks that
// teach (a segment sent again, one the link lost, a duplicate ACK, a
// SACK block, a zero window) are elements of their own with data-ref,
// the segment's frame, for the page's hover note; the ordinary ones are
// merged into one path per kind once there are many, so that 100,000
// segments stay a few MB.

// gSeg is a data segment as its sender's end captured it.
type gSeg struct {
	t        time.Duration
	seq, end int64 // relative: first byte, and one past the last
	frame    int
	resent   bool // its sequence space had been sent before
	lost     bool // it left and never arrived (on a link)
}

// gAck is an ACK of the receiver's, as the data sender's end captured it.
type gAck struct {
	t     time.Duration
	ack   int64
	win   int64
	frame int
	dup   bool       // Analysis "duplicate-ack"
	zero  bool       // it advertised a zero window
	sacks [][2]int64 // SACK blocks, raw numbers until gCollect turns them relative
}

// gDir is one direction of a connection: the data one side sent and
// the ACKs the other side sent back.
type gDir struct {
	from, to string
	base     uint32 // the sender's RawSeq − Seq: raw numbers to relative
	segs     []gSeg
	acks     []gAck
	high     int64 // the end of the highest byte sent so far
	link     bool  // packets carry At: captured at both ends of a link
}

// gMaxRefs bounds the ordinary marks (segments that teach nothing in
// particular) that keep a data-ref of their own.
const gMaxRefs = 2000

// seqGraph returns connection conn's time–sequence graphs, one per
// direction that carried data, the larger first, each a <figure> with
// its zoom buttons and an <svg>; "" when no data segment was captured.
func seqGraph(events []tracer.Event, conn int) template.HTML {
	dirs := gCollect(events, conn)
	if len(dirs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<div class="g-graphs">`)
	for _, d := range dirs {
		gDrawSeq(&b, d, conn)
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// gCollect gathers the segments and ACKs of conn's two directions and
// returns those that carried data, the one with more bytes first.
func gCollect(events []tracer.Event, conn int) []*gDir {
	dirs := map[string]*gDir{
		"client": {from: "client", to: "server"},
		"server": {from: "server", to: "client"},
	}
	// First count, so that the slices are made once: a capture may
	// hold 100,000 segments.
	nSegs, nAcks := map[string]int{}, map[string]int{}
	for i := range events {
		e := &events[i]
		if p := e.Packet; e.Conn == conn && e.Phase == tracer.PhasePacket && p != nil && p.Proto == "tcp" {
			if p.Len > 0 && (p.At == "" || p.At == p.From) {
				nSegs[p.From]++
			}
			if p.At == "" || p.At == p.To {
				nAcks[p.To]++
			}
		}
	}
	for side, d := range dirs {
		if nSegs[side] == 0 {
			delete(dirs, side)
			continue
		}
		d.segs, d.acks = make([]gSeg, 0, nSegs[side]), make([]gAck, 0, nAcks[side])
	}
	if len(dirs) == 0 {
		return nil
	}
	lost := wire.LostCopies(events, conn)
	for i := range events {
		e := &events[i]
		p := e.Packet
		if e.Conn != conn || e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" {
			continue
		}
		// Where each segment shows twice (a link), the graph takes the
		// data where it left and the ACKs where they reached the data's
		// sender: what the sender knew when.
		if d := dirs[p.From]; d != nil && (p.At == "" || p.At == p.From) {
			d.base = p.RawSeq - p.Seq
			d.link = d.link || p.At != ""
			if p.Len > 0 {
				s := gSeg{t: e.Elapsed, seq: int64(p.Seq), end: int64(p.Seq) + int64(p.Len), frame: p.Frame, lost: lost[i]}
				s.resent = gResent(p, s.end, d.high)
				d.high = max(d.high, s.end)
				d.segs = append(d.segs, s)
			}
		}
		if d := dirs[p.To]; d != nil && (p.At == "" || p.At == p.To) &&
			strings.Contains(p.Flags, "ACK") && !strings.Contains(p.Flags, "RST") {
			d.acks = append(d.acks, gAck{
				t: e.Elapsed, ack: int64(p.Ack), win: int64(p.Window), frame: p.Frame,
				dup:   slices.Contains(p.Analysis, "duplicate-ack"),
				zero:  p.Window == 0,
				sacks: gSackBlocks(p.Mark),
			})
		}
	}
	var out []*gDir
	for _, side := range []string{"client", "server"} {
		d := dirs[side]
		if d == nil || len(d.segs) == 0 {
			continue
		}
		for i := range d.acks {
			for j, s := range d.acks[i].sacks {
				d.acks[i].sacks[j] = [2]int64{gRel(s[0], d.base), gRel(s[1], d.base)}
			}
		}
		out = append(out, d)
	}
	if len(out) == 2 && out[1].bytes() > out[0].bytes() {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// gRel turns a raw sequence number into one relative to base.
func gRel(raw int64, base uint32) int64 { return int64(uint32(raw) - base) }

// gResent reports whether a data segment ending at end resends
// sequence space: the annotator's analysis says so, or its bytes had all
// been sent already (high: the end of the highest sent before).
func gResent(p *tracer.Packet, end, high int64) bool {
	for _, a := range p.Analysis {
		switch a {
		case "retransmission", "spurious-retransmission", "fast-retransmission":
			return true
		case "out-of-order":
			// Wireshark calls some resends out of order; at the
			// sender's own end, bytes below the highest sent were sent
			// before.
			if int64(p.Seq) < high {
				return true
			}
		}
	}
	return end <= high
}

// gSackBlocks parses the SACK blocks of a Mark ("ts A B sack L-R L-R"),
// raw numbers.
func gSackBlocks(mark string) [][2]int64 {
	f := strings.Fields(mark)
	i := slices.Index(f, "sack")
	if i < 0 {
		return nil
	}
	var out [][2]int64
	for _, blk := range f[i+1:] {
		l, r, ok := strings.Cut(blk, "-")
		if !ok {
			break
		}
		lv, err1 := strconv.ParseUint(l, 10, 32)
		rv, err2 := strconv.ParseUint(r, 10, 32)
		if err1 != nil || err2 != nil {
			break
		}
		out = append(out, [2]int64{int64(lv), int64(rv)})
	}
	return out
}

// bytes is how much sequence space the direction's data covered.
func (d *gDir) bytes() int64 {
	lo := d.segs[0].seq
	for _, s := range d.segs {
		lo = min(lo, s.seq)
	}
	return d.high - lo
}

// Layout of a graph, in px: the whole SVG, and the plot's margins.
const (
	gW      = 760
	gH      = 420
	gLeft   = 76
	gRight  = 48
	gTop    = 30
	gBottom = 84
	gPW     = gW - gLeft - gRight
	gPH     = gH - gTop - gBottom
)

// gAxis maps data values to px along one axis.
type gAxis struct {
	lo, hi   float64 // the data values at the plot's edges
	from, to float64 // their px
}

func (a gAxis) px(v float64) float64 {
	if a.hi == a.lo {
		return (a.from + a.to) / 2
	}
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// gTenths rounds px to tenths of a px, the precision of the paths.
func gTenths(v float64) int64 { return int64(math.Round(v * 10)) }

// gNum writes tenths of a px as a short number: 1234 → "123.4", 5 → ".5".
func gNum(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	if t >= 10 {
		b = strconv.AppendInt(b, t/10, 10)
	}
	if t%10 != 0 || t < 10 {
		if t < 10 && t%10 == 0 {
			return append(b, '0')
		}
		b = append(b, '.')
		b = strconv.AppendInt(b, t%10, 10)
	}
	return b
}

// gPath builds a path's d attribute from absolute points in px, written
// as short relative moves between points rounded to tenths, so that
// many sub-paths stay small and rounding does not add up.
type gPath struct {
	b      []byte
	x, y   int64 // the current point, in tenths
	opened bool
}

func (p *gPath) cmd(c byte, vs ...int64) {
	p.b = append(p.b, c)
	for i, v := range vs {
		if i > 0 && v >= 0 {
			p.b = append(p.b, ' ')
		}
		p.b = gNum(p.b, v)
	}
}

// move starts a sub-path at (x, y).
func (p *gPath) move(x, y float64) {
	tx, ty := gTenths(x), gTenths(y)
	if !p.opened {
		p.cmd('M', tx, ty)
		p.opened = true
	} else {
		p.cmd('m', tx-p.x, ty-p.y)
	}
	p.x, p.y = tx, ty
}

// line draws to (x, y), as h or v when it can.
func (p *gPath) line(x, y float64) {
	tx, ty := gTenths(x), gTenths(y)
	switch {
	case tx == p.x && ty == p.y:
		return
	case ty == p.y:
		p.cmd('h', tx-p.x)
	case tx == p.x:
		p.cmd('v', ty-p.y)
	default:
		p.cmd('l', tx-p.x, ty-p.y)
	}
	p.x, p.y = tx, ty
}

// bar draws a vertical bar at x from y0 down to y1 (y1 < y0 in px):
// a tenth of a px at least, so that it shows.
func (p *gPath) bar(x, y0, y1 float64) {
	p.move(x, y0)
	if gTenths(y1) >= p.y {
		y1 = float64(p.y-1) / 10
	}
	p.line(x, y1)
}

func (p *gPath) String() string { return string(p.b) }

// gTicks returns about n round values between lo and hi, and their step.
func gTicks(lo, hi float64, n int) ([]float64, float64) {
	if !(hi > lo) {
		return []float64{lo}, 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	switch r := raw / mag; {
	case r < 1.5:
		step = mag
	case r < 3.5:
		step = 2 * mag
	case r < 7.5:
		step = 5 * mag
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out, step
}

// gTickLabel writes a tick's value with as many decimals as its step
// needs, and a thousands separator.
func gTickLabel(v, step float64) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if s == "-0" {
		s = "0"
	}
	whole, frac, _ := strings.Cut(s, ".")
	if frac != "" {
		return gComma(whole) + "." + frac
	}
	return gComma(whole)
}

// gComma puts commas between thousands of an integer's digits.
func gComma(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// gInt writes n with thousands separators.
func gInt[T ~int | ~int64 | ~uint32 | ~uint64](n T) string {
	return gComma(strconv.FormatInt(int64(n), 10))
}

// gEsc escapes text for an element or an attribute.
var gEsc = template.HTMLEscapeString

// gTimeUnit picks ms, or s for spans of 10 s and more, and the factor
// from a Duration.
func gTimeUnit(span time.Duration) (string, float64) {
	if span >= 10*time.Second {
		return "s", float64(time.Second)
	}
	return "ms", float64(time.Millisecond)
}

// gDur says a duration in words: "612 ms", "1.52 s".
func gDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	case d >= 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 0, 64) + " ms"
	default:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) + " ms"
	}
}

// gPlural writes n and a noun, with an s when n is not 1.
func gPlural[T ~int | ~int64 | ~uint32](n T, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return gInt(n) + " " + noun + "s"
}

// gFrame opens a zoomable figure: its toolbar, and the svg's start with
// what graph.js needs to redraw the time axis (the plot's x range in
// px, the time range in unit). It writes up to the plot's zoomed group,
// whose content the caller writes; gFrameEnd closes it.
func gFrame(b *strings.Builder, id, kind, title, desc string, x gAxis, unit string) {
	fmt.Fprintf(b, `<figure class="g-zoom g-%s">`, kind)
	b.WriteString(`<div class="g-tools" role="group" aria-label="zoom the time axis">` +
		`<button type="button" class="g-in" aria-label="zoom in" title="zoom in (or drag across the graph, or Ctrl or Shift and the wheel)">+</button>` +
		`<button type="button" class="g-out" aria-label="zoom out" title="zoom out">−</button>` +
		`<button type="button" class="g-reset" aria-label="show the whole time" title="show the whole time (or double-click the graph)">reset</button></div>`)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="g-svg" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d"`+
		` data-x0="%g" data-pw="%g" data-t0="%s" data-t1="%s" data-unit="%s">`,
		gW, gH, id, id, x.from, x.to-x.from, strconv.FormatFloat(x.lo, 'g', 12, 64), strconv.FormatFloat(x.hi, 'g', 12, 64), unit)
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, gEsc(title), id, gEsc(desc))
}

// gPlotOpen opens the group of the plot's content, which graph.js
// stretches, after the grid lines of the left axis y.
func gPlotOpen(b *strings.Builder, y gAxis) {
	ticks, _ := gTicks(y.lo, y.hi, 6)
	for _, v := range ticks {
		fmt.Fprintf(b, `<path class="g-grid" d="M%d %.1fh%d"/>`, gLeft, y.px(v), gPW)
	}
	b.WriteString(`<g class="g-zoomed">`)
}

// gPlotClose closes the plot's content and covers what a zoom moved
// out of the plot with the page's background (the page refers to
// nothing by url(), so no clip-path), then writes the title over it.
// The axes come after.
func gPlotClose(b *strings.Builder, title string) {
	b.WriteString(`</g>`)
	fmt.Fprintf(b, `<path class="g-mask" d="M0 0H%d V%d H0z M0 %d H%d V%d H0z M0 0H%d V%d H0z M%d 0H%d V%d H%dz"/>`,
		gW, gTop-6, gTop+gPH+6, gW, gH, gLeft, gH, gLeft+gPW, gW, gH, gLeft+gPW)
	fmt.Fprintf(b, `<rect class="g-plot" x="%d" y="%d" width="%d" height="%d"/>`, gLeft, gTop, gPW, gPH)
	fmt.Fprintf(b, `<text class="g-head" x="%d" y="18">%s</text>`, gLeft, gEsc(title))
}

// gXAxis draws the time axis's ticks and labels (graph.js redraws them
// on zoom, in a g of class g-xaxis) and its title.
func gXAxis(b *strings.Builder, x gAxis, unit, label string) {
	b.WriteString(`<g class="g-xaxis">`)
	ticks, step := gTicks(x.lo, x.hi, 7)
	for _, v := range ticks {
		px := x.px(v)
		fmt.Fprintf(b, `<path class="g-tick" d="M%.1f %dv5"/><text class="g-tl" x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			px, gTop+gPH, px, gTop+gPH+18, gTickLabel(v, step))
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(b, `<text class="g-label" x="%d" y="%d" text-anchor="middle">%s (%s)</text>`, gLeft+gPW/2, gTop+gPH+38, gEsc(label), unit)
}

// gYAxis draws a value axis at the left (right false) or the right of
// the plot (gPlotOpen draws the left one's grid lines).
func gYAxis(b *strings.Builder, y gAxis, right bool, label string, scale float64) {
	ticks, step := gTicks(y.lo, y.hi, 6)
	for _, v := range ticks {
		py := y.px(v)
		if right {
			fmt.Fprintf(b, `<path class="g-tick" d="M%d %.1fh5"/><text class="g-tl" x="%d" y="%.1f">%s</text>`,
				gLeft+gPW, py, gLeft+gPW+7, py+4, gTickLabel(v/scale, step/scale))
			continue
		}
		fmt.Fprintf(b, `<path class="g-tick" d="M%d %.1fh5"/><text class="g-tl" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			gLeft-5, py, gLeft-7, py+4, gTickLabel(v/scale, step/scale))
	}
	if right {
		fmt.Fprintf(b, `<text class="g-label" transform="translate(%d %d) rotate(90)" text-anchor="middle">%s</text>`, gW-16, gTop+gPH/2, gEsc(label))
	} else {
		fmt.Fprintf(b, `<text class="g-label" transform="translate(14 %d) rotate(-90)" text-anchor="middle">%s</text>`, gTop+gPH/2, gEsc(label))
	}
}

// gLegendItem is one entry of a legend: a swatch drawn with class and
// shape d (a path around 0,0), and its words.
type gLegendItem struct {
	class, d, text string
}

// gLegend draws the legend in rows under the time axis.
func gLegend(b *strings.Builder, items []gLegendItem) {
	x, y := float64(gLeft), float64(gTop+gPH+58)
	b.WriteString(`<g class="g-legend">`)
	for _, it := range items {
		w := 26 + 6.4*float64(len([]rune(it.text)))
		if x+w > gW-8 && x > gLeft {
			x, y = gLeft, y+18
		}
		fmt.Fprintf(b, `<g class="%s" transform="translate(%.1f %.1f)"><path d="%s"/></g><text class="g-lt" x="%.1f" y="%.1f">%s</text>`,
			it.class, x+8, y-4, it.d, x+20, y, gEsc(it.text))
		x += w + 14
	}
	b.WriteString(`</g>`)
}

// gPin writes a mark of fixed size at (x, y) in the zoomed group:
// graph.js keeps its shape when the time axis stretches.
func gPin(b *strings.Builder, class string, frame int, x, y float64, d string) {
	b.WriteString(`<g class="g-pin `)
	b.WriteString(class)
	b.WriteString(`"`)
	if frame > 0 {
		fmt.Fprintf(b, ` data-ref="%d"`, frame)
	}
	fmt.Fprintf(b, ` transform="translate(%.1f %.1f)"><path d="%s"/></g>`, x, y, d)
}

// The shapes of the marks, around 0,0.
const (
	gShapeLost   = "M-4-4l8 8m0-8l-8 8"          // ✗
	gShapeResent = "M0-3.5a3.5 3.5 0 1 0 .01 0z" // ○, on top of the bar
	gShapeDup    = "M-4 0h8M0-4v8"               // +
	gShapeZero   = "M0-4l4 4-4 4-4-4z"           // ◇
	gShapeBar    = "M0-6v12"                     // a data segment
	gShapeLine   = "M-7 0h14"                    // a line
)

// gDrawSeq draws one direction's graph.
func gDrawSeq(b *strings.Builder, d *gDir, conn int) {
	// Time across, from the first mark to the last.
	t0, t1 := d.segs[0].t, d.segs[0].t
	for _, s := range d.segs {
		t0, t1 = min(t0, s.t), max(t1, s.t)
	}
	first, last := t0, t1 // of the data
	for _, a := range d.acks {
		t0, t1 = min(t0, a.t), max(t1, a.t)
	}
	unit, per := gTimeUnit(t1 - t0)
	pad := float64(t1-t0) * 0.02
	if pad == 0 {
		pad = float64(time.Millisecond)
	}
	x := gAxis{lo: (float64(t0) - pad) / per, hi: (float64(t1) + pad) / per, from: gLeft, to: gLeft + gPW}
	tx := func(t time.Duration) float64 { return x.px(float64(t) / per) }

	// Sequence numbers up: the data and the ACKs, and the window line
	// when it does not squash them (else it runs off the top).
	lo, top := d.segs[0].seq, d.high
	winTop := int64(0)
	for _, s := range d.segs {
		lo = min(lo, s.seq)
	}
	for _, a := range d.acks {
		lo, top = min(lo, a.ack), max(top, a.ack)
		for _, s := range a.sacks {
			top = max(top, s[1])
		}
		winTop = max(winTop, a.ack+a.win)
	}
	if span := top - lo; winTop > top {
		top = min(winTop, top+span/2+1)
	}
	clipped := winTop > top
	yPad := float64(top-lo) * 0.03
	scale, yUnit := 1.0, "bytes"
	if top-lo >= 20000 {
		scale, yUnit = 1000, "kB"
	}
	y := gAxis{lo: float64(lo) - yPad, hi: float64(top) + yPad, from: gTop + gPH, to: gTop}
	ty := func(v int64) float64 { return y.px(float64(v)) }

	// What the graph holds, counted for its words.
	var resent, lost, ordinary, dups, sacked, zeros int
	for _, s := range d.segs {
		if s.resent {
			resent++
		}
		if s.lost {
			lost++
		}
		if !s.resent && !s.lost {
			ordinary++
		}
	}
	for _, a := range d.acks {
		if a.dup {
			dups++
		}
		if len(a.sacks) > 0 {
			sacked++
		}
		if a.zero {
			zeros++
		}
	}
	ordinaryRefs := ordinary <= gMaxRefs

	id := fmt.Sprintf("g-seq-%d-%s", conn, d.from)
	title := fmt.Sprintf("%s → %s, connection #%d: sequence numbers over time", d.from, d.to, conn)
	var desc strings.Builder
	fmt.Fprintf(&desc, "%s → %s: %s in %s", d.from, d.to, gPlural(d.bytes(), "byte"), gPlural(len(d.segs), "segment"))
	if len(d.segs) > 1 && last > first {
		fmt.Fprintf(&desc, " over %s", gDur(last-first))
	}
	if resent > 0 {
		fmt.Fprintf(&desc, "; %d sent again", resent)
	}
	if lost > 0 {
		fmt.Fprintf(&desc, "; %d lost on the link", lost)
	}
	desc.WriteString(". ")
	fmt.Fprintf(&desc, "Each data segment is a vertical bar from its first byte to its last at the time it left the %s", d.from)
	if d.link {
		fmt.Fprintf(&desc, " (as captured at the %s's end of the link)", d.from)
	}
	if len(d.acks) > 0 {
		reached := "as captured"
		if d.link {
			reached = "as it reached the " + d.from
		}
		fmt.Fprintf(&desc, "; the step line below is the %s's cumulative ACK %s, the one above it the ACK plus the receive window the %s advertised", d.to, reached, d.to)
		if clipped {
			fmt.Fprintf(&desc, " (it runs above the top of the graph, up to byte %s)", gInt(winTop))
		}
	}
	desc.WriteString(".")
	if dups > 0 {
		fmt.Fprintf(&desc, " %s (+).", gPlural(dups, "duplicate ACK"))
	}
	if sacked > 0 {
		fmt.Fprintf(&desc, " %s with SACK blocks (short bars at the bytes they cover).", gPlural(sacked, "ACK"))
	}
	if zeros > 0 {
		verb := " advertise"
		if zeros == 1 {
			verb = " advertises"
		}
		fmt.Fprintf(&desc, " %s%s a zero window (◇).", gPlural(zeros, "ACK"), verb)
	}
	desc.WriteString(" Hover over a mark for its segment's note")
	if ordinaryRefs {
		desc.WriteString(".")
	} else {
		fmt.Fprintf(&desc, ": the segments sent again or lost, the duplicate ACKs, the SACK blocks and the zero windows have one; the other %s, too many to keep apart, do not.", gPlural(ordinary, "segment"))
	}

	gFrame(b, id, "seq", title, desc.String(), x, unit)

	gPlotOpen(b, y)
	// The window and ACK lines, steps: flat until the next ACK moves them.
	if len(d.acks) > 0 {
		var win, ack gPath
		for i, a := range d.acks {
			if i == 0 {
				ack.move(tx(a.t), ty(a.ack))
				win.move(tx(a.t), ty(a.ack+a.win))
				continue
			}
			ack.line(tx(a.t), ack.yf())
			ack.line(tx(a.t), ty(a.ack))
			win.line(tx(a.t), win.yf())
			win.line(tx(a.t), ty(a.ack+a.win))
		}
		fmt.Fprintf(b, `<path class="g-win" d="%s"/><path class="g-ack" d="%s"/>`, win.String(), ack.String())
	}
	// Ordinary segments: one element each while they are few, else one
	// path.
	var bars gPath
	for _, s := range d.segs {
		if s.resent || s.lost {
			continue
		}
		if ordinaryRefs {
			fmt.Fprintf(b, `<path class="g-seg" data-ref="%d" d="M%.1f %.1fV%.1f"/>`, s.frame, tx(s.t), ty(s.seq), ty(s.end))
			continue
		}
		bars.bar(tx(s.t), ty(s.seq), ty(s.end))
	}
	if len(bars.b) > 0 {
		fmt.Fprintf(b, `<path class="g-seg" d="%s"/>`, bars.String())
	}
	// SACK blocks: a short bar beside the ACK that carried them.
	for _, a := range d.acks {
		for _, s := range a.sacks {
			fmt.Fprintf(b, `<path class="g-sack" data-ref="%d" d="M%.1f %.1fV%.1f"/>`, a.frame, tx(a.t), ty(s[0]), ty(s[1]))
		}
	}
	// The segments that teach, on top.
	for _, s := range d.segs {
		if !s.resent && !s.lost {
			continue
		}
		class := "g-seg"
		if s.resent {
			class = "g-resent"
		}
		if s.lost {
			class += " g-lostseg"
		}
		fmt.Fprintf(b, `<path class="%s" data-ref="%d" d="M%.1f %.1fV%.1f"/>`, class, s.frame, tx(s.t), ty(s.seq), ty(s.end))
		if s.resent {
			gPin(b, "g-resent", s.frame, tx(s.t), ty(s.end)-5, gShapeResent)
		}
		if s.lost {
			gPin(b, "g-lost", s.frame, tx(s.t), ty((s.seq+s.end)/2), gShapeLost)
		}
	}
	for _, a := range d.acks {
		if a.dup {
			gPin(b, "g-dup", a.frame, tx(a.t), ty(a.ack), gShapeDup)
		}
		if a.zero {
			gPin(b, "g-zwin", a.frame, tx(a.t), ty(a.ack), gShapeZero)
		}
	}
	gPlotClose(b, title)
	gYAxis(b, y, false, "sequence number ("+yUnit+", relative)", scale)
	gXAxis(b, x, unit, "time since the trace began")
	b.WriteString(`<rect class="g-sel" x="0" y="0" width="0" height="0"/>`)

	items := []gLegendItem{{"g-seg", gShapeBar, "data segment"}}
	if resent > 0 {
		items = append(items, gLegendItem{"g-resent", gShapeResent, "sent again"})
	}
	if lost > 0 {
		items = append(items, gLegendItem{"g-lost", gShapeLost, "lost on the link"})
	}
	if len(d.acks) > 0 {
		win := "ACK + window"
		if clipped {
			win += " (runs off the top)"
		}
		items = append(items, gLegendItem{"g-ack", gShapeLine, d.to + "'s ACK"}, gLegendItem{"g-win", gShapeLine, win})
	}
	if sacked > 0 {
		items = append(items, gLegendItem{"g-sack", gShapeBar, "SACK block"})
	}
	if dups > 0 {
		items = append(items, gLegendItem{"g-dup", gShapeDup, "duplicate ACK"})
	}
	if zeros > 0 {
		items = append(items, gLegendItem{"g-zwin", gShapeZero, "zero window"})
	}
	gLegend(b, items)
	b.WriteString(`</svg></figure>`)
}

// yf is the current point's y in px.
func (p *gPath) yf() float64 { return float64(p.y) / 10 }
