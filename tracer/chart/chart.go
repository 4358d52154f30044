package chart

import (
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fatih/color"

	"tcptour/tracer"
)

// Point is one value of a series: Y at X.
type Point struct{ X, Y float64 }

// Series is one line of a chart.
type Series struct {
	// Name is what the legend calls it: "cwnd".
	Name string
	// Points are its values, in any order (the chart sorts them by X).
	// A point whose X or Y is NaN or infinite is left out.
	Points []Point
}

// Chart is a chart of one or more series against a common X (time,
// say), drawn in a terminal's characters: a title, the Y unit, the plot
// with the Y values on its left, the X axis and its values, and a
// legend. The zero value, with Series, is a plain-ASCII chart of
// [tracer.DefaultWidth] columns.
type Chart struct {
	// Title is the first line (wrapped to the width); none when empty.
	Title string
	// Series are the lines drawn. Where two meet in a character, the
	// one listed first is shown.
	Series []Series
	// XUnit follows the X values below the axis ("ms"); YUnit is printed
	// above the Y values ("segments").
	XUnit, YUnit string
	// Width is the width of the output in columns: every line fits in
	// it. 0 means [tracer.DefaultWidth]; less than [tracer.MinWidth]
	// means MinWidth. [tracer.TerminalWidth] gives a terminal's.
	Width int
	// Height is the height of the plot in rows, axis and labels left
	// out: 0 means 12, less than 3 means 3.
	Height int
	// Unicode draws with box-drawing characters and, when the series
	// can be told apart by colour (Color, or a single series), with
	// Braille patterns: each character holds 2×4 dots, so the lines are
	// four times finer vertically and twice horizontally. Otherwise
	// each series has a mark of its own: ● ○ ■ □ ▲ with Unicode,
	// * + o x # without (and the axes are | - +): plain ASCII, for
	// NO_COLOR, a pipe, a file.
	Unicode bool
	// Color draws each series in a colour of its own, with ANSI escape
	// sequences (see [tracer.ColorWanted]).
	Color bool
	// Steps holds each value until the next point, as for a counter
	// that was sampled, instead of drawing a straight line between
	// points.
	Steps bool
	// FromMin starts the Y axis at the smallest value rather than at 0
	// (or lower, where values are negative).
	FromMin bool
}

// Print writes the chart to w; nil means standard output.
func (c *Chart) Print(w io.Writer) error {
	if w == nil {
		w = os.Stdout
	}
	_, err := io.WriteString(w, c.String())
	return err
}

// The defaults and limits of the plot's height.
const (
	defaultHeight = 12
	minHeight     = 3
)

// The marks of the series, in the order of Chart.Series (and again
// when there are more series than marks).
var (
	asciiMarks   = []rune{'*', '+', 'o', 'x', '#'}
	unicodeMarks = []rune{'●', '○', '■', '□', '▲'}
	seriesColors = []color.Attribute{color.FgHiGreen, color.FgHiMagenta, color.FgHiCyan, color.FgHiYellow, color.FgHiRed}
)

// paint is a colour as the escape sequences that start and end it
// (both empty without colour).
type paint struct{ pre, post string }

func newPaint(on bool, attrs ...color.Attribute) paint {
	c := color.New(attrs...)
	if on {
		c.EnableColor()
	} else {
		c.DisableColor()
	}
	// fatih/color wraps any string in the same two sequences: find them
	// once, with a marker in between.
	pre, post, _ := strings.Cut(c.Sprint("\x00"), "\x00")
	return paint{pre, post}
}

