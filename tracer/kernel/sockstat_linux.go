//go:build linux

package kernel

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// TimeWaitCount returns how many timewait sockets the kernel holds in
// the calling thread's network namespace: the "tw" of
// /proc/net/sockstat. The kernel keeps in such sockets the connections
// in TIME_WAIT, and those in FIN_WAIT_2 that no program holds any more:
// the count is at least the number of sockets in TIME_WAIT, but for the
// moment the kernel moves a connection into a timewait socket (since
// Linux 6.11 the socket can be found a little before it is counted).
// Reading it
// costs microseconds, where a dump of the sockets in TIME_WAIT
// ([Sockets]) walks the kernel's whole table of connections, every
// namespace's (milliseconds on a machine with much memory). Kernels
// that keep one count for every namespace give that, which is never
// less than the namespace's.
func TimeWaitCount() (int, error) {
	b, err := os.ReadFile("/proc/thread-self/net/sockstat")
	if err != nil {
		return 0, fmt.Errorf("kernel: %w", err)
	}
	return timeWaits(b)
}

// timeWaits reads the TCP line's tw in the text of /proc/net/sockstat:
//
//	TCP: inuse 3 orphan 0 tw 2 alloc 5 mem 1
func timeWaits(b []byte) (int, error) {
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 || string(f[0]) != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if string(f[i]) == "tw" {
				if n, err := strconv.Atoi(string(f[i+1])); err == nil && n >= 0 {
					return n, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("kernel: no TCP tw count in /proc/net/sockstat: %q", b)
}
