package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"time"
)

// snaplen is how much of each frame the captures keep, as tcpdump -s
// 128 would.
const snaplen = 128

// stats says what a capture holds.
type stats struct{ packets, conns int }

// write makes a capture of about n packets of the shape named into
// file.
func write(file, shape string, n int) (stats, error) {
	f, err := os.Create(file)
	if err != nil {
		return stats{}, err
	}
	w := &pcapWriter{w: bufio.NewWriterSize(f, 1<<20), t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	w.header()
	var st stats
	switch shape {
	case "many":
		st = many(w, n)
	case "few":
		st = few(w, n)
	default:
		f.Close()
		return stats{}, fmt.Errorf("-shape %q: want many or few", shape)
	}
	if err := w.w.Flush(); err != nil {
		f.Close()
		return stats{}, err
	}
	return st, f.Close()
}

// A TCP connection's two ends and their next sequence numbers.
type tcpConn struct {
	cAddr, sAddr [4]byte
	cPort, sPort uint16
	cSeq, sSeq   uint32
	cID, sID     uint16 // IPv4 identification, per sender
}

const (
	fin = 1 << iota
	syn
	rst
	psh
	ack
)

// seg writes one segment: from the client when fromClient, with flags,
// len payload bytes (made up), and SACK blocks when sack is not empty.
func (w *pcapWriter) seg(c *tcpConn, fromClient bool, flags uint8, payload []byte, sack [][2]uint32) {
	src, dst, sp, dp := c.cAddr, c.sAddr, c.cPort, c.sPort
	seq, ackn, id := &c.cSeq, c.sSeq, &c.cID
	if !fromClient {
		src, dst, sp, dp = c.sAddr, c.cAddr, c.sPort, c.cPort
		seq, ackn, id = &c.sSeq, c.cSeq, &c.sID
	}
	var opts []byte
	if flags&syn != 0 {
		opts = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	} else {
		for _, b := range sack {
			if len(opts) == 0 {
				opts = append(opts, 1, 1, 5, byte(2+8*len(sack)))
			}
			opts = binary.BigEndian.AppendUint32(opts, b[0])
			opts = binary.BigEndian.AppendUint32(opts, b[1])
		}
		opts = append(opts, 1, 1, 8, 10)
		opts = binary.BigEndian.AppendUint32(opts, uint32(w.t.UnixMilli()))
		opts = binary.BigEndian.AppendUint32(opts, uint32(w.t.UnixMilli())-1)
	}
	tcpLen := 20 + len(opts)
	total := 20 + tcpLen + len(payload)
	b := w.buf[:0]
	b = append(b, 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00)
	if !fromClient {
		b[5], b[11] = 2, 1
	}
	ip := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	b = binary.BigEndian.AppendUint16(b, *id)
	*id++
	b = append(b, 0x40, 0, 64, 6, 0, 0)
	b = append(append(b, src[:]...), dst[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], ^sum(b[ip:ip+20], 0))
	tcp := len(b)
	b = binary.BigEndian.AppendUint16(b, sp)
	b = binary.BigEndian.AppendUint16(b, dp)
	b = binary.BigEndian.AppendUint32(b, *seq)
	if flags&ack == 0 {
		ackn = 0
	}
	b = binary.BigEndian.AppendUint32(b, ackn)
	b = append(b, byte(tcpLen/4)<<4, flags)
	b = binary.BigEndian.AppendUint16(b, 502)
	b = append(b, 0, 0, 0, 0)
	b = append(b, opts...)
	b = append(b, payload...)
	// The checksum over the pseudo-header and the whole segment.
	ps := sum(b[ip+12:ip+20], 6+uint32(tcpLen+len(payload)))
	binary.BigEndian.PutUint16(b[tcp+16:], ^sum(b[tcp:], uint32(ps)))
	*seq += uint32(len(payload))
	if flags&(syn|fin) != 0 {
		*seq++
	}
	w.record(b)
	w.buf = b
}

// sum is the Internet checksum's one's complement sum of b, added to s.
func sum(b []byte, s uint32) uint16 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// isn is a made-up initial sequence number for connection i's end.
func isn(i int, server bool) uint32 {
	x := uint32(i)*2654435761 + 12345
	if server {
		x = x*1103515245 + 54321
	}
	return x
}

// many writes short connections, 200 open at once, 10 segments each.
func many(w *pcapWriter, n int) stats {
	const open = 200
	type live struct {
		c    tcpConn
		step int
		i    int
	}
	conns := make([]*live, 0, open)
	next, written, begun := 0, 0, 0
	start := func() *live {
		// One client: its ports are used again once 20,000
		// connections have been made.
		l := &live{i: next, c: tcpConn{cAddr: [4]byte{10, 0, 0, 2}, sAddr: [4]byte{10, 0, 0, 1},
			cPort: uint16(30000 + next%20000), sPort: 80, cSeq: isn(next, false), sSeq: isn(next, true)}}
		next++
		return l
	}
	for written < n {
		for len(conns) < open {
			conns = append(conns, start())
		}
		for k := 0; k < len(conns) && written < n; k++ {
			l := conns[k]
			c := &l.c
			switch l.step {
			case 0:
				begun++
				w.seg(c, true, syn, nil, nil)
			case 1:
				w.seg(c, false, syn|ack, nil, nil)
			case 2:
				w.seg(c, true, ack, nil, nil)
			case 3:
				w.seg(c, true, psh|ack, fmt.Appendf(nil, "GET /page/%d HTTP/1.1\r\nHost: example.test\r\nUser-Agent: inspectbench\r\n\r\n", l.i), nil)
			case 4:
				w.seg(c, false, ack, nil, nil)
			case 5:
				w.seg(c, false, psh|ack, answer, nil)
			case 6:
				w.seg(c, true, ack, nil, nil)
			case 7:
				w.seg(c, true, fin|ack, nil, nil)
			case 8:
				w.seg(c, false, fin|ack, nil, nil)
			case 9:
				w.seg(c, true, ack, nil, nil)
			}
			written++
			l.step++
			if l.step == 10 {
				conns[k] = start()
			}
		}
	}
	return stats{packets: written, conns: begun}
}

var answer = append([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 219\r\n\r\n"), make([]byte, 219)...)

// few writes 4 bulk transfers side by side, each segment of 1448
// bytes, every second one acknowledged, one in 1,000 lost and sent
// again after three duplicate ACKs.
func few(w *pcapWriter, n int) stats {
	const conns = 4
	data := make([]byte, 1448)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	cs := make([]tcpConn, conns)
	for i := range cs {
		cs[i] = tcpConn{cAddr: [4]byte{10, 0, 0, 2}, sAddr: [4]byte{10, 0, 0, 1}, cPort: uint16(40000 + i), sPort: 5001, cSeq: isn(i, false), sSeq: isn(i, true)}
		c := &cs[i]
		w.seg(c, true, syn, nil, nil)
		w.seg(c, false, syn|ack, nil, nil)
		w.seg(c, true, ack, nil, nil)
	}
	written := 3 * conns
	sent := make([]int, conns)
	for written < n-4*conns {
		for i := range cs {
			c := &cs[i]
			k := sent[i]
			sent[i]++
			if k%1000 == 999 {
				// Lost on the way (the capture is the sender's): three
				// more go, each answered by a duplicate ACK whose SACK
				// block holds them, then it again, and the ACK of all.
				lost := c.cSeq
				w.seg(c, true, ack, data, nil)
				for range 3 {
					w.seg(c, true, ack, data, nil)
					top := c.cSeq
					c.cSeq = lost
					w.seg(c, false, ack, nil, [][2]uint32{{lost + 1448, top}})
					c.cSeq = top
				}
				top := c.cSeq
				c.cSeq = lost
				w.seg(c, true, ack, data, nil)
				c.cSeq = top
				w.seg(c, false, ack, nil, nil)
				written += 9
				continue
			}
			w.seg(c, true, ack, data, nil)
			written++
			if k%2 == 1 {
				w.seg(c, false, ack, nil, nil)
				written++
			}
		}
	}
	for i := range cs {
		c := &cs[i]
		w.seg(c, true, fin|ack, nil, nil)
		w.seg(c, false, ack, nil, nil)
		w.seg(c, false, fin|ack, nil, nil)
		w.seg(c, true, ack, nil, nil)
		written += 4
	}
	return stats{packets: written, conns: conns}
}

// pcapWriter writes a pcap file, a frame each 10 µs.
type pcapWriter struct {
	w   *bufio.Writer
	t   time.Time
	buf []byte
	hdr [16]byte
}

func (w *pcapWriter) header() {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], 1) // Ethernet
	w.w.Write(h[:])
}

func (w *pcapWriter) record(frame []byte) {
	w.t = w.t.Add(10 * time.Microsecond)
	capLen := min(len(frame), snaplen)
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(w.t.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(w.t.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(capLen))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(len(frame)))
	w.w.Write(w.hdr[:])
	w.w.Write(frame[:capLen])
}
