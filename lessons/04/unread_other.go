//go:build !linux

package main

import (
	"fmt"
	"net"
	"runtime"
)

// waitUnread needs Linux's SIOCINQ: elsewhere the lesson cannot wait
// for the kernel's receive queue without reading it.
func waitUnread(conn net.Conn, n int) (int, error) {
	return 0, fmt.Errorf("lesson 04 waits on the kernel's receive queue (the ioctl SIOCINQ), which needs Linux, not %s", runtime.GOOS)
}
