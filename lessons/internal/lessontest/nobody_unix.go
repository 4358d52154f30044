//go:build !windows

package lessontest

import (
	"os/exec"
	"syscall"
)

// AsNobody makes cmd run as the unprivileged user nobody (uid and gid
// 65534), as a learner without privileges; the test must run as root.
func AsNobody(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd
}
