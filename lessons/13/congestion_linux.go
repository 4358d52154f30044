package main

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// setCongestion sets the congestion control of the socket fd
// (TCP_CONGESTION): "reno", "cubic", "bbr".
func setCongestion(fd uintptr, name string) error {
	return unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
}

// bigBuffer makes c's receive buffer hold n bytes: SO_RCVLOWAT, the
// least a reader waits for, makes Linux grow the buffer to hold that
// many (up to half of net.ipv4.tcp_rmem's largest, 3 MB by default),
// which no unprivileged program may ask of SO_RCVBUF. The lesson does
// not rely on the wait itself: it reads once TCP_INFO says all is in.
func bigBuffer(c net.Conn, n int) error {
	if w, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = w.NetConn() // the tracer's wrapper: its *net.TCPConn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%T has no socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_RCVLOWAT: %w", serr)
	}
	return nil
}
