//go:build linux

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// cubic sets the socket's congestion control before it connects, as
// lesson 12 does: the machine's default may be another (bbr paces its
// segments).
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
