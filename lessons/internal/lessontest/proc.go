package lessontest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"tcptour/tracer"
	"testing"
	"time"
)

// BuildPackage builds a command of the module, such as
// "tcptour/server" for a Try this's `go run ./server`, into a temporary
// directory that the user nobody can read, and returns the binary's
// path.
func BuildPackage(t *testing.T, pkg string) string {
	t.Helper()
	return build(t, filepath.Join(NobodyDir(t), path.Base(pkg)), pkg)
}

// Proc is a program a test runs in the background, as a learner runs a
// server in one terminal and tries things in another: a lesson (Hold,
// StartStepped), a command (Start), a Node program (StartNode). What it
// prints is read as it comes (WaitFor, Output); it is killed when the
// test ends if it is still running.
type Proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser // StartNode's: lines for the program
	term   *Terminal      // StartStepped's: the terminal it reads Enter from
	enters int            // the Enters pressed on term
	out    *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
}

// Start starts cmd with its output captured.
func Start(t *testing.T, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.start()
	return p
}

// start starts p's command, with its stdout and stderr captured.
func (p *Proc) start() {
	p.t.Helper()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	p.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Command returns a command to run where the lesson's sockets are, as a
// learner runs a Try this's command in another terminal: in the lesson's
// lab, joined with the command the lesson printed ("join the lab: …"),
// when it runs in one; on the host otherwise.
func (p *Proc) Command(name string, args ...string) *exec.Cmd {
	if join := p.Join(); join != nil {
		return exec.Command(join[0], append(append(join[1:], name), args...)...)
	}
	return exec.Command(name, args...)
}

// joinRe finds the join command in the pretty output and in --json's
// "text" field, which ends at the quote.
var joinRe = regexp.MustCompile(`join the lab: ([^"\n]+)`)

// Join returns the command, split in words, that the lesson printed for
// joining its lab (pretty or --json); nil when it runs on the host.
func (p *Proc) Join() []string {
	m := joinRe.FindStringSubmatch(p.out.String())
	if m == nil {
		return nil
	}
	return strings.Fields(m[1])
}

// Pid is the program's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// WaitFor waits until the program's stdout matches re and returns the
// submatches; it fails the test if the program exits first or nothing
// matches within 20 s.
func (p *Proc) WaitFor(re *regexp.Regexp) []string {
	p.t.Helper()
	var m []string
	p.waitUntil(p.out, fmt.Sprintf("%q", re), func(text string) bool {
		m = re.FindStringSubmatch(text)
		return m != nil
	})
	return m
}

// WaitEvent waits until a program run with --json has printed an event
// for which ok is true, and returns the events printed so far.
func (p *Proc) WaitEvent(what string, ok func(tracer.Event) bool) []tracer.Event {
	p.t.Helper()
	var events []tracer.Event
	p.waitUntil(p.out, what, func(text string) bool {
		// A flush may end in the middle of a line: parse whole lines.
		events = Events(p.t, text[:strings.LastIndexByte(text, '\n')+1])
		return slices.ContainsFunc(events, ok)
	})
	return events
}

// waitUntil waits until done(buf's text) is true. It fails the test if
// the program exits first or 20 s pass.
func (p *Proc) waitUntil(buf *lockedBuffer, what string, done func(string) bool) {
	p.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		// The channel first: a write after the check wakes the wait.
		changed := buf.changed()
		if done(buf.String()) {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			if done(buf.String()) {
				return
			}
			p.t.Fatalf("%s exited (%v) before %s:\n%s\nstderr: %s", p.cmd.Path, p.err, what, p.out.String(), p.stderr.String())
		case <-deadline:
			p.t.Fatalf("no %s from %s within 20 s:\n%s\nstderr: %s", what, p.cmd.Path, p.out.String(), p.stderr.String())
		}
	}
}

// Output returns what the program has printed on stdout so far.
func (p *Proc) Output() string { return p.out.String() }

// Stderr returns what the program has printed on stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Lines returns the program's output lines that start with prefix.
func (p *Proc) Lines(prefix string) []string {
	var lines []string
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return lines
}

// Wait waits for the program to exit by itself, for 60 s at most, and
// returns all it printed on stdout and its exit: nil for status 0.
func (p *Proc) Wait() (string, error) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s did not end within 60 s:\n%s\nstderr: %s", p.cmd.Path, p.out.String(), p.stderr.String())
	}
	return p.out.String(), p.err
}

// Stop interrupts the program as Ctrl-C does, waits for it to exit and
// returns what it printed.
func (p *Proc) Stop() (stdout, stderr string) {
	p.t.Helper()
	// NOTE: ignoring the error: the command may have exited already.
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not stop within 20 s of SIGINT", p.cmd.Path)
	}
	return p.out.String(), p.stderr.String()
}

// StartInteractive starts cmd with its output captured and its
// standard input a pipe that Send writes lines to, as a learner types
// into nc in another terminal: CloseInput is Ctrl-D, Stop is Ctrl-C.
func StartInteractive(t *testing.T, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.start()
	return p
}

