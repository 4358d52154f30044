package chart_test

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"tcptour/tracer/chart"
)

// visible shows the colours of the output as tags.
var visible = strings.NewReplacer("\x1b[92m", "<g>", "\x1b[95m", "<m>", "\x1b[0m", "</>", "\x1b[1m", "<b>", "\x1b[22m", "</b>")

// cwnd and segments in flight, as a lesson samples them.
var two = []chart.Series{
	{Name: "cwnd", Points: []chart.Point{{X: 0, Y: 10}, {X: 20, Y: 20}, {X: 40, Y: 40}, {X: 60, Y: 20}, {X: 80, Y: 25}}},
	{Name: "in flight", Points: []chart.Point{{X: 0, Y: 0}, {X: 20, Y: 10}, {X: 40, Y: 30}, {X: 60, Y: 15}, {X: 80, Y: 5}}},
}

var same = []chart.Series{{Name: "cwnd", Points: []chart.Point{{X: 0, Y: 7}, {X: 10, Y: 7}, {X: 20, Y: 7}}}}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    chart.Chart
		want string
	}{
		{"ascii", chart.Chart{Title: "Slow start", Series: two, XUnit: "ms", YUnit: "segments", Width: 40, Height: 5}, `
Slow start
segments
40 +                ****
   |            ****++++****       *****
20 +     *******++++      ++*******
   |*****+++++++                   +++++
 0 ++++++
   ++---+----+---+----+---+---+----+----
    0  10   20  30   40  50  60   70 ms
* cwnd   + in flight
`},
		{"braille in colour", chart.Chart{Title: "Slow start", Series: two, XUnit: "ms", YUnit: "segments", Width: 40, Height: 5, Unicode: true, Color: true}, `
<b>Slow start</b>
segments
40 ┤               <g>⢀⡠⠔⠒⠤⣀</>
   │           <g>⣀⠤⠒⠊⢁</><m>⡠⠔⠒⠤⢄</><g>⣉⠒⠤⣀</>        <g>⢀⣀⣀</>
20 ┤   <g>⢀⣀⣀⠤⠤⠒⠒⠉</><m>⣀⠤⠒⠊⠁</>      <m>⠉⠒⠢</><g>⠭⣒⣒⠒⠉⠉⠉⠉⠁</>
   │<g>⠒⠊⠉⢁</><m>⣀⣀⠤⠤⠒⠒⠉</>                 <m>⠉⠉⠒⠒⠢⠤⢄⣀</>
 0 ┤<m>⠒⠊⠉⠁</>
   └┬───┬────┬───┬────┬───┬───┬────┬────
    0  10   20  30   40  50  60   70 ms
<g>──</> cwnd   <m>──</> in flight
`},
		{"unicode marks", chart.Chart{Title: "Slow start", Series: two, XUnit: "ms", YUnit: "segments", Width: 40, Height: 5, Unicode: true}, `
Slow start
segments
40 ┤                ●●●●
   │            ●●●●○○○○●●●●       ●●●●●
20 ┤     ●●●●●●●○○○○      ○○●●●●●●●
   │●●●●●○○○○○○○                   ○○○○○
 0 ┤○○○○○
   └┬───┬────┬───┬────┬───┬───┬────┬────
    0  10   20  30   40  50  60   70 ms
● cwnd   ○ in flight
`},
		{"steps", chart.Chart{Series: two, XUnit: "ms", Width: 40, Height: 5, Steps: true}, `
40 +                  *********
   |                  *+++++++*        *
20 +         **********       **********
   |**********+++++++++                +
 0 +++++++++++
   ++---+----+---+----+---+---+----+----
    0  10   20  30   40  50  60   70 ms
* cwnd   + in flight
`},
		{"no series", chart.Chart{Title: "Nothing", Width: 40, Height: 3}, `
Nothing
1.0 +
0.5 +
0.0 +
    ++------+------+-----+------+-------
    0.0    0.2    0.4   0.6    0.8
`},
		{"no points", chart.Chart{Series: []chart.Series{{Name: "cwnd"}}, Width: 40, Height: 3, Unicode: true}, `
1.0 ┤
0.5 ┤
0.0 ┤
    └┬──────┬──────┬─────┬──────┬───────
    0.0    0.2    0.4   0.6    0.8
── cwnd (no data)
`},
		{"one point", chart.Chart{Series: []chart.Series{{Name: "cwnd", Points: []chart.Point{{X: 5, Y: 10}}}}, Width: 40, Height: 4}, `
10 +*
   |
   |
 0 +
   ++------+------+------+------+-------
   5.0    5.2    5.4    5.6    5.8
* cwnd
`},
		{"identical values", chart.Chart{Series: same, Width: 40, Height: 4}, `
7.5 +***********************************
5.0 +
2.5 +
0.0 +
    ++--------+-------+--------+--------
     0        5      10       15
* cwnd
`},
		{"identical values from min", chart.Chart{Series: same, Width: 40, Height: 4, FromMin: true}, `
8 +
  |
  |
7 +*************************************
  ++--------+--------+--------+---------
   0        5       10       15
* cwnd
`},
		{"negative and NaN", chart.Chart{Series: []chart.Series{{Name: "x", Points: []chart.Point{{X: 0, Y: -3}, {X: 1, Y: 2}, {X: 2, Y: math.NaN()}, {X: 3, Y: 0.5}, {X: math.Inf(1), Y: 1}}}}, Width: 40, Height: 6}, `
 2 +           *************
 1 +         **             ************
 0 +      ***
-1 +    **
-2 +  **
-3 +**
   ++-----+-----+-----+----+-----+------
   0.0   0.5   1.0   1.5  2.0   2.5
* x
`},
		{"one series in braille", chart.Chart{Series: []chart.Series{{Name: "bytes in flight", Points: []chart.Point{{X: 0, Y: 0}, {X: 1500, Y: 6e6}}}}, XUnit: "ms", Width: 40, Height: 4, Unicode: true}, `
6000000 ┤                        ⢀⣀⣀⠤⠤⠔⠒
4000000 ┤              ⣀⣀⣀⠤⠤⠔⠒⠒⠉⠉⠁
2000000 ┤    ⣀⣀⡠⠤⠤⠒⠒⠊⠉⠉
      0 ┤⠒⠊⠉⠉
        └┬─────────┬─────────┬──────────
         0        500      1000 ms
── bytes in flight
`},
	} {
		got := visible.Replace(tc.c.String())
		if want := strings.TrimPrefix(tc.want, "\n"); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, want)
		}
	}
}

