//go:build linux

package link

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchFrames is how many frames a pipe reads, or writes, in one
// system call at most (recvmmsg, sendmmsg).
const batchFrames = 16

// batch is the room for the frames of one recvmmsg or sendmmsg, and
// their headers, made once.
type batch struct {
	bufs  [][]byte // the frames read (sendmmsg: the frames to write)
	lens  []int
	iovs  []unix.Iovec
	names []unix.RawSockaddrLinklayer
	hdrs  []unix.Mmsghdr
}

// newReadBatch makes room to read n frames of up to size bytes each.
func newReadBatch(n, size int) *batch {
	b := newBatch(n)
	room := make([]byte, n*size)
	for i := range n {
		b.bufs[i] = room[i*size : (i+1)*size : (i+1)*size]
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

func newBatch(n int) *batch {
	return &batch{bufs: make([][]byte, n), lens: make([]int, n), iovs: make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrLinklayer, n), hdrs: make([]unix.Mmsghdr, n)}
}

// readBatch reads the frames that came in on the interface (not those
// this side sent), as many as are there up to len(b.bufs), at least one:
// frame i is b.bufs[i][:b.lens[i]], for i < the count returned.
func (p *packetSock) readBatch(b *batch) (int, error) {
	p.rd = b
	defer func() { p.rd = nil }()
	for {
		if err := p.rc.Read(p.readFn); err != nil {
			return 0, err
		}
		if p.rerr != 0 {
			return 0, p.rerr
		}
		k := 0
		for i := range p.rn {
			if b.names[i].Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if k != i {
				// Keep the frames in front: swap the rooms.
				b.bufs[k], b.bufs[i] = b.bufs[i], b.bufs[k]
				b.iovs[k], b.iovs[i] = b.iovs[i], b.iovs[k]
			}
			b.lens[k] = int(b.hdrs[i].Len)
			k++
		}
		if k > 0 {
			return k, nil
		}
	}
}

// recvmmsg is readBatch's system call, on the poller: false to wait
// until there is something to read.
func (p *packetSock) recvmmsg(fd uintptr) bool {
	b := p.rd
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	p.rn, p.rerr = int(r), e
	return e != unix.EAGAIN
}

// writeBatch writes the frames b.bufs[:n], in order, in as few system
// calls as it takes. A frame the interface refuses is lost, as on a
// wire.
func (p *packetSock) writeBatch(b *batch, n int) {
	for i := range n {
		b.iovs[i].Base = unsafe.SliceData(b.bufs[i])
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	p.wr, p.wdone, p.wn = b, 0, n
	defer func() { p.wr = nil }()
	for p.wdone < n {
		if err := p.rc.Write(p.writeFn); err != nil {
			return // closed
		}
	}
}

// sendmmsg is writeBatch's system call, on the poller: false to wait
// until the socket takes more.
func (p *packetSock) sendmmsg(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&p.wr.hdrs[p.wdone])), uintptr(p.wn-p.wdone), 0, 0, 0)
	switch e {
	case unix.EAGAIN:
		return false
	case 0:
		p.wdone += int(r)
	default:
		p.wdone++ // the first frame is refused: lost
	}
	return true
}
