//go:build !linux

package main

import "errors"

// setCongestion says that only Linux sets a socket's congestion control
// this way (the lesson stops before, elsewhere).
func setCongestion(fd uintptr, name string) error {
	return errors.New("TCP_CONGESTION needs Linux")
}
