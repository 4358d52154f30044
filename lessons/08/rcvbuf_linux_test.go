//go:build linux

package main

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lessontest"
)

// The recap's claims about Linux's receive buffer, which no step shows.

// Setting SO_RCVBUF turns off Linux's receive buffer autotuning (the
// recap and step 1): once the kernel has measured reads that make it
// grow the buffer of a socket left alone, the buffer with SO_RCVBUF set
// has not changed.
//
// Linux measures, a round trip at a time, how much the program reads;
// when a round trip's reads exceed the last measure (TCP_INFO's
// rcv_space), it takes the new one and grows the buffer, unless
// SO_RCVBUF was set. On loopback a round trip lasts microseconds, and a
// reader that keeps up may take a few KiB at a time, never enough. So
// each Read here waits until the kernel holds more than the first
// measure, until the kernel has taken a new one.
func TestRcvBufTurnsOffAutotuning(t *testing.T) {
	for _, set := range []bool{false, true} {
		lc := net.ListenConfig{}
		if set {
			lc.Control = smallRcvBuf
		}
		ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return // Accept fails the test
			}
			defer c.Close()
			c.Write(make([]byte, 64<<20)) // NOTE: fails once the reader has seen enough and closes
		}()
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		before := rcvBufOf(t, conn)
		_, first := rcvQueue(t, conn)
		buf := make([]byte, 64<<20)
		for n := 0; ; {
			var queued, space int
			lessontest.PollUntil(t, 5*time.Second, 100*time.Microsecond, "more bytes held than the first rcv_space", func() bool {
				queued, space = rcvQueue(t, conn)
				return queued > first || space != first
			})
			if space != first {
				break // measured
			}
			m, err := conn.Read(buf)
			n += m
			if err != nil {
				t.Fatalf("after %d bytes: %v, and rcv_space is still %d", n, err, first)
			}
		}
		after := rcvBufOf(t, conn)
		switch {
		case set && after != before:
			t.Errorf("with SO_RCVBUF set, the buffer went from %d to %d bytes", before, after)
		case !set && after <= before:
			t.Errorf("without SO_RCVBUF, the buffer did not grow: %d, then %d bytes", before, after)
		}
	}
}

// rcvQueue returns the bytes c's kernel holds unread (SIOCINQ) and its
// TCP_INFO rcv_space.
func rcvQueue(t *testing.T, c net.Conn) (queued, space int) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var qerr, ierr error
	var info *unix.TCPInfo
	if err := rc.Control(func(fd uintptr) {
		queued, qerr = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(qerr, ierr); err != nil {
		t.Fatal(err)
	}
	return queued, int(info.Rcv_space)
}

func rcvBufOf(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}
