//go:build !unix

package browser

import "os/exec"

// setGroup does nothing here: without process groups, Close kills
// chromium's main process only. (The pipe that Launch needs is not
// available on Windows either: exec refuses ExtraFiles there.)
func setGroup(cmd *exec.Cmd) {}

// killGroup kills chromium's main process.
func killGroup(cmd *exec.Cmd) {
	// NOTE: ignoring the error; the process may be gone already.
	_ = cmd.Process.Kill()
}
