// Command docgen writes the output excerpts in the docs from real runs,
// and checks that the docs still show what the code prints.
//
// An excerpt is a fenced code block right after a marker line that says
// which command made it and which part of its output it shows:
//
//	<!-- output cmd="go run ./lessons/03 --no-color" step=4 -->
//	```
//	…written by docgen…
//	```
//
// Run from the repository's root:
//
//	go run ./lessons/internal/docgen            # rewrite every excerpt
//	go run ./lessons/internal/docgen -check     # exit 1 where a page and the code disagree
//	go run ./lessons/internal/docgen docs/lessons/03.md   # one page
//	go run ./lessons/internal/docgen -fresh README.md     # every excerpt of a page from a new run
//
// The commands run as the user running docgen, with stdin from /dev/null,
// three times each (a check up to eight times, until one agrees): an
// excerpt is what most runs agree on, since the
// kernel's timing can change what it sends (an ACK delayed or not). A
// check runs the first run of the commands four at a time, those that
// use this machine's own network where others would see them one after
// another (prefetch.go). The
// docs show runs with packets and the kernel's states as it reports
// them, so docgen needs root (capture, and tracefs mounted). With -check,
// times, durations and kernel-chosen ports may differ, and so may the
// order of events that two goroutines made at about the same time; a
// page agrees when one of the runs agrees with it.
//
// The marker's attributes, applied in this order:
//
//	cmd="…"      the command, run by sh from the repository's root (required)
//	file="…"     show this file, which the command wrote, instead of its stdout
//	step=N       only step N: from its "Step N of" heading to the next step
//	section="…"  only a section of the end: "Recap", "Try this", "The ladder"
//	ladder=N     only the ladder of connection #N
//	captured     only the line that counts the captured packets
//	from="re"    start at the first event (or line) matching the regexp
//	until="re"   end after the first event (or line) matching it
//	grep="re"    only the events whose first line matches (a step's heading stays)
//	notes=off    events without their notes (kernel: lines stay)
//	lines="re"   only the lines matching
//	head=N       only the first N lines
//	varies       the excerpt's figures differ from run to run (a chart of
//	             what the kernel measured): it is one run's, and a check
//	             only asks that the command still print it, with the same
//	             first line but for its numbers (the lines after it wrap
//	             anew as the figures' lengths change)
//
// A picture marker draws an SVG beside the page instead, with the code
// of the --html pages (picture.go).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("docgen: ")
	check := flag.Bool("check", false, "do not write: exit 1 where a page's excerpts differ from the output of the current code")
	fresh := flag.Bool("fresh", false, "rewrite even an excerpt that agrees with the code but for what varies from run to run\n(times, ports, line breaks): after a change in how those are shown")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./lessons/internal/docgen [-check] [page.md …]\n\n"+
			"Rewrites the output excerpts of the docs (README.md and docs/**/*.md by default) from real runs.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*check, *fresh, flag.Args()); err != nil {
		log.Fatal(err)
	}
}

