//go:build linux

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// family reads a socket's address family (SO_DOMAIN) and, for an IPv6
// socket, its IPV6_V6ONLY option: whether it refuses IPv4 (-1 for an
// IPv4 socket).
func family(raw syscall.RawConn) (domain string, v6only int, err error) {
	var serr error
	err = raw.Control(func(fd uintptr) {
		var d int
		if d, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN); serr != nil {
			return
		}
		domain, v6only = "AF_INET", -1
		if d == unix.AF_INET6 {
			domain = "AF_INET6"
			v6only, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		}
	})
	if err != nil {
		return "", 0, err
	}
	return domain, v6only, serr
}
