//go:build linux

package lessontest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Start starts the lesson binary bin with the arguments given, as a
// learner runs it without --hold: its output is read as it comes
// (WaitFor), Stop interrupts it as Ctrl-C does, Wait waits for its end.
// The lesson is killed when the test ends if it is still running.
func Start(t *testing.T, bin string, args ...string) *Held {
	t.Helper()
	h := &Held{t: t, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		h.err = h.cmd.Wait()
		close(h.done)
	}()
	h.killAtCleanup()
	return h
}

// Term is a lesson running on a terminal of its own (a pseudo-terminal),
// as on a learner's screen: it pauses before each step, and Type
// presses keys.
type Term struct {
	*Held
	tty *os.File // the terminal's controlling side
}

// Terminal starts the lesson binary bin with the arguments given and its
// standard input, output and error on a new pseudo-terminal. What it
// prints is read from the terminal (WaitFor, Output), with the
// terminal's line endings ("\r\n").
func Terminal(t *testing.T, bin string, args ...string) *Term {
	t.Helper()
	tty, pts, err := openPTY()
	if err != nil {
		t.Fatalf("a pseudo-terminal: %v", err)
	}
	h := &Held{t: t, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdin, h.cmd.Stdout, h.cmd.Stderr = pts, pts, pts
	if err := h.cmd.Start(); err != nil {
		tty.Close()
		pts.Close()
		t.Fatal(err)
	}
	// The lesson has its own copy: once it exits, reading the terminal
	// ends with EIO, after all it printed.
	pts.Close()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// NOTE: ignoring the error: EIO once the lesson has exited.
		_, _ = io.Copy(h.out, tty)
	}()
	go func() {
		h.err = h.cmd.Wait()
		<-copied
		close(h.done)
	}()
	// Cleanups run last first: the lesson is killed, then its terminal
	// closed.
	t.Cleanup(func() { tty.Close() })
	h.killAtCleanup()
	return &Term{Held: h, tty: tty}
}

// Type types s on the lesson's terminal: "\n" is Enter.
func (tm *Term) Type(s string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.tty, s); err != nil {
		tm.t.Fatalf("typing %q: %v", s, err)
	}
}

// Wait waits for the lesson to exit by itself, for 60 s at most, and
// returns all it printed on stdout (on a terminal, stderr too) and its
// exit: nil for status 0.
func (h *Held) Wait() (string, error) {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		h.t.Fatalf("the lesson did not end within 60 s:\n%s\nstderr: %s", h.out.String(), h.stderr.String())
	}
	return h.out.String(), h.err
}

// Stderr returns what the lesson has printed on stderr so far (nothing
// on a terminal, where it shares the output).
func (h *Held) Stderr() string { return h.stderr.String() }

// killAtCleanup kills the lesson when the test ends, if it still runs.
func (h *Held) killAtCleanup() {
	h.t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.cmd.Process.Kill()
			<-h.done
		}
	})
}

// openPTY opens a new pseudo-terminal: tty is its controlling side, pts
// the terminal a program runs on.
func openPTY() (tty, pts *os.File, err error) {
	tty, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(tty.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		tty.Close()
		return nil, nil, err
	}
	// An 80-column screen, as the lessons' output expects.
	ws := &unix.Winsize{Row: 24, Col: 80}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, ws); err != nil && !errors.Is(err, unix.ENOTTY) {
		tty.Close()
		pts.Close()
		return nil, nil, err
	}
	return tty, pts, nil
}
