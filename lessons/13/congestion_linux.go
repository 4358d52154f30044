package main

import "golang.org/x/sys/unix"

// setCongestion sets the congestion control of the socket fd
// (TCP_CONGESTION): "reno", "cubic", "bbr".
func setCongestion(fd uintptr, name string) error {
	return unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
}
