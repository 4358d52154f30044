//go:build linux

package link_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// envInLab marks the test binary run again in a network namespace of
// its own (in a user namespace of its own when not root), where the
// tests can make links.
const envInLab = "TCPTOUR_LINKTEST_INLAB"

// noLab is why the tests that need a lab skip, when one could not be
// made.
var noLab string

func TestMain(m *testing.M) {
	if os.Getenv(envInLab) != "" {
		goleak.VerifyTestMain(m)
		return
	}
	exe, err := os.Executable()
	if err == nil {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Env = append(os.Environ(), envInLab+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if os.Geteuid() != 0 {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		cmd.SysProcAttr = attr
		err = cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		if err == nil {
			os.Exit(0)
		}
	}
	// The lab could not be made: run here, where the tests that need it
	// skip.
	noLab = fmt.Sprintf("no network namespace could be made for the test: %v", err)
	goleak.VerifyTestMain(m)
}
