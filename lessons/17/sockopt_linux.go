//go:build linux

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort sets SO_REUSEPORT on a listener's socket before it binds:
// several sockets may then listen on the same address and port, and the
// kernel spreads the new connections between them.
func reusePort(network, address string, c syscall.RawConn) error {
	return setInt(c, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// noReuseAddr clears SO_REUSEADDR, which Go sets on every listener,
// before the socket binds: the listener of a server written in C that
// forgot it.
func noReuseAddr(network, address string, c syscall.RawConn) error {
	return setInt(c, unix.SOL_SOCKET, unix.SO_REUSEADDR, 0)
}

// reuseAddr sets SO_REUSEADDR on a client's socket before it binds its
// fixed local port, as Node's localPort does (libuv sets it on every
// TCP socket it binds).
func reuseAddr(network, address string, c syscall.RawConn) error {
	return setInt(c, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
}

func setInt(c syscall.RawConn, level, opt, v int) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), level, opt, v)
	})
	if err != nil {
		return err
	}
	return serr
}
