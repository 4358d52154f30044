//go:build unix && !linux

package browser

import (
	"os/exec"
	"syscall"
)

// setGroup starts chromium in a process group of its own, so that
// [Browser.Close] can end it with its helpers.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills chromium's process group.
func killGroup(cmd *exec.Cmd) {
	// NOTE: ignoring the error; the group may be gone already.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