// String returns the chart, each line ended by a newline.
func (c *Chart) String() string {
	width := c.Width
	if width == 0 {
		width = tracer.DefaultWidth
	}
	width = max(width, tracer.MinWidth)
	height := c.Height
	if height == 0 {
		height = defaultHeight
	}
	height = max(height, minHeight)

	series := make([][]Point, len(c.Series))
	var xs, ys []float64
	for i, s := range c.Series {
		for _, p := range s.Points {
			if finite(p.X) && finite(p.Y) {
				series[i] = append(series[i], p)
				xs = append(xs, p.X)
				ys = append(ys, p.Y)
			}
		}
		slices.SortStableFunc(series[i], func(a, b Point) int { return cmpFloat(a.X, b.X) })
	}

	// Braille only where colour tells the series apart.
	braille := c.Unicode && (c.Color || len(c.Series) <= 1)
	sx, sy := 1, 1
	if braille {
		sx, sy = 2, 4
	}

	y := yAxis(ys, height, c.FromMin)
	labelW := 0
	for _, l := range y.labels {
		labelW = max(labelW, len(l))
	}
	plotW := max(width-labelW-2, 1)
	cols, rows := plotW*sx, height*sy

	xmin, xmax := 0.0, 1.0
	if len(xs) > 0 {
		xmin, xmax = slices.Min(xs), slices.Max(xs)
		if xmax == xmin {
			xmax = xmin + 1
		}
	}
	col := func(x float64) int {
		return int(math.Round((x - xmin) / (xmax - xmin) * float64(cols-1)))
	}
	row := func(v float64) int {
		r := int(math.Floor((v-y.min)/y.perRow*float64(sy) + float64(sy-1)/2 + 0.5))
		return min(max(r, 0), rows-1)
	}

	// The grid, in dots (characters without Braille): for each cell,
	// the dots set and the first series with a dot there.
	type cell struct {
		dots  uint8
		owner int // index into c.Series; -1 for none
	}
	grid := make([][]cell, height)
	for r := range grid {
		grid[r] = make([]cell, plotW)
		for k := range grid[r] {
			grid[r][k].owner = -1
		}
	}
	set := func(s, x, yy int) {
		cl := &grid[height-1-yy/sy][x/sx] // grid rows run from the top
		if braille {
			cl.dots |= brailleDot(x%sx, sy-1-yy%sy)
		}
		if cl.owner == -1 || s < cl.owner {
			cl.owner = s
		}
	}
	for s, pts := range series {
		for k, p := range pts {
			x, yy := col(p.X), row(p.Y)
			if k == 0 {
				set(s, x, yy)
				continue
			}
			px, py := col(pts[k-1].X), row(pts[k-1].Y)
			if c.Steps {
				line(px, py, x, py, func(a, b int) { set(s, a, b) })
				line(x, py, x, yy, func(a, b int) { set(s, a, b) })
			} else {
				line(px, py, x, yy, func(a, b int) { set(s, a, b) })
			}
		}
	}

	paints := make([]paint, len(c.Series))
	marks := make([]rune, len(c.Series))
	for i := range c.Series {
		paints[i] = newPaint(c.Color, seriesColors[i%len(seriesColors)])
		marks[i] = asciiMarks[i%len(asciiMarks)]
		if c.Unicode {
			marks[i] = unicodeMarks[i%len(unicodeMarks)]
		}
	}
	box := asciiBox
	if c.Unicode {
		box = unicodeBox
	}

	var b strings.Builder
	if c.Title != "" {
		title := newPaint(c.Color, color.Bold)
		for line := range strings.Lines(tracer.Wrap(c.Title, 0, width)) {
			b.WriteString(title.pre + strings.TrimSuffix(line, "\n") + title.post + "\n")
		}
	}
	if c.YUnit != "" {
		b.WriteString(fit(c.YUnit, width) + "\n")
	}
	for r := range height {
		var line strings.Builder
		fromBottom := height - 1 - r
		label, axis := "", box.axis
		if fromBottom%y.every == 0 {
			label, axis = y.labels[fromBottom/y.every], box.tick
		}
		line.WriteString(strings.Repeat(" ", labelW-len(label)) + label + " ")
		line.WriteRune(axis)
		for k := 0; k < plotW; {
			cl := grid[r][k]
			if cl.owner == -1 {
				line.WriteByte(' ')
				k++
				continue
			}
			// A run of cells of the same series, in one colour.
			p := paints[cl.owner]
			line.WriteString(p.pre)
			for ; k < plotW && grid[r][k].owner == cl.owner; k++ {
				if braille {
					line.WriteRune(0x2800 + rune(grid[r][k].dots))
				} else {
					line.WriteRune(marks[cl.owner])
				}
			}
			line.WriteString(p.post)
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}

	// The X axis, its ticks and their values.
	ticks := xTicks(xmin, xmax, plotW, labelW+2, width-len(c.XUnit)-1, func(x float64) int { return col(x) / sx })
	axis := []rune(strings.Repeat(string(box.hline), plotW))
	for _, t := range ticks {
		axis[t.col] = box.xtick
	}
	b.WriteString(strings.Repeat(" ", labelW+1) + string(box.corner) + string(axis) + "\n")
	var xl strings.Builder
	for _, t := range ticks {
		xl.WriteString(strings.Repeat(" ", t.start-xl.Len()) + t.label)
	}
	if c.XUnit != "" {
		if xl.Len() > 0 {
			xl.WriteByte(' ')
		}
		xl.WriteString(c.XUnit)
	}
	b.WriteString(fit(xl.String(), width) + "\n")

	// The legend: each series' mark (a line in its colour with Braille)
	// and its name, wrapped to the width.
	var legend, entry strings.Builder
	n := 0
	for i, s := range c.Series {
		entry.Reset()
		m := string(marks[i])
		if braille {
			m = string([]rune{box.hline, box.hline})
		}
		name := s.Name
		if len(series[i]) == 0 {
			name += " (no data)"
		}
		name = fit(name, width-utf8.RuneCountInString(m)-1)
		entry.WriteString(paints[i].pre + m + paints[i].post + " " + name)
		w := utf8.RuneCountInString(m) + 1 + utf8.RuneCountInString(name)
		switch {
		case n == 0:
		case n+3+w <= width:
			legend.WriteString("   ")
			n += 3
		default:
			legend.WriteString("\n")
			n = 0
		}
		legend.WriteString(entry.String())
		n += w
	}
	if legend.Len() > 0 {
		b.WriteString(legend.String() + "\n")
	}
	return b.String()
}

// box is the characters of the axes.
type box struct{ axis, tick, corner, hline, xtick rune }

var (
	asciiBox   = box{axis: '|', tick: '+', corner: '+', hline: '-', xtick: '+'}
	unicodeBox = box{axis: '│', tick: '┤', corner: '└', hline: '─', xtick: '┬'}
)

// brailleDot returns the bit of the Braille pattern (U+2800 + bits)
// for the dot at column x (0, 1) and row y (0 at the top to 3).
func brailleDot(x, y int) uint8 {
	if y == 3 {
		return [2]uint8{0x40, 0x80}[x]
	}
	return 1 << (y + 3*x)
}

// line calls set for each point of a line from (x0, y0) to (x1, y1),
// both ends included, with no gap between one and the next.
func line(x0, y0, x1, y1 int, set func(x, y int)) {
	dx, dy := x1-x0, y1-y0
	n := max(abs(dx), abs(dy))
	if n == 0 {
		set(x0, y0)
		return
	}
	for i := 0; i <= n; i++ {
		set(x0+divRound(i*dx, n), y0+divRound(i*dy, n))
	}
}

func abs(v int) int { return max(v, -v) }

// divRound returns a/b rounded to the nearest integer, halves away
// from 0; b > 0.
func divRound(a, b int) int {
	if a < 0 {
		return -divRound(-a, b)
	}
	return (2*a + b) / (2 * b)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fit cuts s, a line without colour, to width columns.
func fit(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width])
}

