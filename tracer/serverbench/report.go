package main

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// loadResult is what one run of tracer/load printed.
type loadResult struct {
	conns    int64   // connections that completed
	rate     float64 // connections/s
	p50, p99 float64 // ms
	errors   int64
}

var (
	reConns   = regexp.MustCompile(`(?m)^connections\s+(\d+)\s+\(([0-9.]+)/s\)`)
	reLatency = regexp.MustCompile(`(?m)^latency\s+p50 ([0-9.]+) ms\s+p99 ([0-9.]+) ms`)
	reErrors  = regexp.MustCompile(`(?m)^errors\s+(\d+)`)
)

// parseLoad reads load's output: its connections line, its errors line,
// and its latency line where any connection completed.
func parseLoad(out string) (loadResult, error) {
	var r loadResult
	m := reConns.FindStringSubmatch(out)
	e := reErrors.FindStringSubmatch(out)
	if m == nil || e == nil {
		return r, fmt.Errorf("load's output has no connections or errors line:\n%s", out)
	}
	r.conns, _ = strconv.ParseInt(m[1], 10, 64)
	r.rate, _ = strconv.ParseFloat(m[2], 64)
	r.errors, _ = strconv.ParseInt(e[1], 10, 64)
	if l := reLatency.FindStringSubmatch(out); l != nil {
		r.p50, _ = strconv.ParseFloat(l[1], 64)
		r.p99, _ = strconv.ParseFloat(l[2], 64)
	} else if r.conns > 0 {
		return r, fmt.Errorf("load's output has no latency line:\n%s", out)
	}
	return r, nil
}

// trial is one run of load against one server.
type trial struct {
	done bool // false: not run (interrupted, or the server had stopped)
	loadResult
	cpu   time.Duration // the server's CPU time over the run
	tdCPU time.Duration // tcpdump's, for untraced+tcpdump
	fail  string        // load failed, or the server stopped: why
}

// cpuPerConn is the server's CPU time per connection, in µs (NaN when
// nothing was measured).
func (r trial) cpuPerConn(d time.Duration) float64 {
	if !r.done || r.conns == 0 {
		return math.NaN()
	}
	return float64(d) / float64(time.Microsecond) / float64(r.conns)
}

// table is the runs of one client count: runs[server][round].
type table struct {
	clients int
	runs    map[string][]trial
}

// spread is the min, median and max of a set of figures; n is their
// count (0: none, and the rest is meaningless).
type spread struct {
	min, med, max float64
	n             int
}

// spreadOf ignores NaNs. The median of an even count is the mean of the
// two middle figures.
func spreadOf(xs []float64) spread {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return spread{}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{min: v[0], med: med, max: v[len(v)-1], n: len(v)}
}

// ratios are a's rate over b's, round by round (NaN where either is
// missing).
func (t *table) ratios(a, b string) []float64 {
	ra, rb := t.runs[a], t.runs[b]
	out := make([]float64, 0, len(ra))
	for i := range ra {
		if i >= len(rb) || !ra[i].done || !rb[i].done || rb[i].rate == 0 || ra[i].fail != "" || rb[i].fail != "" {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, ra[i].rate/rb[i].rate)
	}
	return out
}

func (t *table) figures(name string, f func(trial) float64) []float64 {
	var out []float64
	for _, r := range t.runs[name] {
		if !r.done || r.fail != "" {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, f(r))
	}
	return out
}

// serverInfo is a server as the report shows it.
type serverInfo struct {
	name    string
	command string // what runs, for the header
	skipped string // why it did not run; "" if it ran
	packets string // for the packet files: what was found
}

// report is the whole run's results.
type report struct {
	header  []string
	servers []serverInfo // in serverNames' order, those asked for
	rounds  int
	tables  []*table
	footer  []string
	// failed is set for a run with errors, a server that stopped, a
	// packet file empty or unreadable.
	failed bool
}

func (r *report) ok() bool { return !r.failed }

