//go:build unix

package tracer

import (
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"tcptour/tracer/kernel"
)

// sockopts is what a traced connection reads from its socket at its
// events: TCP_INFO, and SO_LINGER at Close. It reads both in one
// Control call, through a RawConn and a function made once per
// connection, so that each read costs a system call and no allocation.
type sockopts struct {
	raw  syscall.RawConn
	ctl  func(fd uintptr)
	want uint8 // what ctl reads: wantInfo, wantLinger
	// What ctl read, and its errors.
	info      kernel.Info
	infoErr   error
	linger    unix.Linger
	lingerErr error
	// infos are the copies of TCP_INFO not yet given to an event. The
	// first event gets one of its own; the later ones take theirs from
	// blocks of infoBlock, one allocation for several events, so that
	// an idle connection holds one and a busy one allocates less.
	infos []kernel.Info
	given bool
}

const infoBlock = 4

const (
	wantInfo uint8 = 1 << iota
	wantLinger
)

var errNoSocket = errors.New("no socket")

// read reads what want asks from c's socket. c.optMu is held.
func (c *conn) read(want uint8) error {
	o := &c.opts
	if o.raw == nil {
		sc, ok := c.Conn.(syscall.Conn)
		if !ok {
			return errNoSocket
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return err
		}
		o.raw = raw
		o.ctl = func(fd uintptr) {
			if o.want&wantInfo != 0 {
				o.infoErr = kernel.TCPInfoFD(fd, &o.info)
			}
			if o.want&wantLinger != 0 {
				n := uint32(unsafe.Sizeof(o.linger))
				_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_LINGER,
					uintptr(unsafe.Pointer(&o.linger)), uintptr(unsafe.Pointer(&n)), 0)
				o.lingerErr = nil
				if errno != 0 {
					o.lingerErr = errno
				}
			}
		}
	}
	o.want = want
	return o.raw.Control(o.ctl)
}

// sockInfo returns the socket's TCP_INFO when the hooks want it (nil
// otherwise, and where the kernel gives none), and with close set
// whether SO_LINGER is on with a zero timeout, so that closing it sends
// RST.
func (c *conn) sockInfo(close bool) (info *kernel.Info, linger0 bool) {
	want := uint8(0)
	if c.h.TCPInfo {
		want |= wantInfo
	}
	if close {
		want |= wantLinger
	}
	if want == 0 {
		return nil, false
	}
	c.optMu.Lock()
	defer c.optMu.Unlock()
	if err := c.read(want); err != nil {
		return nil, false
	}
	o := &c.opts
	if want&wantInfo != 0 && o.infoErr == nil {
		if len(o.infos) == 0 {
			n := 1
			if o.given {
				n = infoBlock
			}
			o.infos = make([]kernel.Info, n)
			o.given = true
		}
		info = &o.infos[0]
		*info = o.info
		o.infos = o.infos[1:]
	}
	if want&wantLinger != 0 && o.lingerErr == nil {
		linger0 = o.linger.Onoff != 0 && o.linger.Linger == 0
	}
	return info, linger0
}
