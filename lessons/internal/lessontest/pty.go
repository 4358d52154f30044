package lessontest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Terminal is a pseudo-terminal that a test gives a lesson as its
// standard input, so that the lesson's --step pauses as it does on a
// learner's terminal (the runner turns --step off when standard input is
// not a terminal). The test presses Enter with Enter.
type Terminal struct {
	master *os.File
	tty    *os.File
}

// NewTerminal opens a pseudo-terminal: /dev/ptmx, unlocked (TIOCSPTLCK),
// and the terminal it names (TIOCGPTN), with echo off so that nothing
// comes back on the master side, 80 columns wide and 24 rows high. Both
// ends are closed when the test ends.
func NewTerminal(t *testing.T) *Terminal {
	t.Helper()
	return NewTerminalSize(t, 80, 24)
}

// NewTerminalSize opens a pseudo-terminal as NewTerminal does, cols
// columns wide and rows high (TIOCSWINSZ), as a learner's terminal
// window of that size.
func NewTerminalSize(t *testing.T, cols, rows int) *Terminal {
	t.Helper()
	master, tty, err := openTerminal(cols, rows)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() {
		tty.Close()
		master.Close()
	})
	return &Terminal{master: master, tty: tty}
}

// TTY is the terminal's end to give a command as its standard input.
func (tm *Terminal) TTY() *os.File { return tm.tty }

// Enter presses Enter.
func (tm *Terminal) Enter() error {
	_, err := tm.master.Write([]byte("\n"))
	return err
}

var promptRe = regexp.MustCompile(`\[press Enter for step (\d+) of (\d+): [^\]]*\]`)

// RunStepped runs cmd, a lesson binary (or a command that runs one),
// with --step among its arguments and a Terminal as its standard input:
// a scripted learner who presses Enter at each pause. Before pressing
// Enter for step n it calls at(n, stdout), stdout being what the lesson
// has printed so far, and at may take its time, as a learner who pauses
// there to look around in another terminal; at may be nil.
// It returns what the lesson printed on stdout and stderr once it has
// exited, and fails the test if it exits with an error or a prompt does
// not come within 60 s.
func RunStepped(t *testing.T, cmd *exec.Cmd, at func(step int, stdout string)) (stdout, stderr string) {
	t.Helper()
	tm := NewTerminal(t)
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tm.TTY(), out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	done := make(chan struct{})
	go func() {
		exitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	for step := 1; ; step++ {
		if !waitPrompt(t, step, out, errOut, done) {
			// The lesson ended.
			if exitErr != nil {
				t.Fatalf("%s: %v\nstdout:\n%s\nstderr: %s", cmd.Path, exitErr, out.String(), errOut.String())
			}
			if step == 1 {
				t.Fatalf("the lesson never paused (is --step given?):\n%s\nstderr: %s", out.String(), errOut.String())
			}
			return out.String(), errOut.String()
		}
		if at != nil {
			at(step, out.String())
		}
		if err := tm.Enter(); err != nil {
			t.Fatal(fmt.Errorf("press Enter for step %d: %w", step, err))
		}
	}
}

// waitPrompt waits until the lesson's stderr holds the prompt for step,
// and reports true, or until the lesson has exited, and reports false.
func waitPrompt(t *testing.T, step int, out, errOut *lockedBuffer, done <-chan struct{}) bool {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		// The channel first: a write after the check wakes the wait.
		changed := errOut.changed()
		if prompts := promptRe.FindAllStringSubmatch(errOut.String(), -1); len(prompts) >= step {
			if prompts[step-1][1] != strconv.Itoa(step) {
				t.Fatalf("prompt %d asks for step %s", step, prompts[step-1][1])
			}
			return true
		}
		select {
		case <-changed:
		case <-done:
			return len(promptRe.FindAllStringSubmatch(errOut.String(), -1)) >= step
		case <-deadline:
			t.Fatalf("no prompt for step %d within 60 s:\n%s\nstderr: %s", step, out.String(), errOut.String())
		}
	}
}
