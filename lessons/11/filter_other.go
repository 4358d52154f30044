//go:build !linux

package main

import (
	"errors"
	"net"
	"syscall"
)

const (
	flagFIN = 0x01
	flagSYN = 0x02
)

// errNoFilter: classic BPF socket filters on TCP sockets, as this lesson
// uses them, are Linux's.
var errNoFilter = errors.New("socket filters (SO_ATTACH_FILTER) are Linux only: " + errors.ErrUnsupported.Error())

func attachDrop(raw syscall.RawConn, flags uint8) error { return errNoFilter }

func detach(raw syscall.RawConn) error { return errNoFilter }

func rawConn(c net.Conn) (syscall.RawConn, error) {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("no socket")
	}
	return sc.SyscallConn()
}

func relisten(raw syscall.RawConn, backlog int) error { return errNoFilter }
