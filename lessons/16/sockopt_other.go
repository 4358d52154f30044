//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// family needs Linux, as the lesson does.
func family(raw syscall.RawConn) (domain string, v6only int, err error) {
	return "", 0, errors.New("lesson 16 needs Linux")
}