var escape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Every line fits in the width, whatever the width, height, mode and
// values; nothing panics, and no NaN or Inf reaches the output.
func TestFits(t *testing.T) {
	ramp := func(n int, f func(i int) float64) []chart.Point {
		p := make([]chart.Point, n)
		for i := range p {
			p[i] = chart.Point{X: float64(i) * 20.5, Y: f(i)}
		}
		return p
	}
	data := [][]chart.Series{
		nil,
		{{Name: "empty"}},
		{{Name: "one", Points: []chart.Point{{X: 3, Y: 3}}}},
		two,
		same,
		{{Name: "cwnd", Points: ramp(500, func(i int) float64 { return float64(10 + i%97) })},
			{Name: "in flight", Points: ramp(300, func(i int) float64 { return float64(i % 61) })},
			{Name: "ssthresh", Points: ramp(3, func(int) float64 { return 40 })}},
		{{Name: "tiny", Points: ramp(10, func(i int) float64 { return 1e-9 * float64(i) })}},
		{{Name: "huge", Points: ramp(10, func(i int) float64 { return 1e15 * float64(i) })}},
		{{Name: "negative", Points: ramp(10, func(i int) float64 { return -1e6 * float64(i) })}},
		{{Name: "extremes", Points: []chart.Point{{X: -1e300, Y: -1e300}, {X: 1e300, Y: 1e300}}}},
		{{Name: "nan", Points: []chart.Point{{X: math.NaN(), Y: 1}, {X: 1, Y: math.NaN()}, {X: math.Inf(-1), Y: 2}}}},
		{{Name: "a very long name for a series that goes on and on"}, {Name: "and another one just as long as the first one is"}},
	}
	for _, width := range []int{-5, 0, 39, 40, 41, 57, 80, 200, 250} {
		for _, height := range []int{-1, 0, 3, 4, 7, 31} {
			for _, series := range data {
				for mode := range 8 {
					c := chart.Chart{Title: "Congestion window and segments in flight, sampled about once a round trip",
						Series: series, XUnit: "ms", YUnit: "segments", Width: width, Height: height,
						Unicode: mode&1 != 0, Color: mode&2 != 0, Steps: mode&4 != 0, FromMin: width%2 != 0}
					out := c.String()
					want := max(width, 40)
					if width == 0 {
						want = 80
					}
					plain := escape.ReplaceAllString(out, "")
					for line := range strings.Lines(plain) {
						if n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n")); n > want {
							t.Fatalf("width %d: a line of %d columns:\n%s", width, n, plain)
						}
					}
					if strings.Contains(plain, "NaN") || strings.Contains(plain, "Inf") {
						t.Fatalf("NaN or Inf in\n%s", plain)
					}
					if mode&2 == 0 && plain != out {
						t.Fatalf("escape sequences without Color:\n%q", out)
					}
					if mode&1 == 0 && strings.ContainsFunc(plain, func(r rune) bool { return r > 0x7e }) {
						t.Fatalf("not ASCII without Unicode:\n%s", plain)
					}
					rows := max(height, 3)
					if height == 0 {
						rows = 12
					}
					if n := strings.Count(plain, "\n"); n < rows+4 {
						t.Fatalf("%d lines, want the title, the unit, %d rows, the axis, its values and a legend:\n%s", n, rows, plain)
					}
				}
			}
		}
	}
}

func TestPrint(t *testing.T) {
	c := chart.Chart{Series: two, Width: 40, Height: 5}
	var b bytes.Buffer
	if err := c.Print(&b); err != nil || b.String() != c.String() {
		t.Errorf("Print: %q, %v; want String's %q", b.String(), err, c.String())
	}
}
