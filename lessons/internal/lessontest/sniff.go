package lessontest

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"tcptour/tracer/capture"
)

// Segment is a TCP segment a Sniffer saw. Seq and Ack are relative to
// each side's initial sequence number, as Wireshark and the lessons
// show them; Window is scaled by the window scale of the handshake.
type Segment struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Flags    capture.TCPFlags
	Seq, Ack uint32
	Len      int
	Window   int
}

// Has reports whether the segment carries all the flags f.
func (s Segment) Has(f capture.TCPFlags) bool { return s.Flags.Has(f) }

func (s Segment) String() string {
	return fmt.Sprintf("%v → %v %s seq %d ack %d len %d win %d", s.Src, s.Dst, s.Flags, s.Seq, s.Ack, s.Len, s.Window)
}

// Sniffer records the TCP segments to and from one port on loopback,
// for a test that checks a claim about what goes over the wire.
type Sniffer struct {
	t    *testing.T
	c    *capture.Capture
	mu   sync.Mutex
	pkts []capture.Packet
}

// Sniff starts recording the TCP segments whose source or destination
// port is port, on lo, until the test ends. It skips the test where
// capture is not permitted (root or CAP_NET_RAW) or not supported.
func Sniff(t *testing.T, port int) *Sniffer {
	t.Helper()
	return sniff(t, port, t.Skipf, "no live capture here (%v): this claim about packets is checked where there is")
}

// SniffIfPermitted is Sniff for a test that checks more than packets: it
// returns nil, and logs why, where capture is not permitted, so that
// the test checks the rest.
func SniffIfPermitted(t *testing.T, port int) *Sniffer {
	t.Helper()
	return sniff(t, port, t.Logf, "no live capture here (%v): the packets are not checked")
}

// sniff starts a Sniffer; where capture cannot start it says why with
// otherwise (which may end the test) and returns nil.
func sniff(t *testing.T, port int, otherwise func(format string, args ...any), why string) *Sniffer {
	t.Helper()
	s := &Sniffer{t: t}
	c, err := capture.Open(capture.Config{
		TCPPorts: []uint16{uint16(port)},
		Handler: func(p capture.Packet) {
			s.mu.Lock()
			s.pkts = append(s.pkts, p)
			s.mu.Unlock()
		},
	})
	if err != nil {
		otherwise(why, err)
		return nil
	}
	s.c = c
	t.Cleanup(func() {
		if _, err := c.Close(); err != nil {
			t.Errorf("capture: %v", err)
		}
	})
	return s
}

// Segments returns the segments seen so far, once every packet sent
// before the call has been read.
func (s *Sniffer) Segments() []Segment {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.c.Sync(ctx); err != nil {
		s.t.Fatalf("capture: %v", err)
	}
	s.mu.Lock()
	pkts := append([]capture.Packet(nil), s.pkts...)
	s.mu.Unlock()
	return SegmentsOf(pkts)
}

// SegmentsOf decodes the TCP segments among pkts (a capture, or a pcap
// file read with capture.ReadFile), with sequence numbers relative to
// the SYNs among them.
func SegmentsOf(pkts []capture.Packet) []Segment {
	isn := map[netip.AddrPort]uint32{}   // each sender's initial sequence number
	scale := map[netip.AddrPort]uint8{}  // each sender's window scale
	offered := map[netip.AddrPort]bool{} // sent a window scale option
	var segs []Segment
	for _, p := range pkts {
		d, err := capture.Decode(p)
		if err != nil || d.TCP == nil {
			continue
		}
		tcp := d.TCP
		if tcp.Flags.Has(capture.SYN) {
			isn[d.Src] = tcp.Seq
			offered[d.Src] = tcp.Options.HasWindowScale
			scale[d.Src] = tcp.Options.WindowScale
		}
		seg := Segment{Time: p.Time, Src: d.Src, Dst: d.Dst, Flags: tcp.Flags, Len: tcp.PayloadLen,
			Seq: tcp.Seq - isn[d.Src], Window: int(tcp.Window)}
		if tcp.Flags.Has(capture.ACK) {
			seg.Ack = tcp.Ack - isn[d.Dst]
		}
		// The window field of a SYN is never scaled; the others are
		// when both sides offered the option.
		if !tcp.Flags.Has(capture.SYN) && offered[d.Src] && offered[d.Dst] {
			seg.Window <<= scale[d.Src]
		}
		segs = append(segs, seg)
	}
	return segs
}

// Dump lists segments one per line, for a test's failure message.
func Dump(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		fmt.Fprintf(&b, "\n  %s", s)
	}
	return b.String()
}
