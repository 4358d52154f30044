package lessontest

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// prlimit reads or sets a resource limit of another process.
func prlimit(pid, resource int, set, old *syscall.Rlimit) error {
	var n, o *unix.Rlimit
	if set != nil {
		n = &unix.Rlimit{Cur: set.Cur, Max: set.Max}
	}
	if old != nil {
		o = &unix.Rlimit{}
	}
	if err := unix.Prlimit(pid, resource, n, o); err != nil {
		return err
	}
	if old != nil {
		*old = syscall.Rlimit{Cur: o.Cur, Max: o.Max}
	}
	return nil
}
