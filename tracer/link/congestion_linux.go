//go:build linux

package link

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// SetCongestion sets the congestion control of a TCP connection or
// listener (TCP_CONGESTION): "cubic", "reno", "bbr", as
// /proc/sys/net/ipv4/tcp_available_congestion_control lists. The
// default here may be bbr, which paces its sends by a timer: a lesson
// that wants the same segments on every run sets reno, which sends on
// ACKs alone.
func SetCongestion(c syscall.Conn, name string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("link: congestion control: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	}); err != nil {
		return fmt.Errorf("link: congestion control: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("link: congestion control %s: %w", name, serr)
	}
	return nil
}

// Congestion returns the congestion control of a TCP connection or
// listener.
func Congestion(c syscall.Conn) (string, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return "", fmt.Errorf("link: congestion control: %w", err)
	}
	var name string
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		name, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	}); err != nil {
		return "", fmt.Errorf("link: congestion control: %w", err)
	}
	if gerr != nil {
		return "", fmt.Errorf("link: congestion control: %w", gerr)
	}
	return name, nil
}
