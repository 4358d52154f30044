//go:build linux

package main

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// relisten calls listen(2) again on a listening socket, which sets its
// backlog anew.
func relisten(raw syscall.RawConn, backlog int) error {
	var lerr error
	err := raw.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), backlog) })
	if err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return nil
}
