//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// cubic fails: the lesson runs on Linux only.
func cubic(network, address string, c syscall.RawConn) error {
	return errors.New("TCP_CONGESTION is Linux's")
}
