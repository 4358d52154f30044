package lessontest

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Screen is a lesson run in a terminal window of its own: a Terminal is
// its standard input, output and error, and its controlling terminal,
// with echo on, so that what it shows is its output, its prompts and
// the keys typed, interleaved as a learner sees them, and Ctrl-C typed
// on it interrupts it.
type Screen struct {
	t      *testing.T
	cmd    *exec.Cmd
	term   *Terminal
	shown  *lockedBuffer // what the terminal showed, as written
	read   chan struct{} // closed once the terminal has nothing more to show
	done   chan struct{} // closed once the lesson exited
	err    error         // its exit, once done is closed
	enters int           // the Enters pressed
}

// StartOnTerminal starts cmd in a terminal cols columns wide (see
// Screen). It skips the test where no pseudo-terminal can be opened.
func StartOnTerminal(t *testing.T, cmd *exec.Cmd, cols int) *Screen {
	t.Helper()
	tm := NewTerminalSize(t, cols, 24)
	if err := echoOn(tm.tty); err != nil {
		t.Fatalf("turn the terminal's echo on: %v", err)
	}
	s := &Screen{t: t, cmd: cmd, term: tm, shown: &lockedBuffer{}, read: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tm.TTY(), tm.TTY(), tm.TTY()
	controlledBy(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The lesson holds the terminal now: once it exits, reading the
	// master side ends (EIO) after the last of what it wrote.
	tm.tty.Close()
	go func() {
		defer close(s.read)
		buf := make([]byte, 4096)
		for {
			n, err := tm.master.Read(buf)
			s.shown.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// Text returns what the terminal has shown so far, its line ends
// ("\r\n" on a terminal) as "\n".
func (s *Screen) Text() string { return strings.ReplaceAll(s.shown.String(), "\r\n", "\n") }

// Press types keys on the terminal: "\n" is Enter, "\x03" Ctrl-C.
func (s *Screen) Press(keys string) {
	s.t.Helper()
	if _, err := s.term.master.Write([]byte(keys)); err != nil {
		s.t.Fatalf("typing %q: %v", keys, err)
	}
	s.enters += strings.Count(keys, "\n")
}

// WaitPrompt waits until the lesson asks for Enter before step n, and
// fails the test if it exits first or does not ask within 60 s.
func (s *Screen) WaitPrompt(n int) {
	s.t.Helper()
	re := regexp.MustCompile(fmt.Sprintf(`\[press Enter for step %d of \d+`, n))
	deadline := time.After(60 * time.Second)
	for {
		changed := s.shown.changed()
		if re.MatchString(s.Text()) {
			return
		}
		select {
		case <-changed:
		case <-s.read:
			if re.MatchString(s.Text()) {
				return
			}
			s.t.Fatalf("the lesson ended (%v) before the pause before step %d:\n%s", s.exit(), n, s.Text())
		case <-deadline:
			s.t.Fatalf("no pause before step %d within 60 s:\n%s", n, s.Text())
		}
	}
}

// exit waits for the lesson's exit, once the terminal has shown all.
func (s *Screen) exit() error {
	<-s.done
	return s.err
}

// Wait waits until the lesson has exited and the terminal has shown all
// it wrote, for 60 s at most, and returns what it showed and the exit:
// nil for status 0.
func (s *Screen) Wait() (string, error) {
	s.t.Helper()
	timeout := time.After(60 * time.Second)
	for _, c := range []chan struct{}{s.done, s.read} {
		select {
		case <-c:
		case <-timeout:
			s.cmd.Process.Kill()
			s.t.Fatalf("the lesson did not end within 60 s:\n%s", s.Text())
		}
	}
	return s.Text(), s.err
}

// Finish presses Enter at every pause, as a learner reading along does,
// waits for the lesson to exit, fails the test unless it exits 0, and
// returns what the terminal showed. Before each Enter it calls at with
// the step that comes next, when at is not nil: at may take its time, as
// a learner at the pause.
func (s *Screen) Finish(at func(step int)) string {
	s.t.Helper()
	deadline := time.After(3 * time.Minute)
	for {
		changed := s.shown.changed()
		if n := strings.Count(s.Text(), "[press Enter"); n > s.enters {
			if at != nil {
				at(s.enters + 1)
			}
			s.Press("\n")
			continue
		}
		select {
		case <-changed:
		case <-s.read:
			text, err := s.Wait()
			if err != nil {
				s.t.Fatalf("the lesson: %v\n%s", err, text)
			}
			return text
		case <-deadline:
			s.t.Fatalf("the lesson did not finish within 3 minutes:\n%s", s.Text())
		}
	}
}

// eventLine matches the first line of an event in the pretty output:
// its time, then the actor. It is a row of a table, as wide as what it
// shows: the terminal wraps it, and no test here holds it to a width.
var eventLine = regexp.MustCompile(`^ *\+-?\d+\.\d{3} (ms|s)  `)

// RunNarrow runs the lesson built from the current directory in a
// terminal cols columns wide, as a learner with a narrow window does
// (with capture where this process may capture, and so the ladders),
// presses Enter at each pause, and checks that no line it shows is wider
// than cols: the title and intro, the step texts and prompts, the
// notes and their kernel: lines, the ladders (or the line that says
// how wide they need to be), the recap and Try this. The event lines
// themselves are left out: each is a row of a table, which the terminal
// wraps. So is the one line on stderr that says why there is no
// capture. It returns what the terminal showed.
func RunNarrow(t *testing.T, cols int) string {
	t.Helper()
	capture, _ := CaptureIfPermitted()
	s := StartOnTerminal(t, exec.Command(Build(t), "--step", capture), cols)
	text := s.Finish(nil)
	for _, want := range []string{"Step 1 of", "Recap", "Try this"} {
		if !strings.Contains(text, want) {
			t.Fatalf("no %q on the terminal:\n%s", want, text)
		}
	}
	for i, line := range strings.Split(text, "\n") {
		plain := ansi.ReplaceAllString(line, "")
		if eventLine.MatchString(plain) || strings.HasPrefix(plain, "lesson ") && strings.Contains(plain, "going on without") {
			continue
		}
		if n := utf8.RuneCountInString(plain); n > cols {
			t.Errorf("line %d is %d columns wide, more than the terminal's %d:\n%s", i+1, n, cols, plain)
		}
	}
	return text
}

// ansi matches the escape sequences that colour the output.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")
