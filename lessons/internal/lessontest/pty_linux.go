package lessontest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// openTerminal opens a pseudo-terminal: /dev/ptmx, unlocked
// (TIOCSPTLCK), and the terminal it names (TIOCGPTN), with echo off so
// that nothing comes back on the master side, cols columns wide and rows
// high.
func openTerminal(cols, rows int) (master, tty *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fail := func(what string, err error) (*os.File, *os.File, error) {
		if tty != nil {
			tty.Close()
		}
		master.Close()
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlock the pseudo-terminal", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("the pseudo-terminal's number", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open the terminal", err)
	}
	term, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err == nil {
		term.Lflag &^= unix.ECHO
		err = unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, term)
	}
	if err != nil {
		return fail("turn echo off", err)
	}
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fail("set the terminal's size", err)
	}
	return master, tty, nil
}

// controlledBy makes tty, cmd's standard input, its controlling
// terminal, in a session of its own: a Ctrl-C typed on the terminal
// then interrupts it, as in a learner's terminal.
func controlledBy(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}

// echoOn turns the terminal's echo back on, as a learner's terminal has
// it: Enter then moves the cursor to the next line, and Ctrl-C shows as
// ^C.
func echoOn(tty *os.File) error {
	term, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		return err
	}
	term.Lflag |= unix.ECHO | unix.ECHOCTL
	return unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, term)
}
