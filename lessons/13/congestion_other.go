//go:build !linux

package main

import (
	"errors"
	"net"
)

// setCongestion says that only Linux sets a socket's congestion control
// this way (the lesson stops before, elsewhere).
func setCongestion(fd uintptr, name string) error {
	return errors.New("TCP_CONGESTION needs Linux")
}

// bigBuffer fails: the lesson runs on Linux only.
func bigBuffer(c net.Conn, n int) error {
	return errors.New("SO_RCVLOWAT as the lesson uses it is Linux's")
}
