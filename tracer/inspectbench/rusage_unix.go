//go:build unix

package main

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"
)

// childUsage returns the CPU time (user and system) and the largest
// resident set, in bytes, of a process that has exited.
func childUsage(ps *os.ProcessState) (cpu time.Duration, rss float64, err error) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, errors.New("no rusage for the child")
	}
	// maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
	rss = float64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		rss *= 1024
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rss, nil
}