// axisY is the scale of the Y axis: the plot's bottom row is min, each
// row perRow more; every every rows, from the bottom, has a label.
type axisY struct {
	min, perRow float64
	every       int
	labels      []string // from the bottom: the values of rows 0, every, 2×every, …
}

// yAxis returns a scale with round values at the labelled rows that
// holds the values ys in rows rows: from 0 (or the smallest value, with
// fromMin, or when a value is below 0) to at least the largest.
func yAxis(ys []float64, rows int, fromMin bool) axisY {
	lo, hi := 0.0, 1.0
	if len(ys) > 0 {
		lo, hi = slices.Min(ys), slices.Max(ys)
		if !fromMin {
			lo = min(lo, 0)
		}
		if hi == lo {
			hi = lo + 1
		}
	}
	// Labels every few rows, each a round value: of the ways to place
	// them, the one whose top is lowest (so the values fill the plot
	// best), then the one with a label on the top row, then the one
	// with about four labels.
	type choice struct {
		every        int
		step, bottom float64
		top          float64
	}
	var best choice
	for every := 1; every <= min(5, rows-1); every++ {
		if every == 1 && rows > 6 {
			continue // a label on every row is crowded
		}
		intervals := float64(rows-1) / float64(every) // up to the top row
		step := niceStep((hi - lo) / intervals)
		bottom := math.Floor(lo/step) * step
		for range 5000 {
			if bottom+intervals*step >= hi {
				break
			}
			step = niceStep(step * 1.0001)
			bottom = math.Floor(lo/step) * step
		}
		c := choice{every, step, bottom, bottom + intervals*step}
		if !(c.top >= hi) {
			continue // no round step fits: too few labelled rows
		}
		topLabelled := func(c choice) bool { return (rows-1)%c.every == 0 }
		// About four labels read best.
		crowd := func(c choice) int { return abs((rows-1)/c.every + 1 - 4) }
		eps := 1e-9 * max(math.Abs(c.top), 1)
		switch {
		case best.every == 0, c.top < best.top-eps:
			best = c
		case c.top > best.top+eps:
		case topLabelled(c) && !topLabelled(best):
			best = c
		case topLabelled(c) == topLabelled(best) && crowd(c) <= crowd(best):
			best = c
		}
	}
	if best.every == 0 { // cannot happen for finite values; a plain scale
		best = choice{every: 1, step: (hi - lo) / float64(rows-1), bottom: lo}
	}
	every, step, bottom := best.every, best.step, best.bottom
	y := axisY{min: bottom, perRow: step / float64(every), every: every}
	label := formatter(step, math.Max(math.Abs(bottom), math.Abs(bottom+float64((rows-1)/every)*step)))
	for r := 0; r < rows; r += every {
		v := bottom + float64(r/every)*step
		if math.Abs(v) < step/2 {
			v = 0 // not "-0"
		}
		y.labels = append(y.labels, label(v))
	}
	return y
}

