//go:build !linux

package lessontest

import "syscall"

// prlimit is Linux's; elsewhere the tests that need it skip.
func prlimit(pid, resource int, set, old *syscall.Rlimit) error { return syscall.ENOSYS }