func run(check, fresh bool, pages []string) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run it from the repository's root (where go.mod is)")
	}
	if os.Geteuid() != 0 {
		return errors.New("the docs show runs with packets and the kernel's states as it reports them: run docgen as root")
	}
	if _, err := os.Stat("/sys/kernel/tracing/events/sock/inet_sock_set_state"); err != nil {
		return errors.New("the docs show the kernel's states as it reports them, which needs tracefs: sudo mount -t tracefs nodev /sys/kernel/tracing")
	}
	if len(pages) == 0 {
		pages = []string{"README.md"}
		err := filepath.WalkDir("docs", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
				pages = append(pages, path)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	r := &runner{outputs: map[string][]string{}, fresh: fresh && !check}
	if check {
		if err := r.prefetch(pages); err != nil {
			return err
		}
	}
	var stale []string
	for _, page := range pages {
		changed, err := r.page(page, check)
		if err != nil {
			return fmt.Errorf("%s: %w", page, err)
		}
		if changed {
			stale = append(stale, page)
		}
	}
	switch {
	case check && len(stale) > 0:
		return fmt.Errorf("%d pages show output the code no longer prints: %s (go run ./lessons/internal/docgen rewrites them)", len(stale), strings.Join(stale, ", "))
	case check:
		fmt.Printf("docgen: %d pages agree with the code\n", len(pages))
	case len(stale) > 0:
		fmt.Printf("docgen: rewrote %s\n", strings.Join(stale, ", "))
	}
	return nil
}

// runner runs the commands the excerpts name, once each (and again when
// a check needs another try), and keeps their outputs.
type runner struct {
	outputs map[string][]string // by command and file: each run's output
	fresh   bool                // rewrite what agrees but for what varies
}

// output returns the n-th run (0 first) of cmd: its stdout, or the file
// it wrote.
func (r *runner) output(cmd, file string, n int) (string, error) {
	key := cmd + "\x00" + file
	for len(r.outputs[key]) <= n {
		out, err := runOnce(cmd, file)
		if err != nil {
			return "", err
		}
		r.outputs[key] = append(r.outputs[key], out)
	}
	return r.outputs[key][n], nil
}

// runOnce runs cmd by sh, with stdin from /dev/null, and returns its
// stdout, or the file it wrote.
func runOnce(cmd, file string) (string, error) {
	if file != "" {
		os.Remove(file)
	}
	c := exec.Command("sh", "-c", cmd)
	c.Stdin = nil // /dev/null
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	// The pages show a run by a learner whose shell is bash; the
	// shell a note names comes from $SHELL, which a container may
	// not set.
	c.Env = append(os.Environ(), "NO_COLOR=1", "SHELL=/bin/bash")
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", cmd, err, stderr.String())
	}
	if file == "" {
		return stdout.String(), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	return string(b), nil
}

var markerRe = regexp.MustCompile(`^<!-- output (.*)-->\s*$`)

// page rewrites (or checks) the excerpts of one page, and reports
// whether any differs from the code's output.
func (r *runner) page(path string, check bool) (changed bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		out.WriteString(lines[i])
		if m := pictureRe.FindStringSubmatch(strings.TrimRight(lines[i], "\n")); m != nil {
			spec, err := parseSpec(m[1])
			if err != nil {
				return false, fmt.Errorf("line %d: %w", i+1, err)
			}
			image := ""
			if i+1 < len(lines) {
				image = lines[i+1]
			}
			differs, err := r.picture(path, spec, image, check)
			if err != nil {
				return false, fmt.Errorf("line %d: %w", i+1, err)
			}
			// A picture redrawn changes its file, not the page.
			changed = changed || differs && check
			continue
		}
		m := markerRe.FindStringSubmatch(strings.TrimRight(lines[i], "\n"))
		if m == nil {
			continue
		}
		spec, err := parseSpec(m[1])
		if err != nil {
			return false, fmt.Errorf("line %d: %w", i+1, err)
		}
		// The fenced block that follows.
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			return false, fmt.Errorf("line %d: the marker is not followed by a fenced block", i+1)
		}
		fence := strings.TrimRight(lines[i+1], "\n")
		end := i + 2
		for end < len(lines) && strings.TrimRight(lines[end], "\n") != "```" {
			end++
		}
		if end >= len(lines) {
			return false, fmt.Errorf("line %d: the fenced block has no end", i+2)
		}
		old := strings.Join(lines[i+2:end], "")
		excerpt, err := r.excerpt(spec, old, check)
		if err != nil {
			return false, fmt.Errorf("line %d: %w", i+1, err)
		}
		if excerpt != old {
			changed = true
			if check {
				fmt.Fprintf(os.Stderr, "%s:%d: the excerpt differs from %q:\n%s\n", path, i+1, spec.get("cmd"), firstDifference(old, excerpt))
			}
		}
		out.WriteString(fence + "\n")
		out.WriteString(excerpt)
		out.WriteString("```\n")
		i = end
	}
	if changed && !check {
		return true, os.WriteFile(path, []byte(out.String()), 0o644)
	}
	return changed, nil
}

