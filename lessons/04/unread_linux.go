//go:build linux

package main

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitUnread waits, without reading, until the kernel holds at least n
// bytes of conn's stream that the program has not read, and returns how
// many it holds. It asks with the ioctl SIOCINQ (what ss shows as
// Recv-Q) each time the socket becomes readable: it waits on the
// kernel's own wake-ups, not on a timer.
func waitUnread(conn net.Conn, n int) (int, error) {
	tcp := conn.(interface{ NetConn() net.Conn }).NetConn().(syscall.Conn)
	raw, err := tcp.SyscallConn()
	if err != nil {
		return 0, err
	}
	var queued int
	var ioctlErr error
	err = raw.Read(func(fd uintptr) bool {
		queued, ioctlErr = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		return ioctlErr != nil || queued >= n
	})
	if err == nil {
		err = ioctlErr
	}
	return queued, err
}
