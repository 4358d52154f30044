//go:build linux

package main

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The TCP flags, as they sit in byte 13 of the TCP header.
const (
	flagFIN = 0x01
	flagSYN = 0x02
)

// dropping returns a classic BPF socket filter that drops every
// incoming segment with one of flags set, and keeps the rest. A socket
// filter runs on the packets the kernel delivers to that one socket,
// after IP and before TCP: for a TCP socket it sees the packet from the
// TCP header on, so byte 13 holds the flags. A dropped segment never
// reaches TCP, as if the network had lost it. Attaching a filter to
// one's own socket needs no privilege.
func dropping(flags uint8) ([]unix.SockFilter, error) {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 13, Size: 1},                                 // A = the TCP flags
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(flags), SkipTrue: 1}, // one of ours set?
		bpf.RetConstant{Val: 0xffff},                                       // no: keep it
		bpf.RetConstant{Val: 0},                                            // yes: drop it
	})
	if err != nil {
		return nil, err
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return filter, nil
}

// attachDrop attaches a filter dropping the segments with flags to the
// socket behind raw (setsockopt SO_ATTACH_FILTER).
func attachDrop(raw syscall.RawConn, flags uint8) error {
	filter, err := dropping(flags)
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]})
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("attach a socket filter: %w", err)
	}
	return nil
}

// detach removes the socket's filter (setsockopt SO_DETACH_FILTER):
// segments reach TCP again.
func detach(raw syscall.RawConn) error {
	var serr error
	err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("detach a socket filter: %w", err)
	}
	return nil
}

// rawConn returns the socket behind a connection, through the tracer's
// wrapper (NetConn) down to the *net.TCPConn.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no socket", c)
	}
	return sc.SyscallConn()
}

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