// excerpt makes the excerpt of spec from three runs of its command (up
// to eight in a check): in a check, any run whose excerpt agrees with
// old, but for what differs from run to run, gives old back; otherwise
// the excerpt most runs agree on (the kernel's timing can change what it
// sends: an ACK delayed or not).
func (r *runner) excerpt(spec spec, old string, check bool) (string, error) {
	cmd := spec.get("cmd")
	if cmd == "" {
		return "", errors.New(`the marker names no cmd="…"`)
	}
	// A check that no run agrees with runs the command more often
	// before it says so: on a loaded machine the order of events made
	// at about the same time, and so what an excerpt cut at an event
	// holds, varies more. A page the code no longer matches fails all.
	runs := 3
	if check {
		runs = 8
	}
	if _, ok := spec.lookup("varies"); ok {
		return r.varying(spec, old, check)
	}
	var got []string
	for n := range runs {
		out, err := r.output(cmd, spec.get("file"), n)
		if err != nil {
			return "", err
		}
		ex, err := spec.apply(out)
		if err != nil {
			return "", err
		}
		// What agrees but for what differs from run to run is kept as
		// it is: a rewrite changes only what the code changed.
		if ex == old || same(ex, old) && !r.fresh {
			return old, nil
		}
		got = append(got, ex)
	}
	best, votes := got[0], 0
	for _, a := range got {
		n := 0
		for _, b := range got {
			if same(a, b) {
				n++
			}
		}
		if n > votes {
			best, votes = a, n
		}
	}
	return best, nil
}

// varying makes the excerpt of a spec marked varies: one run's. A
// check keeps old when the run's excerpt has old's first line, numbers
// left out.
func (r *runner) varying(spec spec, old string, check bool) (string, error) {
	out, err := r.output(spec.get("cmd"), spec.get("file"), 0)
	if err != nil {
		return "", err
	}
	ex, err := spec.apply(out)
	if err != nil {
		return "", err
	}
	if old == "" || !check && r.fresh {
		return ex, nil
	}
	first := func(s string) string {
		line, _, _ := strings.Cut(s, "\n")
		return digits.ReplaceAllString(line, "N")
	}
	if ex != "" && first(old) == first(ex) {
		return old, nil
	}
	return ex, nil
}

// digits matches a number.
var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// spec is a marker's attributes, in order.
type spec []attr

type attr struct{ key, val string }

// lookup reports whether the spec has the attribute key, and its value.
func (s spec) lookup(key string) (string, bool) {
	for _, a := range s {
		if a.key == key {
			return a.val, true
		}
	}
	return "", false
}

func (s spec) get(key string) string {
	for _, a := range s {
		if a.key == key {
			return a.val
		}
	}
	return ""
}

var attrRe = regexp.MustCompile(`\s*([a-z]+)(?:=(?:"((?:[^"\\]|\\.)*)"|(\S+)))?`)

func parseSpec(s string) (spec, error) {
	var sp spec
	s = strings.TrimSpace(s)
	for s != "" {
		m := attrRe.FindStringSubmatchIndex(s)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("cannot read the marker's attributes at %q", s)
		}
		key := s[m[2]:m[3]]
		var val string
		switch {
		case m[4] >= 0:
			v, err := strconv.Unquote(`"` + s[m[4]:m[5]] + `"`)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", key, err)
			}
			val = v
		case m[6] >= 0:
			val = s[m[6]:m[7]]
		}
		if !slices.Contains(knownAttrs, key) {
			return nil, fmt.Errorf("unknown attribute %q (known: %s)", key, strings.Join(knownAttrs, ", "))
		}
		sp = append(sp, attr{key, val})
		s = strings.TrimSpace(s[m[1]:])
	}
	return sp, nil
}

var knownAttrs = []string{"cmd", "file", "step", "section", "ladder", "captured", "from", "until", "grep", "notes", "lines", "head", "varies", "conn", "kind", "svg"}

