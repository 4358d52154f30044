package main

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// load's output as tracer/load prints it (see its echoLoad and
// counts.print).
const loadOK = `load: 4 clients for 2.001s against 127.0.0.1:40001 (loopback), each: connect, "I am Chuck Norris!", read the reply, close
connections  19327  (9658/s)
latency      p50 0.392 ms  p99 1.208 ms  max 9.770 ms  (connect to close, 19327 samples)
errors       0
`

const loadErrs = `load: 50 clients for 2.003s against 127.0.0.1:40002 (loopback), each: connect, "I am Chuck Norris!", read the reply, close
connections  15000  (7488.8/s)
latency      p50 5.100 ms  p99 21.004 ms  max 90.000 ms  (connect to close, 15000 samples)
errors       3
  connect  2, first: dial tcp 127.0.0.1:40002: connect: connection refused
  read     1, first: read tcp 127.0.0.1:5000->127.0.0.1:40002: i/o timeout
`

const loadNone = `load: 1 clients for 50ms against 127.0.0.1:9 (loopback), each: connect, "hi", read the reply, close
connections  0  (0/s)
errors       12
  connect  12, first: dial tcp 127.0.0.1:9: connect: connection refused
load: every connection failed (the first at connect: dial tcp 127.0.0.1:9: connect: connection refused): is the server running, and is it the seed's?
`

func TestParseLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want loadResult
		err  bool
	}{
		{"ok", loadOK, loadResult{conns: 19327, rate: 9658, p50: 0.392, p99: 1.208}, false},
		{"errors", loadErrs, loadResult{conns: 15000, rate: 7488.8, p50: 5.1, p99: 21.004, errors: 3}, false},
		{"none answered", loadNone, loadResult{errors: 12}, false},
		{"not load", "usage: load [flags]\n", loadResult{}, true},
		{"no latency", "connections  5  (2.5/s)\nerrors       0\n", loadResult{conns: 5, rate: 2.5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLoad(tc.out)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error: %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{nan}, spread{}},
		{[]float64{2}, spread{2, 2, 2, 1}},
		{[]float64{3, 1, 2}, spread{1, 2, 3, 3}},
		{[]float64{4, 1, nan, 3, 2}, spread{1, 2.5, 4, 4}},
		{[]float64{1, math.Inf(1)}, spread{1, 1, 1, 1}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    spread
		min  float64
		want string
	}{
		{spread{}, 1, "not measured"},
		{spread{0.96, 0.97, 0.99, 3}, 0.95, "met"},
		{spread{0.93, 0.96, 0.99, 3}, 0.95, "met by the median, not in every round"},
		{spread{0.90, 0.94, 0.99, 3}, 0.95, "not met"},
	} {
		if got := verdict(tc.s, tc.min); got != tc.want {
			t.Errorf("verdict(%+v, %v) = %q, want %q", tc.s, tc.min, got, tc.want)
		}
	}
}

func mkRun(rate float64, conns int64, cpu time.Duration) trial {
	return trial{done: true, loadResult: loadResult{conns: conns, rate: rate, p50: 0.5, p99: 2}, cpu: cpu}
}

// sample is a report of two rounds at 4 clients with known figures.
func sample() *report {
	td := mkRun(800, 1600, 80*time.Millisecond)
	td.tdCPU = 48 * time.Millisecond
	td2 := mkRun(1080, 1800, 90*time.Millisecond)
	td2.tdCPU = 54 * time.Millisecond
	failed := mkRun(0, 0, 0)
	failed.errors, failed.fail = 7, "load: exit status 1: every connection failed"
	return &report{
		rounds: 2,
		servers: []serverInfo{
			{name: untraced}, {name: traced}, {name: node, skipped: "node is not installed (not on PATH)"},
			{name: captured, packets: "the server's pcapng captured.pcapng: 30000 packets"}, {name: untracedTcpdump},
		},
		tables: []*table{{clients: 4, runs: map[string][]trial{
			untraced:        {mkRun(1000, 2000, 100*time.Millisecond), mkRun(1200, 2400, 144*time.Millisecond)},
			traced:          {mkRun(920, 1800, 126*time.Millisecond), mkRun(1200, 2400, 192*time.Millisecond)},
			captured:        {mkRun(880, 1760, 176*time.Millisecond), failed},
			untracedTcpdump: {td, td2},
		}}},
	}
}

func TestRatios(t *testing.T) {
	tb := sample().tables[0]
	if got, want := tb.ratios(traced, untraced), []float64{0.92, 1}; !slices.Equal(got, want) {
		t.Errorf("traced ÷ untraced = %v, want %v", got, want)
	}
	// A failed run has no ratio.
	got := tb.ratios(captured, untracedTcpdump)
	if len(got) != 2 || got[0] != 1.1 || !math.IsNaN(got[1]) {
		t.Errorf("captured ÷ untraced+tcpdump = %v, want [1.1 NaN]", got)
	}
	if got := spreadOf(tb.ratios(node, untraced)); got.n != 0 {
		t.Errorf("node ÷ untraced, node not run: %+v, want nothing", got)
	}
	if r := tb.runs[traced][0]; r.cpuPerConn(r.cpu) != 70 {
		t.Errorf("traced's CPU per connection = %v µs, want 70", r.cpuPerConn(r.cpu))
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	sample().print(&b)
	out := squeeze(b.String())
	for _, want := range []string{
		"4 clients",
		// server, conn/s in each round, median, ratio, p50, p99, CPU, errors
		"untraced  1,000  1,200  1,100  1  0.50  2.00  55.0  (50.0–60.0)  0",
		"traced  920  1,200  1,060  0.96×  (0.92–1.00)  0.50  2.00  75.0  (70.0–80.0)  0",
		"captured  880  0!  880  0.88×  0.50  2.00  100.0  7",
		"untraced+tcpdump  800  1,080  940  0.85×  (0.80–0.90)  0.50  2.00  50.0  +  tcpdump  30.0  =  80.0  (80.0–80.0)  0",
		"! captured, round 2: load: exit status 1: every connection failed",
		"node: skipped: node is not installed (not on PATH)",
		"traced ÷ untraced, 4 clients  0.96×  (0.92–1.00)  target ≥ 0.95×  met by the median, not in every round",
		"traced ÷ node, 4 clients  –  target ≥ 1.10×  not measured: node skipped",
		"captured ÷ untraced+tcpdump, 4 clients  1.10×  target ≥ 1.00×  met",
		// captured: 100 µs per connection; untraced + tcpdump: 80.
		"captured ÷ (untraced + tcpdump), 4 clients  1.25×  1/target = 1.00×",
		// traced: 70 and 80; untraced: 50 and 60.
		"traced ÷ untraced, 4 clients  1.37×  (1.33–1.40)  1/target = 1.05×",
		"captured: the server's pcapng captured.pcapng: 30000 packets",
	} {
		if !strings.Contains(out, squeeze(want)) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if strings.Contains(out, "\nnode  ") || strings.Contains(out, "÷ node, 4 clients  –  1/target") {
		t.Errorf("a row for node, skipped:\n%s", b.String())
	}
}

// squeeze turns each run of spaces into two, so that a check does not
// depend on the table's column widths.
func squeeze(s string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		b.WriteString(strings.Join(strings.Fields(l), "  "))
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || !slices.Equal(cfg.clients, []int{4, 50}) || cfg.dur != 2*time.Second || cfg.rounds != 3 || !slices.Equal(cfg.only, serverNames) {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"-c", "2", "-only", "traced, untraced"}, io.Discard)
	if err != nil || !slices.Equal(cfg.clients, []int{2}) || !slices.Equal(cfg.only, []string{untraced, traced}) {
		t.Errorf("-c 2 -only traced,untraced: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"-c", "0"}, {"-c", "4,x"}, {"-only", "nginx"}, {"-rounds", "0"}, {"-d", "0s"}, {"extra"}} {
		var b bytes.Buffer
		if _, err := parseFlags(args, &b); err == nil || !strings.Contains(b.String(), "usage:") {
			t.Errorf("%v: %v, want an error and the usage; got\n%s", args, err, b.String())
		}
	}
}
