//go:build unix

package tracer

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// lingerZero reports whether c's socket has SO_LINGER on with a zero
// timeout, so that closing it sends RST.
func lingerZero(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var l *unix.Linger
	if err := raw.Control(func(fd uintptr) {
		l, err = unix.GetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER)
	}); err != nil || l == nil {
		return false
	}
	return l.Onoff != 0 && l.Linger == 0
}
