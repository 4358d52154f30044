package lessontest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
)

// Stepped is a lesson binary run with --step on a terminal of its own (a
// pseudo-terminal for its standard input), as a learner runs it: before
// each step it asks for Enter on stderr and waits. A Try this that says
// "at the pause before step 3, run …" is tested with it.
type Stepped struct {
	t      *testing.T
	cmd    *exec.Cmd
	term   *os.File // the terminal's master side: what the learner types
	out    *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error
	enters int // Enter presses so far
}

// StartStepped starts bin with --step --no-color and args, its standard
// input a new pseudo-terminal; it skips the test where none can be
// opened. The lesson is killed when the test ends if it has not exited.
func StartStepped(t *testing.T, bin string, args ...string) *Stepped {
	t.Helper()
	master, tty, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here (%v): --step needs a terminal", err)
	}
	s := &Stepped{t: t, term: master, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"--step", "--no-color"}, args...)...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = tty, s.out, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the lesson has its own copy
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	// The terminal echoes what is typed: read it away.
	go func() {
		buf := make([]byte, 256)
		for {
			if _, err := master.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		master.Close()
	})
	return s
}

// WaitPrompt waits until the lesson asks for Enter before step n.
func (s *Stepped) WaitPrompt(n int) {
	s.t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`\[press Enter for step %d of \d+`, n))
	deadline := time.After(20 * time.Second)
	for {
		changed := s.stderr.changed()
		if re.MatchString(s.stderr.String()) {
			return
		}
		select {
		case <-changed:
		case <-s.done:
			s.t.Fatalf("the lesson exited (%v) before the pause before step %d:\n%s\nstderr: %s", s.err, n, s.out.String(), s.stderr.String())
		case <-deadline:
			s.t.Fatalf("no pause before step %d within 20 s:\n%s\nstderr: %s", n, s.out.String(), s.stderr.String())
		}
	}
}

// WaitFor waits until the lesson's stdout matches re and returns the
// match's submatches. (What a step printed can reach the test after
// the prompt that follows it: stdout and stderr are two pipes.)
func (s *Stepped) WaitFor(re *regexp.Regexp) []string {
	s.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := s.out.changed()
		if m := re.FindStringSubmatch(s.out.String()); m != nil {
			return m
		}
		select {
		case <-changed:
		case <-s.done:
			if m := re.FindStringSubmatch(s.out.String()); m != nil {
				return m
			}
			s.t.Fatalf("the lesson exited (%v) before printing %q:\n%s\nstderr: %s", s.err, re, s.out.String(), s.stderr.String())
		case <-deadline:
			s.t.Fatalf("no %q in the lesson's output within 20 s:\n%s\nstderr: %s", re, s.out.String(), s.stderr.String())
		}
	}
}

// Enter presses Enter on the lesson's terminal.
func (s *Stepped) Enter() {
	s.t.Helper()
	if _, err := s.term.Write([]byte("\n")); err != nil {
		s.t.Fatal(err)
	}
	s.enters++
}

// Output returns what the lesson has printed on stdout so far.
func (s *Stepped) Output() string { return s.out.String() }

// Finish presses Enter at every pause left, waits for the lesson to
// exit, fails the test unless it exits 0, and returns its stdout.
func (s *Stepped) Finish() string {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		changed := s.stderr.changed()
		if strings.Count(s.stderr.String(), "[press Enter") > s.enters {
			s.Enter()
			continue
		}
		select {
		case <-changed:
		case <-s.done:
			if s.err != nil {
				s.t.Fatalf("the lesson: %v\nstderr: %s", s.err, s.stderr.String())
			}
			return s.out.String()
		case <-deadline:
			s.t.Fatalf("the lesson did not finish within 30 s:\n%s", s.out.String())
		}
	}
}

// Ran is what a lesson binary did in one run to its end.
type Ran struct {
	Stdout, Stderr string
	Code           int // the exit status
}

// RunBinary runs a lesson binary with args, stdin empty, to its end.
func RunBinary(t *testing.T, bin string, args ...string) Ran {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Ran{Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// Events parses the JSON lines a lesson printed with --json; lines that
// are not events (none should be) fail the test.
func Events(t *testing.T, jsonLines string) []tracer.Event {
	t.Helper()
	var events []tracer.Event
	sc := bufio.NewScanner(strings.NewReader(jsonLines))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e tracer.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not an event: %v\n%s", err, sc.Text())
		}
		events = append(events, e)
	}
	return events
}

// WaitEvent waits until a lesson held with --json has printed an event
// for which ok is true, and returns the events printed so far. It fails
// the test when the lesson exits first or nothing matches within 20 s.
func (h *Held) WaitEvent(what string, ok func(tracer.Event) bool) []tracer.Event {
	h.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := h.out.changed()
		// A flush may end in the middle of a line: parse whole lines.
		text := h.out.String()
		text = text[:strings.LastIndexByte(text, '\n')+1]
		events := Events(h.t, text)
		for _, e := range events {
			if ok(e) {
				return events
			}
		}
		select {
		case <-changed:
		case <-h.done:
			h.t.Fatalf("the lesson exited (%v) before %s:\n%s\nstderr: %s", h.err, what, h.out.String(), h.stderr.String())
		case <-deadline:
			h.t.Fatalf("no %s within 20 s:\n%s\nstderr: %s", what, h.out.String(), h.stderr.String())
		}
	}
}

// Buffer collects what a command writes (nc's output in a Try this),
// for a test that waits for it.
type Buffer struct{ b lockedBuffer }

// Write adds p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) { return b.b.Write(p) }

// String returns what was written so far.
func (b *Buffer) String() string { return b.b.String() }

// WaitFor waits until the buffer holds s, and fails the test if it does
// not within 20 s.
func (b *Buffer) WaitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := b.b.changed()
		if strings.Contains(b.b.String(), s) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %q within 20 s; got %q", s, b.b.String())
		}
	}
}
