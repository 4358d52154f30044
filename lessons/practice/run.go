package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/lab"
	"tcptour/tracer/link"
	"tcptour/tracer/wire"
)

// checkTimeout bounds one check: every exercise's check ends well
// within it, so it is only reached by a check that waits on a program
// that never does what it waits for.
const checkTimeout = 60 * time.Second

// build compiles the Go files of dir (a package main) into a program in
// tmp. It returns the program's path, or the compiler's message as it
// printed it.
func build(dir, tmp string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, "_test.go") })
	if len(files) == 0 {
		return "", fmt.Errorf("%s holds no Go file to build", dir)
	}
	if cache := os.Getenv(envBuilt); cache != "" {
		if bin, ok := builtAlready(cache, files); ok {
			return bin, nil
		}
	}
	bin := filepath.Join(tmp, filepath.Base(dir))
	cmd := exec.Command("go", append([]string{"build", "-o", bin}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", &buildError{dir: dir, out: strings.TrimSpace(string(out))}
		}
		return "", fmt.Errorf("running go build: %w (is the Go toolchain on PATH?)", err)
	}
	return bin, nil
}

// envBuilt is for the tests alone: it names a folder of programs built
// already from the exercises' folders (TestEveryExercise builds them in
// a few go build commands, not one a check), each file named by the
// builtKey of its source. A learner never sets it: their check always
// builds.
const envBuilt = "TCPTOUR_PRACTICE_BUILT"

// builtAlready is the program in the folder cache built from these
// files, if there is one.
func builtAlready(cache string, files []string) (string, bool) {
	key, err := builtKey(files, findGoMod("."))
	if err != nil {
		return "", false
	}
	bin := filepath.Join(cache, key)
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return bin, true
}