// apply cuts the excerpt out of a command's output.
func (s spec) apply(out string) (string, error) {
	ls := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, a := range s {
		var err error
		switch a.key {
		case "step":
			ls, err = stepOf(ls, a.val)
		case "section":
			ls, err = sectionOf(ls, a.val)
		case "ladder":
			ls, err = sectionOf(ls, "Connection #"+a.val)
		case "captured":
			ls = grepLines(ls, regexp.MustCompile(`^Captured \d+ packets`))
		case "from", "until", "grep", "lines":
			re, rerr := regexp.Compile(a.val)
			if rerr != nil {
				return "", fmt.Errorf("%s: %w", a.key, rerr)
			}
			switch a.key {
			case "from":
				ls, err = fromBlock(ls, re)
			case "until":
				ls, err = untilBlock(ls, re)
			case "grep":
				ls = grepBlocks(ls, re)
			case "lines":
				ls = grepLines(ls, re)
			}
		case "notes":
			if a.val == "off" {
				ls = withoutNotes(ls)
			}
		case "head":
			n, aerr := strconv.Atoi(a.val)
			if aerr != nil || n < 1 {
				return "", fmt.Errorf("head=%q: want a count of lines", a.val)
			}
			ls = ls[:min(n, len(ls))]
		}
		if err != nil {
			return "", err
		}
	}
	for len(ls) > 0 && strings.TrimSpace(ls[len(ls)-1]) == "" {
		ls = ls[:len(ls)-1]
	}
	if len(ls) == 0 {
		return "", fmt.Errorf("the excerpt %v is empty", s)
	}
	return strings.Join(ls, "\n") + "\n", nil
}

// eventRe matches the first line of an event in the pretty output.
var eventRe = regexp.MustCompile(`^\s+\+[0-9.]+ (ms|s)\s`)

// blockEnd returns the index after the block that starts at line i: an
// event with its indented notes, or a single line.
func blockEnd(ls []string, i int) int {
	if !eventRe.MatchString(ls[i]) {
		return i + 1
	}
	j := i + 1
	for j < len(ls) && strings.HasPrefix(ls[j], "             ") && !eventRe.MatchString(ls[j]) {
		j++
	}
	return j
}

