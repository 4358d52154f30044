package lessontest

import "golang.org/x/sys/unix"

// setFileLimit sets the soft limit on open files of another process,
// its hard limit kept.
func setFileLimit(pid int, n uint64) error {
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		return err
	}
	return unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: old.Max}, nil)
}
