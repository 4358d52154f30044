//go:build linux

package link

import (
	"net/netip"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// flow is one direction of a connection (by source and destination), as
// the pipe that reads it counts its segments: by kind, and its data
// segments by first transmission, forgotten once the receiver's
// acknowledgment of them has reached the sender, a while ago.
type flow struct {
	rev    *flow // the other direction, read by the other pipe
	counts [RST + 1]int
	data   dataSeen

	// ack is the highest acknowledgment the link has sent on to this
	// flow's sender (the other pipe's doing), with bit 32 set once
	// there is one.
	ack atomic.Uint64
	// sample is ack as it was at sampled: what was acknowledged then
	// is forgotten forgetAfter later. The reader's alone.
	sample  uint64
	sampled time.Time
}

// forgetAfter is how long after its acknowledgment reached the sender a
// data segment is forgotten. A sender sends again only what is not
// acknowledged, but a segment it sent again just before the
// acknowledgment came may still wait in the link's socket then: it must
// have been read by the time the segment is forgotten, or it would be
// counted as a new one (a new Index). A second is far more than a frame
// waits there.
const forgetAfter = time.Second

// flow returns the flow from src to dst, made with its reverse on first
// use: each pipe keeps those it reads (pipe.flows), and finds the
// other's here.
func (l *Link) flow(src, dst netip.AddrPort) *flow {
	l.flowMu.Lock()
	defer l.flowMu.Unlock()
	if l.flows == nil {
		l.flows = map[[2]netip.AddrPort]*flow{}
	}
	k := [2]netip.AddrPort{src, dst}
	if f := l.flows[k]; f != nil {
		return f
	}
	f, r := &flow{}, &flow{}
	f.rev, r.rev = r, f
	l.flows[k], l.flows[[2]netip.AddrPort{dst, src}] = f, r
	return f
}

// acked notes that an acknowledgment of a went on to the flow's sender.
// It is called by the pipe that carries the other direction.
func (f *flow) acked(a uint32) {
	old := f.ack.Load()
	if old>>32 == 0 || seqAfter(a, uint32(old)) {
		f.ack.Store(1<<32 | uint64(a))
	}
}

// forget forgets the data segments acknowledged to the sender
// forgetAfter ago or more, and samples what is acknowledged now.
func (f *flow) forget(now time.Time) {
	if now.Sub(f.sampled) < forgetAfter {
		return
	}
	if f.sample>>32 != 0 {
		f.data.forget(uint32(f.sample))
	}
	f.sample, f.sampled = f.ack.Load(), now
}

// restart forgets the flow's data segments and acknowledgments: a new
// SYN starts new sequence numbers. The counts go on.
func (f *flow) restart() {
	f.data = dataSeen{}
	f.ack.Store(0)
	f.sample, f.sampled = 0, time.Time{}
}

// seqAfter reports whether sequence number a comes after b (modulo
// 2³²).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// dataSeen are a flow's data segments by first transmission, in order
// of sequence number: the sender sends new data in order, so a new one
// goes at the end, and an acknowledged one leaves from the front.
type dataSeen struct {
	e    []dataEntry // e[head:] are in use
	head int
}

type dataEntry struct {
	seq, end     uint32
	index, count int32
}

// see notes a data segment of n bytes from seq, and returns its index
// and transmission: a segment seen before with the same sequence
// number keeps its index; a new one takes the next of *count.
func (d *dataSeen) see(seq, n uint32, count *int) segSeen {
	es := d.e[d.head:]
	i := len(es)
	if i > 0 && !seqAfter(seq, es[i-1].seq) {
		// Sent again, or a new segment out of order.
		base := es[0].seq
		if seqAfter(base, seq) {
			i = 0
		} else {
			i = sort.Search(len(es), func(j int) bool { return es[j].seq-base >= seq-base })
			if i < len(es) && es[i].seq == seq {
				es[i].count++
				return segSeen{index: int(es[i].index), count: int(es[i].count)}
			}
		}
	}
	*count++
	e := dataEntry{seq: seq, end: seq + n, index: int32(*count), count: 1}
	switch {
	case i == len(es):
		d.e = append(d.e, e)
	case i == 0 && d.head > 0:
		d.head--
		d.e[d.head] = e
	default:
		d.e = slices.Insert(d.e, d.head+i, e)
	}
	return segSeen{index: int(e.index), count: 1}
}

// forget forgets the segments from the front that end at ack or
// before it.
func (d *dataSeen) forget(ack uint32) {
	if d.head == len(d.e) || seqAfter(ack, d.e[len(d.e)-1].end+1) {
		// Nothing, or an acknowledgment of what was never sent (of
		// an earlier connection): nothing to forget.
		return
	}
	for d.head < len(d.e) && !seqAfter(d.e[d.head].end, ack) {
		d.head++
	}
	switch {
	case d.head == len(d.e):
		d.e, d.head = d.e[:0], 0
	case d.head >= 1024 && 2*d.head >= len(d.e):
		n := copy(d.e, d.e[d.head:])
		d.e, d.head = d.e[:n], 0
	}
}

// len is how many segments are remembered.
func (d *dataSeen) len() int { return len(d.e) - d.head }