// StartNode runs node on script (a path relative to the test's
// directory, e.g. testdata/halfopen.js) with args, or skips the test
// where node is not installed. The program talks to the test through
// its standard streams: it prints one line per thing it saw ("port
// 41234", "connection 55012", "error EPIPE"), and reads the lines Send
// writes. A server prints "port N" once it listens, for Port.
func StartNode(t *testing.T, script string, args ...string) *Proc {
	t.Helper()
	return StartInteractive(t, exec.Command(Node(t), append([]string{script}, args...)...))
}

var portRe = regexp.MustCompile(`(?m)^port (\d+)$`)

// Port waits for the program's "port N" line and returns N.
func (p *Proc) Port() int {
	p.t.Helper()
	n, err := strconv.Atoi(p.WaitFor(portRe)[1])
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// Send writes a line to the program's standard input (StartNode's,
// StartInteractive's).
func (p *Proc) Send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("writing to %s: %v\n%s", p.cmd.Path, err, p.Output())
	}
}

// CloseInput closes the program's standard input, as Ctrl-D in its
// terminal does (StartNode's, StartInteractive's).
func (p *Proc) CloseInput() {
	if p.stdin != nil {
		p.stdin.Close()
	}
}

// Running reports whether the program has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// End closes the program's standard input, which tells the Node
// programs of these tests to end, waits for it to exit and returns its
// output. It fails the test if the program fails.
func (p *Proc) End() string {
	p.t.Helper()
	p.CloseInput()
	out, err := p.Wait()
	if err != nil {
		p.t.Fatalf("%s: %v\n%s\nstderr: %s", p.cmd.Path, err, out, p.stderr.String())
	}
	return out
}

// SetFileLimit sets the soft limit on open files (RLIMIT_NOFILE, what
// ulimit -n shows) of the running program, as prlimit --nofile does.
func (p *Proc) SetFileLimit(n uint64) {
	p.t.Helper()
	if err := setFileLimit(p.Pid(), n); err != nil {
		if errors.Is(err, syscall.ENOSYS) || errors.Is(err, os.ErrPermission) {
			p.t.Skipf("cannot lower the program's file limit here: %v", err)
		}
		p.t.Fatalf("prlimit: %v", err)
	}
}

// StartStepped starts the lesson binary bin with --step --no-color and
// args, its standard input a terminal of its own, as a learner runs it:
// before each step it asks for Enter on stderr and waits. A Try this
// that says "at the pause before step 3, run …" is tested with it
// (WaitPrompt, then Enter; Finish presses Enter at every pause left).
// It skips the test where no pseudo-terminal can be opened.
func StartStepped(t *testing.T, bin string, args ...string) *Proc {
	t.Helper()
	tm := NewTerminal(t)
	p := &Proc{t: t, cmd: exec.Command(bin, append([]string{"--step", "--no-color"}, args...)...), term: tm,
		out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdin = tm.TTY()
	p.start()
	return p
}

// WaitPrompt waits until the lesson asks for Enter before step n.
func (p *Proc) WaitPrompt(n int) {
	p.t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`\[press Enter for step %d of \d+`, n))
	p.waitUntil(p.stderr, fmt.Sprintf("the pause before step %d", n), re.MatchString)
}

// Enter presses Enter on the lesson's terminal.
func (p *Proc) Enter() {
	p.t.Helper()
	if err := p.term.Enter(); err != nil {
		p.t.Fatal(err)
	}
	p.enters++
}

// Type types a line and Enter on the lesson's terminal (StartStepped's),
// as a learner answers a question of --quiz.
func (p *Proc) Type(line string) {
	p.t.Helper()
	if _, err := p.term.master.Write([]byte(line + "\n")); err != nil {
		p.t.Fatal(err)
	}
}

// Finish presses Enter at every pause left, waits for the lesson to
// exit, fails the test unless it exits 0, and returns its stdout.
func (p *Proc) Finish() string {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		changed := p.stderr.changed()
		if strings.Count(p.stderr.String(), "[press Enter") > p.enters {
			p.Enter()
			continue
		}
		select {
		case <-changed:
		case <-p.done:
			if p.err != nil {
				p.t.Fatalf("the lesson: %v\nstderr: %s", p.err, p.stderr.String())
			}
			return p.out.String()
		case <-deadline:
			p.t.Fatalf("the lesson did not finish within 30 s:\n%s", p.out.String())
		}
	}
}

// InOrder checks that the strings appear in text in that order, each
// after the one before. A string may span the line breaks of a wrapped
// note: whitespace in it matches any run of whitespace.
func InOrder(t *testing.T, text string, want ...string) {
	t.Helper()
	at := 0
	for _, w := range want {
		re := regexp.MustCompile(strings.Join(strings.Fields(regexp.QuoteMeta(w)), `\s+`))
		loc := re.FindStringIndex(text[at:])
		if loc == nil {
			t.Fatalf("no %q after %q in:\n%s", w, text[max(0, at-80):at], text)
		}
		at += loc[1]
	}
}

// Section returns the part of text from the first from up to the first
// to after it.
func Section(t *testing.T, text, from, to string) string {
	t.Helper()
	i := strings.Index(text, from)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", from, text)
	}
	j := strings.Index(text[i:], to)
	if j < 0 {
		t.Fatalf("no %q after %q in:\n%s", to, from, text)
	}
	return text[i : i+j]
}
