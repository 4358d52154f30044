package capture

import (
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"
)

// Limits on what a Decoder holds while it waits for the rest of a
// datagram, so that no file can make it grow without bound.
const (
	// fragTimeout is how long, in packet time, a Decoder waits for a
	// datagram's missing fragments (Linux's ipfrag_time is 30 s).
	fragTimeout = 30 * time.Second
	// maxHeldBytes is the most fragment bytes a Decoder holds; beyond
	// it, all incomplete datagrams are dropped.
	maxHeldBytes = 16 << 20
	// maxHeldDatagrams is the most incomplete datagrams it holds.
	maxHeldDatagrams = 4096
)

// Decoder decodes packets as Decode does, and also reassembles IP
// fragments: IPv4 with gopacket's ip4defrag, IPv6 itself. A fragment
// that does not complete its datagram gives a Decoded with no transport
// layer and Skip SkipIPv4Held or SkipIPv6Held; the one that completes it
// gives the whole datagram (a DNS answer of 3,000 bytes over a 1,500-byte
// link, decoded as DNS), with Decoded.Fragments set. Fragments cut by
// the snapshot length, overlapping, or whose datagram stays incomplete
// for 30 s of packet time are not reassembled (SkipIPv4Fragment,
// SkipIPv6Fragment). Memory is bounded: at most 16 MiB of fragments, in
// at most 4,096 incomplete datagrams, are held. A Decoder is not safe
// for concurrent use.
type Decoder struct {
	v4    *ip4defrag.IPv4Defragmenter
	held4 map[fragKey]*heldDatagram // what v4 holds, for the limits
	held6 map[fragKey]*heldDatagram
	bytes int       // fragment bytes held, both families
	swept time.Time // packet time of the last sweep of old datagrams
}

// fragKey names a datagram being reassembled (ip4defrag's key: source,
// destination, identification).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
}

// heldDatagram is an incomplete datagram.
type heldDatagram struct {
	bytes    int
	n        int // fragments
	lastSeen time.Time
	// IPv6 only: the fragments, sorted by offset, and what the first
	// and the last said.
	frags []fragment
	next  byte // the header after the first fragment's fragment header
	first bool
	end   int // the datagram's length, once the last fragment is seen
}

type fragment struct {
	off  int
	data []byte
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	return &Decoder{
		v4:    ip4defrag.NewIPv4Defragmenter(),
		held4: map[fragKey]*heldDatagram{},
		held6: map[fragKey]*heldDatagram{},
	}
}

// Decode decodes p (see the package's Decode), reassembling fragments.
func (dc *Decoder) Decode(p Packet) (Decoded, error) {
	return decodePacket(p, dc)
}

// Held returns how many fragments the Decoder holds, waiting for the
// rest of their datagrams: at the end of a file, fragments that will
// never be shown.
func (dc *Decoder) Held() int {
	n := 0
	for _, h := range dc.held4 {
		n += h.n
	}
	for _, h := range dc.held6 {
		n += h.n
	}
	return n
}

// sweep forgets datagrams not completed in fragTimeout of packet time,
// and all of them when too much is held.
func (dc *Decoder) sweep(now time.Time) {
	if len(dc.held4)+len(dc.held6) >= maxHeldDatagrams || dc.bytes > maxHeldBytes {
		dc.v4.DiscardOlderThan(now.Add(time.Hour))
		clear(dc.held4)
		clear(dc.held6)
		dc.bytes = 0
		dc.swept = now
		return
	}
	if now.Sub(dc.swept) < fragTimeout/4 {
		return
	}
	dc.swept = now
	cutoff := now.Add(-fragTimeout)
	dc.v4.DiscardOlderThan(cutoff)
	for _, m := range []map[fragKey]*heldDatagram{dc.held4, dc.held6} {
		for k, h := range m {
			if h.lastSeen.Before(cutoff) {
				dc.bytes -= h.bytes
				delete(m, k)
			}
		}
	}
}