// ran are the servers that ran, in order.
func (r *report) ran() []string {
	var out []string
	for _, s := range r.servers {
		if s.skipped == "" {
			out = append(out, s.name)
		}
	}
	return out
}

func (r *report) skipped(name string) (string, bool) {
	for _, s := range r.servers {
		if s.name == name {
			return s.skipped, true
		}
	}
	return "", false
}

// num formats a rate with thousands separators.
func num(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s spread) ratio() string {
	switch s.n {
	case 0:
		return "–"
	case 1:
		return fmt.Sprintf("%.2f×", s.med)
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", s.med, s.min, s.max)
}

func (s spread) value(prec int) string {
	switch s.n {
	case 0:
		return "–"
	case 1:
		return strconv.FormatFloat(s.med, 'f', prec, 64)
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, s.med, prec, s.min, prec, s.max)
}

// print writes one table: a row per server that ran.
func (t *table) print(w io.Writer, r *report) {
	fmt.Fprintf(w, "\n%d clients\n", t.clients)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"server"}
	for i := range r.rounds {
		head = append(head, fmt.Sprintf("r%d conn/s", i+1))
	}
	head = append(head, "median", "÷ untraced (min–max)", "p50 ms", "p99 ms", "CPU µs/conn (min–max)", "errors")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, name := range r.ran() {
		row := []string{name}
		for i := range r.rounds {
			cell := "–"
			if i < len(t.runs[name]) && t.runs[name][i].done {
				cell = num(t.runs[name][i].rate)
				if t.runs[name][i].fail != "" {
					cell += "!"
				}
			}
			row = append(row, cell)
		}
		rate := spreadOf(t.figures(name, func(x trial) float64 { return x.rate }))
		row = append(row, fmtMed(rate, -1))
		if name == untraced {
			row = append(row, "1")
		} else if _, ok := t.runs[untraced]; ok {
			row = append(row, spreadOf(t.ratios(name, untraced)).ratio())
		} else {
			row = append(row, "–")
		}
		p50 := spreadOf(t.figures(name, func(x trial) float64 { return x.p50 }))
		p99 := spreadOf(t.figures(name, func(x trial) float64 { return x.p99 }))
		row = append(row, fmtMed(p50, 2), fmtMed(p99, 2))
		cpu := spreadOf(t.figures(name, func(x trial) float64 { return x.cpuPerConn(x.cpu) }))
		cell := cpu.value(1)
		if name == untracedTcpdump {
			td := spreadOf(t.figures(name, func(x trial) float64 { return x.cpuPerConn(x.tdCPU) }))
			sum := spreadOf(t.figures(name, func(x trial) float64 { return x.cpuPerConn(x.cpu + x.tdCPU) }))
			cell = fmt.Sprintf("%s + tcpdump %s = %s", fmtMed(cpu, 1), fmtMed(td, 1), sum.value(1))
		}
		row = append(row, cell)
		var errs int64
		for _, x := range t.runs[name] {
			errs += x.errors
		}
		row = append(row, strconv.FormatInt(errs, 10))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	for _, name := range r.ran() {
		for i, x := range t.runs[name] {
			if x.fail != "" {
				fmt.Fprintf(w, "  ! %s, round %d: %s\n", name, i+1, x.fail)
			}
		}
	}
}

// fmtMed is the median alone; prec -1 formats a rate (num).
func fmtMed(s spread, prec int) string {
	switch {
	case s.n == 0:
		return "–"
	case prec < 0:
		return num(s.med)
	}
	return strconv.FormatFloat(s.med, 'f', prec, 64)
}

// target is one of issue 19's goals: a's rate at least min times b's.
type target struct {
	a, b string
	min  float64
}

var targets = []target{
	{traced, untraced, 0.95},
	{traced, node, 1.1},
	{captured, untracedTcpdump, 1.0},
}

// verdict says whether s meets min: by the median of the rounds' ratios,
// and whether every round did.
func verdict(s spread, min float64) string {
	switch {
	case s.n == 0:
		return "not measured"
	case s.med >= min && s.min >= min:
		return "met"
	case s.med >= min:
		return "met by the median, not in every round"
	}
	return "not met"
}

// printTargets writes each target with its ratio, per client count.
func (r *report) printTargets(w io.Writer) {
	fmt.Fprintf(w, "\nTargets (issue 19): the ratio of the rates in the same round, median (min–max) over the rounds\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, tg := range targets {
		why := ""
		for _, n := range []string{tg.a, tg.b} {
			if s, ok := r.skipped(n); !ok {
				why = n + " not run (-only)"
			} else if s != "" {
				why = n + " skipped"
			}
		}
		for _, t := range r.tables {
			label := fmt.Sprintf("  %s ÷ %s, %d clients", tg.a, tg.b, t.clients)
			goal := fmt.Sprintf("target ≥ %.2f×", tg.min)
			if why != "" {
				fmt.Fprintf(tw, "%s\t–\t%s\tnot measured: %s\n", label, goal, why)
				continue
			}
			s := spreadOf(t.ratios(tg.a, tg.b))
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", label, s.ratio(), goal, verdict(s, tg.min))
		}
	}
	tw.Flush()
	// The same comparison in CPU time: the captured server's CPU per
	// connection against the untraced server's plus tcpdump's.
	// The same comparisons in CPU time per connection, the steadier
	// figure where the load generator shares the CPUs: the server's
	// CPU over its reference's (tcpdump's included), same round. A rate
	// target of x corresponds to a CPU ratio of at most 1/x.
	fmt.Fprintf(w, "\nCPU per connection, the server's ÷ its reference's, same round, median (min–max); lower is cheaper (informational: the targets are on the rates)\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, tg := range targets {
		if !r.measured(tg.a) || !r.measured(tg.b) {
			continue
		}
		for _, t := range r.tables {
			s := spreadOf(t.cpuRatios(tg.a, tg.b))
			fmt.Fprintf(tw, "  %s ÷ %s, %d clients\t%s\t1/target = %.2f×\n", tg.a, cpuName(tg.b), t.clients, s.ratio(), 1/tg.min)
		}
	}
	tw.Flush()
}

// measured says whether the server ran.
func (r *report) measured(name string) bool {
	s, ok := r.skipped(name)
	return ok && s == ""
}

func cpuName(name string) string {
	if name == untracedTcpdump {
		return "(untraced + tcpdump)"
	}
	return name
}

// cpuRatios are a's CPU per connection over b's (tcpdump's included),
// round by round.
func (t *table) cpuRatios(a, b string) []float64 {
	ra, rb := t.runs[a], t.runs[b]
	out := make([]float64, 0, len(ra))
	for i, x := range ra {
		if i >= len(rb) || x.fail != "" || rb[i].fail != "" {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, x.cpuPerConn(x.cpu+x.tdCPU)/rb[i].cpuPerConn(rb[i].cpu+rb[i].tdCPU))
	}
	return out
}

// print writes the whole report.
func (r *report) print(w io.Writer) {
	for _, l := range r.header {
		fmt.Fprintln(w, l)
	}
	for _, t := range r.tables {
		t.print(w, r)
	}
	var skipped []string
	for _, s := range r.servers {
		if s.skipped != "" {
			skipped = append(skipped, fmt.Sprintf("  %s: skipped: %s", s.name, s.skipped))
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(skipped, "\n"))
	}
	if len(r.tables) > 0 {
		r.printTargets(w)
	}
	var pk []string
	for _, s := range r.servers {
		if s.packets != "" {
			pk = append(pk, fmt.Sprintf("  %s: %s", s.name, s.packets))
		}
	}
	if len(pk) > 0 {
		fmt.Fprintf(w, "\nPacket files, read back after the servers stopped:\n%s\n", strings.Join(pk, "\n"))
	}
	for _, l := range r.footer {
		fmt.Fprintln(w, l)
	}
}
