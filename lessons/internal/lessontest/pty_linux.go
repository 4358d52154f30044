package lessontest

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openTerminal opens a pseudo-terminal: /dev/ptmx, unlocked
// (TIOCSPTLCK), and the terminal it names (TIOCGPTN), with echo off so
// that nothing comes back on the master side.
func openTerminal() (master, tty *os.File, err error) {
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
	return master, tty, nil
}