// niceStep returns the smallest of 1, 2, 2.5 and 5 times a power of ten
// that is at least v (v > 0).
func niceStep(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, float64(exponent(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if s := m * p; s >= v*(1-1e-12) {
			return s
		}
	}
	return 10 * p
}

// formatter returns a function that formats the multiples of step up
// to largest (in absolute value), alike and as short as they can be:
// with as many decimals as step needs ("0", "2.5", "0.001"), or with an
// exponent ("2e+07", "1.5e-09") for values of 10 million or more and
// steps under 0.0001.
func formatter(step, largest float64) func(float64) string {
	decimals := -1
	for d := 0; d <= 4; d++ {
		scaled := step * math.Pow(10, float64(d))
		if math.Abs(scaled-math.Round(scaled)) < 1e-9*math.Max(1, scaled) {
			decimals = d
			break
		}
	}
	if decimals >= 0 && largest < 1e7 {
		return func(v float64) string { return strconv.FormatFloat(v, 'f', decimals, 64) }
	}
	// Significant digits: from the largest value's first down to the
	// step's last (2.5 has two).
	digits := exponent(math.Max(largest, step)) - exponent(step) + 1
	if m := step / math.Pow(10, float64(exponent(step))); math.Abs(m-math.Round(m)) > 1e-9 {
		digits++
	}
	digits = min(max(digits, 1), 17)
	return func(v float64) string { return strconv.FormatFloat(v, 'g', digits, 64) }
}

// exponent returns the power of ten of v's first digit (v > 0): 2 for
// 100 to 999.
func exponent(v float64) int {
	e := int(math.Floor(math.Log10(v)))
	// Log10 may miss by one ulp: Log10(1e15) is 14.999999999999998.
	if math.Pow(10, float64(e+1)) <= v {
		e++
	} else if math.Pow(10, float64(e)) > v {
		e--
	}
	return e
}

// tick is a value on the X axis: at column col of the plot, its label
// starting at column start of the line.
type tick struct {
	col, start int
	label      string
}

// xTicks returns round values between xmin and xmax, as many as fit
// with their labels under their columns (centred where there is room),
// two spaces apart, before column end of the line; the plot starts at
// column offset.
func xTicks(xmin, xmax float64, plotW, offset, end int, col func(float64) int) []tick {
	step := niceStep((xmax - xmin) / float64(plotW))
	for range 5000 {
		if ticks, ok := xTicksStep(xmin, xmax, step, plotW, offset, end, col); ok {
			return ticks
		}
		step = niceStep(step * 1.0001)
	}
	return nil
}

// xTicksStep returns the ticks every step, and false when their labels
// would touch.
func xTicksStep(xmin, xmax, step float64, plotW, offset, end int, col func(float64) int) ([]tick, bool) {
	format := formatter(step, math.Max(math.Abs(xmin), math.Abs(xmax)))
	var ticks []tick
	next := 0 // the first column a label may start at
	for k := math.Ceil(xmin/step - 1e-9); k*step <= xmax+step*1e-9; k++ {
		v := k * step
		if math.Abs(v) < step/2 {
			v = 0 // not "-0"
		}
		label := format(v)
		c := min(max(col(v), 0), plotW-1)
		at := offset + c
		start := max(at-len(label)/2, 0)
		if start+len(label) > end {
			start = end - len(label) // moved left, still under its column
			if start+len(label) <= at {
				continue // no room: no tick
			}
		}
		if start < next {
			return nil, false
		}
		ticks = append(ticks, tick{col: c, start: start, label: label})
		next = start + len(label) + 2
	}
	return ticks, true
}
