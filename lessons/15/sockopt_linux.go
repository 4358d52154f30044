//go:build linux

package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// keepAliveOpts are a socket's keepalive options as the kernel holds
// them: SO_KEEPALIVE, and TCP_KEEPIDLE, TCP_KEEPINTVL (in seconds) and
// TCP_KEEPCNT.
type keepAliveOpts struct{ on, idle, interval, count int }

// keepAliveOf reads c's keepalive options from its socket.
func keepAliveOf(c net.Conn) (keepAliveOpts, error) {
	var k keepAliveOpts
	err := control(c, func(fd int) (err error) {
		if k.on, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE); err != nil {
			return err
		}
		if k.idle, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); err != nil {
			return err
		}
		if k.interval, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL); err != nil {
			return err
		}
		k.count, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		return err
	})
	return k, err
}

// setUserTimeout sets c's TCP_USER_TIMEOUT: how long sent data may stay
// unacknowledged before the kernel gives the connection up.
func setUserTimeout(c net.Conn, d time.Duration) error {
	return control(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
}

// userTimeoutOf reads c's TCP_USER_TIMEOUT back.
func userTimeoutOf(c net.Conn) (time.Duration, error) {
	var ms int
	err := control(c, func(fd int) (err error) {
		ms, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		return err
	})
	return time.Duration(ms) * time.Millisecond, err
}

// control runs f on c's file descriptor.
func control(c net.Conn, f func(fd int) error) error {
	if n, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = n.NetConn()
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// sysctlInt reads a sysctl of the calling thread's network namespace:
// "net.ipv4.tcp_retries2".
func sysctlInt(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
