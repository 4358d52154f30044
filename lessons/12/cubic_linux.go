package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// cubic sets the socket's congestion control before it connects. The
// machine's default may be another: bbr, for one, paces its segments
// and reacts to a loss its own way.
func cubic(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, "cubic")
	})
	if err != nil {
		return err
	}
	return serr
}
