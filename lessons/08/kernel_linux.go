//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sockState is what the kernel says about one end of a TCP connection:
// a few fields of TCP_INFO (what ss -ti prints) and the byte counts of
// its queues (ss -tn's Recv-Q and Send-Q).
type sockState struct {
	Unacked uint32 // segments sent and not yet acknowledged
	Backoff uint8  // how often the timer has doubled: each zero-window probe doubles it
	Probes  uint8  // zero-window probes sent and not yet answered
	SndWnd  uint32 // the window the peer advertised last, in bytes
	RecvQ   int    // bytes received that the program has not read
	SendQ   int    // bytes written that the peer has not acknowledged
}

// kernelState asks the kernel about conn's socket, with getsockopt
// TCP_INFO and the SIOCINQ and SIOCOUTQ ioctls.
func kernelState(conn net.Conn) (sockState, error) {
	if u, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = u.NetConn() // the traced conn wraps a *net.TCPConn
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return sockState{}, fmt.Errorf("kernel state: %T has no socket", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return sockState{}, fmt.Errorf("kernel state: %w", err)
	}
	var s sockState
	var serr error
	err = raw.Control(func(fd uintptr) {
		var ti *unix.TCPInfo
		if ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); serr != nil {
			return
		}
		s.Unacked, s.Backoff, s.Probes, s.SndWnd = ti.Unacked, ti.Backoff, ti.Probes, ti.Snd_wnd
		if s.RecvQ, serr = unix.IoctlGetInt(int(fd), unix.SIOCINQ); serr != nil {
			return
		}
		s.SendQ, serr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return sockState{}, fmt.Errorf("kernel state: %w", err)
	}
	return s, nil
}

// waitKernel asks the kernel about conn every millisecond until ok
// holds: the kernel sends no notification of these changes. It gives up
// after 5 s, or when ctx is done.
func waitKernel(ctx context.Context, conn net.Conn, what string, ok func(sockState) bool) (sockState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s, err := kernelState(conn)
		if err != nil || ok(s) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("waiting for %s: %w (the kernel says %+v)", what, ctx.Err(), s)
		case <-tick.C:
		}
	}
}
