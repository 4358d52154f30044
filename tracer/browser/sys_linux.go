package browser

import (
	"os/exec"
	"syscall"
)

// setGroup starts chromium in a process group of its own, so that
// [Browser.Close] can end it with its helpers (zygote, renderers), and
// asks the kernel to kill it if the thread that started it dies with
// the test binary.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills chromium's process group.
func killGroup(cmd *exec.Cmd) {
	// NOTE: ignoring the error; the group may be gone already.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
