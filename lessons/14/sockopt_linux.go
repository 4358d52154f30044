//go:build linux

package main

import (
	"net"
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

// noDelay reads the client's socket's TCP_NODELAY option: 1 when
// Nagle's algorithm is off.
func noDelay(c net.Conn) (int, error) {
	raw, err := c.(interface{ NetConn() net.Conn }).NetConn().(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	err = raw.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	})
	if err != nil {
		return 0, err
	}
	return v, serr
}