func stepOf(ls []string, n string) ([]string, error) {
	start := -1
	for i, l := range ls {
		if strings.HasPrefix(l, "Step "+n+" of ") {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("no step %s in the output", n)
	}
	end := start + 1
	for end < len(ls) && !strings.HasPrefix(ls[end], "Step ") && !isEndSection(ls[end]) {
		end++
	}
	return ls[start:end], nil
}

// isEndSection reports whether l starts one of the parts that follow a
// lesson's steps.
func isEndSection(l string) bool {
	for _, p := range []string{"The ladder", "Connection #", "Captured ", "Recap", "Try this"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func sectionOf(ls []string, title string) ([]string, error) {
	start := -1
	for i, l := range ls {
		if strings.HasPrefix(l, title) {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("no %q in the output", title)
	}
	end := start + 1
	for end < len(ls) && strings.TrimSpace(ls[end]) != "" {
		end++
	}
	return ls[start:end], nil
}

func fromBlock(ls []string, re *regexp.Regexp) ([]string, error) {
	for i := range ls {
		if re.MatchString(ls[i]) {
			return ls[i:], nil
		}
	}
	return nil, fmt.Errorf("from: nothing matches %q", re)
}

func untilBlock(ls []string, re *regexp.Regexp) ([]string, error) {
	for i := range ls {
		if re.MatchString(ls[i]) {
			return ls[:blockEnd(ls, i)], nil
		}
	}
	return nil, fmt.Errorf("until: nothing matches %q", re)
}

// grepBlocks keeps the events whose first line matches, and a step's
// heading.
func grepBlocks(ls []string, re *regexp.Regexp) []string {
	var out []string
	heading := len(ls) > 0 && strings.HasPrefix(ls[0], "Step ")
	i := 0
	if heading {
		for i < len(ls) && !eventRe.MatchString(ls[i]) {
			out = append(out, ls[i])
			i++
		}
	}
	for i < len(ls) {
		j := blockEnd(ls, i)
		if eventRe.MatchString(ls[i]) && re.MatchString(ls[i]) {
			out = append(out, ls[i:j]...)
		}
		i = j
	}
	return out
}

func grepLines(ls []string, re *regexp.Regexp) []string {
	var out []string
	for _, l := range ls {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// withoutNotes drops the notes of the events, not their kernel: lines.
func withoutNotes(ls []string) []string {
	var out []string
	for i := 0; i < len(ls); {
		j := blockEnd(ls, i)
		out = append(out, ls[i])
		for _, l := range ls[i+1 : j] {
			if strings.HasPrefix(strings.TrimSpace(l), "kernel: ") {
				out = append(out, l)
			}
		}
		i = j
	}
	return out
}

// volatile are the parts of the output that differ from run to run.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	// First, the wrapping: a note's lines joined, "6.160\n   ms" is
	// "6.160 ms" as any time is.
	{regexp.MustCompile(`\s+`), " "},
	// JSON lines: the event's number (not the packet's relative seq,
	// further in), the number of the packet that caused a change, the
	// time.
	{regexp.MustCompile(`^\{"seq":\d+`), `{"seq":N`},
	{regexp.MustCompile(`"cause":\d+`), `"cause":N`},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`), "TIME"},
	// The time Go's log package puts before a line: a practice
	// exercise's output.
	{regexp.MustCompile(`\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`), "TIME"},
	{regexp.MustCompile(`((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:.]+\]|\*):\d{4,5}\b`), "$1:PORT"},
	{regexp.MustCompile(`\b(port|chose|ports?) \d{4,5}\b`), "$1 PORT"},
	// A process id: the lab's in "nsenter -t PID", a program's in
	// "(pid PID)". A fresh container's are small numbers.
	{regexp.MustCompile(`(-t|\bpid) \d+\b`), "$1 PID"},
	{regexp.MustCompile(`\b\d+(\.\d+)? ?(ms|µs|s|KiB|MiB)\b`), "T"},
	{regexp.MustCompile(`\b\d{4,}\b`), "N"},
}

// same reports whether two excerpts agree but for what differs from run
// to run: ports, times, large numbers, line breaks, the order of the
// events (two goroutines' events made at about the same time) and the
// numbers of the connections.
func same(a, b string) bool {
	return slices.Equal(normalized(a), normalized(b))
}

// connRe matches a connection's number: "#3" in the pretty output,
// "conn":3 in JSON.
var connRe = regexp.MustCompile(`#\d+\b|"conn":\d+`)

// renumbered gives the connections of s the numbers 1, 2, … in the order
// they first appear: the tracer numbers them in the order their events
// reach it, and a connection whose first events are packets, which come
// a little late, may be numbered after one that started later.
func renumbered(s string) string {
	ids := map[string]int{}
	return connRe.ReplaceAllStringFunc(s, func(m string) string {
		n := strings.TrimLeft(m, `#"conn:`)
		id, ok := ids[n]
		if !ok {
			id = len(ids) + 1
			ids[n] = id
		}
		if strings.HasPrefix(m, "#") {
			return "#" + strconv.Itoa(id)
		}
		return `"conn":` + strconv.Itoa(id)
	})
}

// normalized cuts an excerpt into its blocks (an event with its notes,
// or a line), each with the volatile parts replaced, sorted.
func normalized(s string) []string {
	ls := strings.Split(strings.TrimRight(renumbered(s), "\n"), "\n")
	var blocks []string
	for i := 0; i < len(ls); {
		j := blockEnd(ls, i)
		b := strings.Join(ls[i:j], " ")
		for _, v := range volatile {
			b = v.re.ReplaceAllString(b, v.with)
		}
		blocks = append(blocks, strings.TrimSpace(b))
		i = j
	}
	slices.Sort(blocks)
	return blocks
}

// firstDifference shows where two excerpts first differ: the first
// block of each that the other lacks once what varies from run to run is
// replaced, or else the first line that differs.
func firstDifference(old, new string) string {
	on, nn := normalized(old), normalized(new)
	for _, b := range on {
		if !slices.Contains(nn, b) {
			var got string
			for _, c := range nn {
				if !slices.Contains(on, c) {
					got = c
					break
				}
			}
			return fmt.Sprintf("  the page has: %s\n  the code has: %s\n  (times, ports, pids and large numbers replaced)", b, got)
		}
	}
	o, n := strings.Split(old, "\n"), strings.Split(new, "\n")
	for i := 0; i < max(len(o), len(n)); i++ {
		var ol, nl string
		if i < len(o) {
			ol = o[i]
		}
		if i < len(n) {
			nl = n[i]
		}
		if ol != nl {
			return fmt.Sprintf("  line %d of the excerpt:\n  page: %s\n  code: %s", i+1, ol, nl)
		}
	}
	return ""
}
