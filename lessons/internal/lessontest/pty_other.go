//go:build !linux

package lessontest

import (
	"errors"
	"os"
	"os/exec"
)

// openTerminal is Linux's here; elsewhere the tests that need a
// terminal skip.
func openTerminal(cols, rows int) (master, tty *os.File, err error) {
	return nil, nil, errors.New("pseudo-terminals are opened on Linux only in these tests")
}

// controlledBy is Linux's here: the tests that need it skip elsewhere.
func controlledBy(cmd *exec.Cmd) {}

// echoOn is Linux's here: the tests that need it skip elsewhere.
func echoOn(tty *os.File) error { return nil }