// builtKey names the program go build makes of files (the Go files of
// one folder) in the module of the file gomod ("" for none): a hash of
// each file's name and contents, and of go.mod's. It holds for one tree
// at one moment, as the tests use it: the packages the files import are
// not in it.
func builtKey(files []string, gomod string) (string, error) {
	h := sha256.New()
	if gomod != "" {
		b, err := os.ReadFile(gomod)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "go.mod %d\n", len(b))
		h.Write(b)
	}
	byName := slices.Clone(files)
	slices.SortFunc(byName, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	for _, f := range byName {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// findGoMod is the go.mod of the module go build uses in dir: the first
// one in dir or above it, or "".
func findGoMod(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		f := filepath.Join(dir, "go.mod")
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			return f
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// buildError is a program that does not compile: the compiler's message.
type buildError struct{ dir, out string }

func (e *buildError) Error() string {
	return fmt.Sprintf("%s does not compile:\n%s", e.dir, e.out)
}

// result is what a check found.
type result struct {
	holds  bool
	facts  []string
	failed string // why it does not hold
	// evidence is what the check saw, printed below the failure:
	// trace lines, ladders, the program's output.
	evidence string
}

// runCheck runs ex's check on the program bin and prints what it saw to
// out: here, in the lab's network (or on this machine's loopback when
// there is no lab), its sockets captured. The error is for what kept
// the check from running; a check that ran and found the exercise does
// not hold returns a result that says so.
func runCheck(ctx context.Context, ex *Exercise, bin string, in *lab.Info, out io.Writer, opts options) (result, error) {
	inLab := in != nil
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	c := &Check{ctx: ctx, ex: ex, bin: bin, Addr: netip.MustParseAddrPort("127.0.0.1:6969")}
	cfg := wire.Config{Mode: wire.ModeAuto, Program: "./lessons/practice"}
	var linkTrace atomic.Pointer[tracer.Trace] // for the link's goroutines
	if ex.Link != nil {
		if !inLab {
			return result{}, errors.New("this exercise runs on a link between two network namespaces, which only the lab makes; this system does not allow the lab here")
		}
		lcfg := *ex.Link
		// What the link does goes in the trace, once it exists.
		lcfg.OnEvent = func(e link.Event) {
			if tr := linkTrace.Load(); tr != nil {
				tr.Add(tracer.Event{Time: e.Time, Actor: "link", Phase: tracer.PhaseNote,
					Proto: "tcp", Local: e.Segment.Src, Remote: e.Segment.Dst, Text: e.Text, Note: e.Note()})
			}
		}
		l, err := link.New(lcfg)
		if err != nil {
			return result{}, err
		}
		defer l.Close()
		c.link = l
		c.Addr = netip.AddrPortFrom(link.ServerAddr, 6969)
		cfg.Ends = []wire.End{
			{Name: "client", Interface: link.ClientInterface, MarkerTo: link.MarkerAddr, Addr: link.ClientAddr, Addr6: link.ClientAddr6, In: l.InClient},
			{Name: "server", Interface: link.ServerInterface, MarkerTo: link.MarkerAddr, Addr: link.ServerAddr, Addr6: link.ServerAddr6, In: l.InServer},
		}
	} else if !inLab && len(ex.Sysctls) > 0 {
		return result{}, fmt.Errorf("this exercise needs its lab, where it sets %s; this system does not allow the lab here", ex.Sysctls[0])
	} else if !inLab {
		// This machine's loopback: 6969 may be taken.
		port, err := freePort()
		if err != nil {
			return result{}, err
		}
		c.Addr = netip.AddrPortFrom(c.Addr.Addr(), port)
	}
	files, err := wire.CreateFiles(opts.pcap, "", "")
	if err != nil {
		return result{}, err
	}
	defer files.Discard()
	cfg.PCAP = files.PCAP
	var printer tracer.Printer = tracer.PrinterFunc(func(tracer.Event) error { return nil })
	if opts.verbose {
		printer = tracer.NewPrettyWith(out, tracer.PrettyOptions{Color: opts.color, Width: opts.width})
	}
	tl, skipped, err := wire.NewTimeline("check", printer, io.Discard, cfg)
	if err != nil {
		return result{}, err
	}
	switch {
	case inLab && ex.Link != nil:
		fmt.Fprint(out, tracer.Wrap("It runs in a lab of its own: network namespaces made for this check, joined by a link, where every packet is captured and the kernel's sockets are the check's alone.", 0, opts.width))
	case inLab:
		fmt.Fprint(out, tracer.Wrap("It runs in a lab of its own: a network namespace made for this check, where every packet is captured and the kernel's sockets are the check's alone.", 0, opts.width))
	case tl.Session() != nil:
		fmt.Fprint(out, tracer.Wrap("It runs on this machine's loopback, its packets captured.", 0, opts.width))
	}
	if in != nil {
		for _, s := range in.Sysctls {
			fmt.Fprint(out, tracer.Wrap(fmt.Sprintf("In this lab: %s (the kernel's default: %s). %s", s, s.Default, s.Why), 2, opts.width))
		}
	}
	for _, line := range skipped {
		fmt.Fprintf(out, "(%s)\n", line)
	}
	c.tl = tl
	linkTrace.Store(tl.Trace())
	c.captured = tl.Session() != nil
	// The program's port is captured from the start: its first
	// packets come before any of the check's own calls.
	tl.Session().AddTCPPort(c.Addr.Port())

	err = ex.Check(c)
	for _, p := range c.progs {
		p.stop()
	}
	linkTrace.Store(nil)
	// NOTE: an error here is a closed stdout; Close reports it.
	_ = tl.Drain()
	if _, _, cerr := tl.Close(); err == nil && cerr != nil {
		return result{}, cerr
	}
	if cerr := files.Commit(c.captured, false, false); cerr != nil {
		return result{}, cerr
	}
	if opts.pcap != "" && c.captured {
		fmt.Fprintf(out, "  (the packets are in %s: go run ./tracer/inspect %s)\n", opts.pcap, opts.pcap)
	}
	var f *failure
	switch {
	case err == nil:
		return result{holds: true, facts: c.facts}, nil
	case errors.As(err, &f):
	case ctx.Err() != nil && context.Cause(ctx) != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		f = &failure{msg: fmt.Sprintf("the check ran out of its %s waiting for your program", checkTimeout)}
	default:
		return result{}, err
	}
	var b strings.Builder
	c.report(&b, opts)
	return result{facts: c.facts, failed: f.msg, evidence: b.String()}, nil
}

// freePort is a loopback port nothing listens on now.
func freePort() (uint16, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

// report prints, for a check that failed, what the checker saw: the
// trace lines of the connections it marked and their ladders, and the
// program's output.
func (c *Check) report(out io.Writer, opts options) {
	events := c.tl.Events()
	ids := map[int]bool{}
	for _, e := range events {
		if e.Conn == 0 {
			continue
		}
		for _, s := range c.shown {
			if e.Local == s[0] && e.Remote == s[1] || e.Local == s[1] && e.Remote == s[0] ||
				e.Packet != nil && (e.Packet.Src == s[0] && e.Packet.Dst == s[1] || e.Packet.Src == s[1] && e.Packet.Dst == s[0]) {
				ids[e.Conn] = true
			}
		}
	}
	if len(ids) > 0 && !opts.verbose {
		var conns []int
		for id := range ids {
			conns = append(conns, id)
		}
		slices.Sort(conns)
		fmt.Fprintf(out, "\nWhat the check saw on %s:\n", connWords(conns))
		fmt.Fprintf(out, "(one line an event; -v prints the whole trace with its notes)\n")
		p := tracer.NewPrettyWith(out, tracer.PrettyOptions{Color: opts.color, Width: opts.width, Brief: true})
		var shown, lines []tracer.Event
		for _, e := range events {
			if !c.failedAt.IsZero() && e.Time.After(c.failedAt) {
				break
			}
			shown = append(shown, e)
			if ids[e.Conn] || e.Actor == "check" {
				lines = append(lines, e)
			}
		}
		// A long transfer is shown by its start and its end.
		const keep = 20
		for i, e := range lines {
			if len(lines) > 3*keep && i == keep {
				fmt.Fprintf(out, "  … %d events …\n", len(lines)-2*keep)
			}
			if len(lines) > 3*keep && i >= keep && i < len(lines)-keep {
				continue
			}
			// NOTE: an error here is a closed stdout.
			_ = p.Print(e)
		}
		var drawn []int
		for _, id := range conns {
			fmt.Fprintln(out)
			if segs := countPackets(shown, id); segs > 60 {
				fmt.Fprintf(out, "(The ladder of connection %d would take %d segments: -v prints the whole trace.)\n", id, segs)
				continue
			}
			_ = wire.FitLadder(out, shown, id, opts.width)
			drawn = append(drawn, id)
		}
		_, _ = wire.AskedFootnote(out, shown, drawn, opts.width)
	}
	for _, p := range c.progs {
		all := p.Output()
		before, after := all, ""
		if p.atFailure >= 0 && p.atFailure <= len(all) {
			before, after = all[:p.atFailure], all[p.atFailure:]
		}
		if o := strings.TrimSpace(before); o != "" {
			fmt.Fprintf(out, "\nYour program's output:\n%s", indentTail(o, 20))
		}
		if o := strings.TrimSpace(after); o != "" {
			fmt.Fprintf(out, "\nYour program's output after the check gave up (and closed its side):\n%s", indentTail(o, 10))
		}
	}
}

// connWords is "connection 2" or "connections 1, 2".
func connWords(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	if len(ids) == 1 {
		return "connection " + s[0]
	}
	return "connections " + strings.Join(s, ", ")
}

// inside runs a check in the lab that main made (lab.Reexec): the
// program to check was built outside and is named in the environment.
func inside(ctx context.Context, ex *Exercise, opts options) int {
	in, err := lab.Setup(ex.Sysctls)
	if err != nil {
		return 1 // the program outside says why
	}
	r, err := runCheck(ctx, ex, os.Getenv(envBinary), in, os.Stdout, opts)
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "practice: %s: interrupted; your program was stopped\n", ex.Name)
		return 130
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "practice: %s: %v\n", ex.Name, err)
		return 1
	}
	printResult(os.Stdout, ex, r, opts)
	if !r.holds {
		return 1
	}
	return 0
}

// countPackets is how many packets of connection id events hold.
func countPackets(events []tracer.Event, id int) int {
	n := 0
	for _, e := range events {
		if e.Conn == id && e.Phase == tracer.PhasePacket {
			n++
		}
	}
	return n
}

// indentTail is the last n lines of text, indented by two spaces.
func indentTail(text string, n int) string {
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return "  " + strings.Join(lines, "\n  ") + "\n"
}