// defrag4 adds an IPv4 fragment (hdr its IP header, payload its
// captured payload, wire its payload's length on the wire, off its
// offset in bytes). It returns the whole datagram's payload and the
// number of fragments once complete, else a skip reason.
func (dc *Decoder) defrag4(d *Decoded, hdr, payload []byte, wire, off int, mf bool) (whole []byte, n int, skip string, err *DecodeError) {
	if len(payload) < wire || (mf && wire%8 != 0) || wire == 0 || off+wire > 65535 {
		// Cut by the capture, not a fragment a sender would send, or
		// beyond the largest datagram (where ip4defrag's 16-bit
		// arithmetic would wrap).
		return nil, 0, SkipIPv4Fragment, nil
	}
	dc.sweep(d.Time)
	key := fragKey{d.Src.Addr(), d.Dst.Addr(), uint32(d.IPID)}
	// ip4defrag reads the payload length as Length-20 and keeps the
	// payload it is given: give it a 20-byte header's worth and a copy.
	var flags layers.IPv4Flag
	if mf {
		flags = layers.IPv4MoreFragments
	}
	src, dst := d.Src.Addr().As4(), d.Dst.Addr().As4()
	in := &layers.IPv4{
		Version: 4, IHL: 5, Length: uint16(20 + wire), Id: d.IPID, Flags: flags, FragOffset: uint16(off / 8),
		Protocol: layers.IPProtocol(hdr[9]), TTL: hdr[8], SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:]),
	}
	in.Payload = slices.Clone(payload[:wire])
	out, derr := safeDefrag(dc.v4, in, d.Time)
	h := dc.held4[key]
	if h == nil {
		h = &heldDatagram{}
		dc.held4[key] = h
	}
	h.n++
	h.bytes += wire
	h.lastSeen = d.Time
	dc.bytes += wire
	if derr != nil || out != nil {
		// Complete, or dropped by ip4defrag: it holds nothing more.
		dc.bytes -= h.bytes
		delete(dc.held4, key)
	}
	if derr != nil {
		return nil, 0, SkipIPv4Fragment, nil
	}
	if out == nil {
		return nil, 0, SkipIPv4Held, nil
	}
	return out.Payload, h.n, "", nil
}

// safeDefrag calls ip4defrag, which may panic on input it did not
// expect.
func safeDefrag(d *ip4defrag.IPv4Defragmenter, in *layers.IPv4, t time.Time) (out *layers.IPv4, err error) {
	defer func() {
		if recover() != nil {
			out, err = nil, errDefragPanic
		}
	}()
	return d.DefragIPv4WithTimestamp(in, t)
}

var errDefragPanic = &DecodeError{Reason: SkipIPv4Fragment, Detail: "ip4defrag failed"}

// defrag6 adds an IPv6 fragment: next is its fragment header's next
// header, payload what follows the fragment header, wire its length on
// the wire. It returns the whole datagram's fragmentable part, the
// header it starts with, and the number of fragments once complete,
// else a skip reason. Overlapping fragments drop the datagram (RFC 5722).
func (dc *Decoder) defrag6(d *Decoded, next byte, payload []byte, wire int, id uint32, off int, mf bool) (whole []byte, first byte, n int, skip string) {
	if len(payload) < wire || (mf && wire%8 != 0) || wire == 0 || off+wire > 65535 {
		return nil, 0, 0, SkipIPv6Fragment
	}
	dc.sweep(d.Time)
	key := fragKey{d.Src.Addr(), d.Dst.Addr(), id}
	h := dc.held6[key]
	if h == nil {
		h = &heldDatagram{end: -1}
		dc.held6[key] = h
	}
	drop := func() (whole []byte, first byte, n int, skip string) {
		dc.bytes -= h.bytes
		delete(dc.held6, key)
		return nil, 0, 0, SkipIPv6Fragment
	}
	i, _ := slices.BinarySearchFunc(h.frags, off, func(f fragment, off int) int { return f.off - off })
	if (i > 0 && h.frags[i-1].off+len(h.frags[i-1].data) > off) || (i < len(h.frags) && off+wire > h.frags[i].off) {
		return drop()
	}
	if !mf {
		if h.end >= 0 || (len(h.frags) > 0 && h.frags[len(h.frags)-1].off+len(h.frags[len(h.frags)-1].data) > off+wire) {
			return drop()
		}
		h.end = off + wire
	} else if h.end >= 0 && off+wire > h.end {
		return drop()
	}
	if off == 0 {
		h.next, h.first = next, true
	}
	h.frags = slices.Insert(h.frags, i, fragment{off, slices.Clone(payload[:wire])})
	h.n++
	h.bytes += wire
	h.lastSeen = d.Time
	dc.bytes += wire
	// Complete: the first and the last are here, with no hole.
	if !h.first || h.end < 0 {
		return nil, 0, 0, SkipIPv6Held
	}
	at := 0
	for _, f := range h.frags {
		if f.off != at {
			return nil, 0, 0, SkipIPv6Held
		}
		at += len(f.data)
	}
	whole = make([]byte, 0, at)
	for _, f := range h.frags {
		whole = append(whole, f.data...)
	}
	n = h.n
	dc.bytes -= h.bytes
	delete(dc.held6, key)
	return whole, h.next, n, ""
}
