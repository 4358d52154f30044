package wire

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// The captures of lesson 03 kept by the inspect command: one written by
// the lesson's --pcap, one by tcpdump -i lo. Each holds a DNS query and
// its answer, then two TCP connections (16 segments): 18 packets.
var lesson03Files = []string{
	"../inspect/testdata/lesson03.pcapng",
	"../inspect/testdata/lesson03-tcpdump.pcap",
}

// readPackets reads a capture file and decodes every packet in it.
func readPackets(t *testing.T, path string) []capture.Decoded {
	t.Helper()
	pkts, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ds []capture.Decoded
	for i, p := range pkts {
		d, err := capture.Decode(p)
		if err != nil {
			t.Fatalf("%s: packet %d: %v", path, i+1, err)
		}
		ds = append(ds, d)
	}
	return ds
}

// annotate feeds packets to a new Annotator in order.
func annotate(ds []capture.Decoded) []tracer.Event {
	a := NewAnnotator()
	var evs []tracer.Event
	for _, d := range ds {
		evs = append(evs, a.Event(d))
	}
	return evs
}

// traceOf adds the annotated packets of a file to a trace, as the inspect
// command does, so that each TCP connection gets its id.
func traceOf(t *testing.T, path string) []tracer.Event {
	t.Helper()
	ds := readPackets(t, path)
	tr := tracer.NewAt(ds[0].Time, tracer.Options{})
	for _, e := range annotate(ds) {
		tr.Add(e)
	}
	return tr.Events()
}

// wantPacket is what the annotator should say of one packet. The numbers
// are those tshark shows (relative sequence numbers, calculated window
// size).
type wantPacket struct {
	proto, from, to string
	flags           string
	seq, ack        uint32
	len, win        int
	options, dns    string
	// note lists phrases the note must contain.
	note []string
}

// watchedPhrases are phrases that belong to one kind of segment: a note
// holds one only when its wantPacket.note asks for it, so that (say) the
// handshake or TIME_WAIT is explained on the right segment and no other.
var watchedPhrases = []string{
	"sends SYN", "answers SYN-ACK", "three-way handshake",
	"sends FIN", "sends its FIN too", "acknowledges the client's FIN", "acknowledges the server's FIN",
	"TIME_WAIT", "RST", "refused", "Window 0", "bytes of data", "acknowledges everything",
}

func checkNote(t *testing.T, where, note string, want, dontWant []string) {
	t.Helper()
	if note == "" {
		t.Errorf("%s: empty note", where)
		return
	}
	for _, w := range want {
		if !strings.Contains(note, w) {
			t.Errorf("%s: note lacks %q:\n%s", where, w, note)
		}
	}
	for _, w := range dontWant {
		if strings.Contains(note, w) {
			t.Errorf("%s: note should not contain %q:\n%s", where, w, note)
		}
	}
	for _, p := range watchedPhrases {
		asked := slices.ContainsFunc(want, func(w string) bool { return strings.Contains(w, p) })
		if strings.Contains(note, p) && !asked {
			t.Errorf("%s: note says %q, which does not belong to this segment:\n%s", where, p, note)
		}
	}
}

// lesson03Want is the annotation of both lesson 03 captures (their ports
// and initial sequence numbers differ; relative numbers do not). The
// client writes 18 bytes, the server answers 29, the client closes
// first; the second connection closes without data.
var lesson03Want = []wantPacket{
	{proto: "udp", from: "resolver", to: "dns", len: 46, dns: "query A chuck.norris.test",
		note: []string{"resolver asks the DNS server", "A records of chuck.norris.test"}},
	{proto: "udp", from: "dns", to: "resolver", len: 68, dns: "answer A chuck.norris.test 127.0.0.1",
		note: []string{"chuck.norris.test has A 127.0.0.1 (TTL 60 s)"}},

	{proto: "tcp", from: "client", to: "server", flags: "SYN", seq: 0, ack: 0, win: 65495, options: "mss 65495 sack ts ws 10",
		note: []string{"The client's kernel sends SYN", "scaled by 2^10"}},
	{proto: "tcp", from: "server", to: "client", flags: "SYN ACK", seq: 0, ack: 1, win: 65483, options: "mss 65495 sack ts ws 10",
		note: []string{"The server's kernel answers SYN-ACK", "scaled by 2^10"}},
	{proto: "tcp", from: "client", to: "server", flags: "ACK", seq: 1, ack: 1, win: 65536,
		note: []string{"The client's ACK of the SYN-ACK completes the three-way handshake"}},
	{proto: "tcp", from: "client", to: "server", flags: "PSH ACK", seq: 1, ack: 1, len: 18, win: 65536,
		note: []string{"The client's kernel sends 18 bytes of data (bytes 1 to 18 of its stream)", "PSH: Linux sets it on the last segment of each write, and on the last of each group of segments its kernel builds as one large packet, cut into segments on the way out (GSO)"}},
	{proto: "tcp", from: "server", to: "client", flags: "ACK", seq: 1, ack: 19, win: 65536,
		note: []string{"The server's kernel acknowledges everything up to byte 18 of the client's stream (ack 19)"}},
	{proto: "tcp", from: "server", to: "client", flags: "PSH ACK", seq: 1, ack: 19, len: 29, win: 65536,
		note: []string{"The server's kernel sends 29 bytes of data (bytes 1 to 29 of its stream)"}},
	{proto: "tcp", from: "client", to: "server", flags: "ACK", seq: 19, ack: 30, win: 65536,
		note: []string{"The client's kernel acknowledges everything up to byte 29 of the server's stream (ack 30)"}},
	{proto: "tcp", from: "client", to: "server", flags: "FIN ACK", seq: 19, ack: 30, win: 65536,
		note: []string{"The client's kernel sends FIN"}},
	{proto: "tcp", from: "server", to: "client", flags: "FIN ACK", seq: 30, ack: 20, win: 65536,
		note: []string{"The server's kernel sends its FIN too", "It also acknowledges the client's FIN (ack 20)"}},
	{proto: "tcp", from: "client", to: "server", flags: "ACK", seq: 20, ack: 31, win: 65536,
		note: []string{"The client's kernel acknowledges the server's FIN (ack 31)", "The client sent the first FIN, so its socket stays in TIME_WAIT"}},

	{proto: "tcp", from: "client", to: "server", flags: "SYN", seq: 0, ack: 0, win: 65495, options: "mss 65495 sack ts ws 10",
		note: []string{"The client's kernel sends SYN"}},
	{proto: "tcp", from: "server", to: "client", flags: "SYN ACK", seq: 0, ack: 1, win: 65483, options: "mss 65495 sack ts ws 10",
		note: []string{"The server's kernel answers SYN-ACK"}},
	{proto: "tcp", from: "client", to: "server", flags: "ACK", seq: 1, ack: 1, win: 65536,
		note: []string{"completes the three-way handshake"}},
	{proto: "tcp", from: "client", to: "server", flags: "FIN ACK", seq: 1, ack: 1, win: 65536,
		note: []string{"The client's kernel sends FIN"}},
	{proto: "tcp", from: "server", to: "client", flags: "FIN ACK", seq: 1, ack: 2, win: 65536,
		note: []string{"The server's kernel sends its FIN too", "It also acknowledges the client's FIN (ack 2)"}},
	{proto: "tcp", from: "client", to: "server", flags: "ACK", seq: 2, ack: 2, win: 65536,
		note: []string{"The client's kernel acknowledges the server's FIN (ack 2)", "The client sent the first FIN, so its socket stays in TIME_WAIT"}},
}

// TestAnnotateLesson03 annotates both captures of lesson 03 and checks
// every packet against what tshark shows of it, and its note.
func TestAnnotateLesson03(t *testing.T) {
	for _, path := range lesson03Files {
		t.Run(path[strings.LastIndex(path, "/")+1:], func(t *testing.T) {
			ds := readPackets(t, path)
			evs := annotate(ds)
			if len(evs) != len(lesson03Want) {
				t.Fatalf("%d packets, want %d", len(evs), len(lesson03Want))
			}
			client := map[netip.AddrPort]netip.AddrPort{} // server → client of the current connection
			isn := map[netip.AddrPort]uint32{}            // sender → RawSeq-Seq
			for i, e := range evs {
				w, p, d := lesson03Want[i], e.Packet, ds[i]
				where := fmt.Sprintf("packet %d", i+1)
				if e.Phase != tracer.PhasePacket || e.Actor != "wire" || p == nil {
					t.Fatalf("%s: phase %q actor %q packet %v", where, e.Phase, e.Actor, p)
				}
				if !e.Time.Equal(d.Time) || p.Size != d.Length || p.Src != d.Src || p.Dst != d.Dst {
					t.Errorf("%s: time %v size %d %v→%v, want %v %d %v→%v", where, e.Time, p.Size, p.Src, p.Dst, d.Time, d.Length, d.Src, d.Dst)
				}
				if p.Proto != w.proto || p.From != w.from || p.To != w.to {
					t.Errorf("%s: %s %s → %s, want %s %s → %s", where, p.Proto, p.From, p.To, w.proto, w.from, w.to)
				}
				if p.Flags != w.flags || p.Seq != w.seq || p.Ack != w.ack || p.Len != w.len {
					t.Errorf("%s: %q seq %d ack %d len %d, want %q seq %d ack %d len %d", where, p.Flags, p.Seq, p.Ack, p.Len, w.flags, w.seq, w.ack, w.len)
				}
				if p.Options != w.options || p.DNS != w.dns {
					t.Errorf("%s: options %q dns %q, want %q %q", where, p.Options, p.DNS, w.options, w.dns)
				}
				checkNote(t, where, e.Note, w.note, nil)
				if w.proto == "udp" {
					if e.Proto != "" || e.Local.IsValid() || e.Name != "chuck.norris.test" {
						t.Errorf("%s: a DNS event has proto %q local %v name %q; want no five-tuple and the name", where, e.Proto, e.Local, e.Name)
					}
					continue
				}
				if p.Window != w.win {
					t.Errorf("%s: window %d, want %d (raw field %d)", where, p.Window, w.win, d.TCP.Window)
				}
				// The five-tuple, from the sender's point of view, gives
				// the trace its connection id.
				if e.Proto != "tcp" || e.Local != d.Src || e.Remote != d.Dst {
					t.Errorf("%s: five-tuple %v, want tcp %v ↔ %v", where, e.Tuple(), d.Src, d.Dst)
				}
				if p.RawSeq != d.TCP.Seq || p.RawAck != d.TCP.Ack {
					t.Errorf("%s: raw %d/%d, want %d/%d", where, p.RawSeq, p.RawAck, d.TCP.Seq, d.TCP.Ack)
				}
				// The client is the SYN's sender, and each side's numbers
				// are relative to the ISN of its own SYN.
				if w.flags == "SYN" {
					client[d.Dst] = d.Src
				}
				if w.flags == "SYN" || w.flags == "SYN ACK" {
					isn[d.Src] = p.RawSeq
				}
				switch p.From {
				case "client":
					if client[d.Dst] != d.Src {
						t.Errorf("%s: %v is called the client, but %v sent the SYN", where, d.Src, client[d.Dst])
					}
				case "server":
					if client[d.Src] != d.Dst {
						t.Errorf("%s: %v is called the server, but %v sent the SYN to it", where, d.Src, client[d.Src])
					}
				}
				if got := p.RawSeq - p.Seq; got != isn[d.Src] {
					t.Errorf("%s: relative to %d, want the ISN %d", where, got, isn[d.Src])
				}
			}
		})
	}
}

// Hand-built segments between two ends a and b of 127.0.0.1.

// synOpts are the options Linux puts on a SYN on lo, with window scale
// ws, or without it when ws < 0.
func synOpts(ws int) []layers.TCPOption {
	ts := make([]byte, 8)
	binary.BigEndian.PutUint32(ts, 4242)
	o := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0xff, 0xd7}}, // 65495
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts},
	}
	if ws >= 0 {
		o = append(o,
			layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
			layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(ws)}})
	}
	return o
}

// seg is one hand-built segment and what the annotator should make of it.
type seg struct {
	by       string // "a" or "b": the end that sends it
	flags    capture.TCPFlags
	seq, ack uint32 // raw numbers in the header
	win      uint16 // raw window field
	opts     []layers.TCPOption
	n        int // payload bytes

	from       string // the sender's role
	rseq, rack uint32 // relative numbers, as tshark shows them
	rwin       int    // the window shown
	options    string
	note       []string // phrases the note must contain
	notNote    []string // phrases it must not contain
}

// frame builds an Ethernet frame for s, sent from a or b.
func frame(t *testing.T, a, b uint16, s seg) []byte {
	t.Helper()
	src, dst := a, b
	if s.by == "b" {
		src, dst = b, a
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
	f := s.flags
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src), DstPort: layers.TCPPort(dst),
		Seq: s.seq, Ack: s.ack, Window: s.win, Options: s.opts,
		FIN: f.Has(capture.FIN), SYN: f.Has(capture.SYN), RST: f.Has(capture.RST), PSH: f.Has(capture.PSH), ACK: f.Has(capture.ACK),
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	payload := gopacket.Payload(strings.Repeat("x", s.n))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, payload); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

// packets builds the capture of a scenario, one microsecond apart.
func packets(t *testing.T, a, b uint16, segs []seg) []capture.Packet {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var ps []capture.Packet
	for i, s := range segs {
		data := frame(t, a, b, s)
		at := t0.Add(time.Duration(i) * time.Microsecond)
		ps = append(ps, capture.Packet{Time: at, Data: data, LinkType: layers.LinkTypeEthernet,
			Info: gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}})
	}
	return ps
}

const (
	ackF = capture.ACK
	synF = capture.SYN
	finF = capture.FIN
	rstF = capture.RST
	pshF = capture.PSH
)

// handshake is a three-way handshake between client a and server b
// (ISNs 1000 and 7000), both offering window scale ws (none if < 0).
func handshake(ws int) []seg {
	win, opts := 65536, fmt.Sprintf("mss 65495 sack ts ws %d", ws)
	if ws < 0 {
		win, opts = 512, "mss 65495 sack ts"
	}
	return []seg{
		{by: "a", flags: synF, seq: 1000, win: 65495, opts: synOpts(ws), from: "client", rwin: 65495, options: opts, note: []string{"sends SYN"}},
		{by: "b", flags: synF | ackF, seq: 7000, ack: 1001, win: 65483, opts: synOpts(ws), from: "server", rack: 1, rwin: 65483, options: opts, note: []string{"answers SYN-ACK"}},
		{by: "a", flags: ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: win, note: []string{"completes the three-way handshake"}},
	}
}

var annotateCases = []struct {
	name string
	a, b uint16 // ports of the ends
	segs []seg
}{
	{
		name: "RST answers SYN: refused",
		a:    40000, b: 5000,
		segs: []seg{
			{by: "a", flags: synF, seq: 1000, win: 65495, opts: synOpts(7), from: "client", rwin: 65495, options: "mss 65495 sack ts ws 7",
				note: []string{"sends SYN", "scaled by 2^7"}},
			// Linux answers a SYN to a closed port with RST ACK, seq 0.
			{by: "b", flags: rstF | ackF, seq: 0, ack: 1001, win: 0, from: "server", rseq: 1, rack: 1, rwin: 0,
				note:    []string{"The server's kernel answers the SYN with RST", "nothing listens on 127.0.0.1:5000", "refused (ECONNREFUSED)"},
				notNote: []string{"torn down"}},
		},
	},
	{
		name: "RST from the server mid-connection",
		a:    40000, b: 5000,
		segs: append(handshake(7),
			seg{by: "a", flags: pshF | ackF, seq: 1001, ack: 7001, win: 512, n: 10, from: "client", rseq: 1, rack: 1, rwin: 65536, note: []string{"sends 10 bytes of data (bytes 1 to 10"}},
			seg{by: "b", flags: rstF | ackF, seq: 7001, ack: 1011, win: 512, from: "server", rseq: 1, rack: 11, rwin: 65536,
				note:    []string{"The server's kernel sends RST", "torn down at once", "ECONNRESET"},
				notNote: []string{"refused"}},
		),
	},
	{
		name: "RST from the client, no ACK flag",
		a:    40000, b: 5000,
		segs: append(handshake(7),
			seg{by: "a", flags: rstF, seq: 1001, win: 0, from: "client", rseq: 1, rwin: 0,
				note: []string{"The client's kernel sends RST", "torn down"}, notNote: []string{"refused"}},
		),
	},
	{
		// RFC 9293 3.10.7.1: a segment no connection takes is answered
		// by a RST numbered with its acknowledgement number, no ACK
		// flag: the kernel has no socket for it (any more).
		name: "RST in answer to a segment",
		a:    40000, b: 5000,
		segs: append(handshake(7),
			seg{by: "b", flags: pshF | ackF, seq: 7001, ack: 1001, win: 512, n: 5, from: "server", rseq: 1, rack: 1, rwin: 65536, note: []string{"sends 5 bytes of data"}},
			seg{by: "a", flags: rstF, seq: 1001, win: 0, from: "client", rseq: 1, rwin: 0,
				note: []string{"The client's kernel answers the server's last segment with RST", "holds no connection that takes that segment"}, notNote: []string{"torn down", "refused"}},
		),
	},
	{
		name: "zero window, then a window update",
		a:    40000, b: 5000,
		segs: append(handshake(7),
			seg{by: "a", flags: pshF | ackF, seq: 1001, ack: 7001, win: 512, n: 100, from: "client", rseq: 1, rack: 1, rwin: 65536, note: []string{"sends 100 bytes of data"}},
			seg{by: "b", flags: ackF, seq: 7001, ack: 1101, win: 0, from: "server", rseq: 1, rack: 101, rwin: 0,
				note: []string{"acknowledges everything up to byte 100", "Window 0: the server's receive buffer is full, so the client must stop sending"}},
			seg{by: "b", flags: ackF, seq: 7001, ack: 1101, win: 2, from: "server", rseq: 1, rack: 101, rwin: 256,
				note: []string{"acknowledges everything up to byte 100"}},
		),
	},
	{
		name: "capture starts mid-connection, client (higher port) first",
		a:    51000, b: 6969,
		segs: []seg{
			{by: "a", flags: pshF | ackF, seq: 5000, ack: 9000, win: 512, n: 10, from: "client", rseq: 1, rack: 1, rwin: 512, note: []string{"The client's kernel sends 10 bytes of data (bytes 1 to 10"}},
			{by: "b", flags: ackF, seq: 9000, ack: 5010, win: 512, from: "server", rseq: 1, rack: 11, rwin: 512, note: []string{"The server's kernel acknowledges everything up to byte 10"}},
			{by: "b", flags: pshF | ackF, seq: 9000, ack: 5010, win: 512, n: 20, from: "server", rseq: 1, rack: 11, rwin: 512, note: []string{"sends 20 bytes of data (bytes 1 to 20"}},
			{by: "a", flags: ackF, seq: 5010, ack: 9020, win: 512, from: "client", rseq: 11, rack: 21, rwin: 512, note: []string{"acknowledges everything up to byte 20"}},
		},
	},
	{
		name: "capture starts mid-connection, server (lower port) first",
		a:    6969, b: 51000,
		segs: []seg{
			{by: "a", flags: pshF | ackF, seq: 9000, ack: 5000, win: 512, n: 20, from: "server", rseq: 1, rack: 1, rwin: 512, note: []string{"The server's kernel sends 20 bytes of data (bytes 1 to 20"}},
			{by: "b", flags: ackF, seq: 5000, ack: 9020, win: 512, from: "client", rseq: 1, rack: 21, rwin: 512, note: []string{"acknowledges everything up to byte 20"}},
		},
	},
	{
		// Nothing was seen of the handshake: the first segment is an
		// ACK like any other, not the handshake's last.
		name: "capture starts mid-connection with the client's pure ACK",
		a:    51000, b: 6969,
		segs: []seg{
			{by: "a", flags: ackF, seq: 5000, ack: 9000, win: 512, from: "client", rseq: 1, rack: 1, rwin: 512, note: []string{"acknowledges everything"}},
			{by: "b", flags: pshF | ackF, seq: 9000, ack: 5000, win: 512, n: 5, from: "server", rseq: 1, rack: 1, rwin: 512, note: []string{"sends 5 bytes of data"}},
		},
	},
	{
		name: "SYN retransmitted",
		a:    40000, b: 5000,
		segs: []seg{
			{by: "a", flags: synF, seq: 1000, win: 65495, opts: synOpts(7), from: "client", rwin: 65495, options: "mss 65495 sack ts ws 7", note: []string{"sends SYN"}},
			// A copy of the last segment sent (its SYN counted) is
			// not out of order, however soon (as tshark has it).
			{by: "a", flags: synF, seq: 1000, win: 65495, opts: synOpts(7), from: "client", rwin: 65495, options: "mss 65495 sack ts ws 7", note: []string{"sends its SYN again"}},
			{by: "b", flags: synF | ackF, seq: 7000, ack: 1001, win: 65483, opts: synOpts(7), from: "server", rack: 1, rwin: 65483, options: "mss 65495 sack ts ws 7", note: []string{"answers SYN-ACK"}},
			{by: "a", flags: ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 65536, note: []string{"completes the three-way handshake"}},
		},
	},
	{
		name: "five-tuple reused after close",
		a:    40000, b: 5000,
		segs: append(handshake(7),
			seg{by: "a", flags: finF | ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 65536, note: []string{"The client's kernel sends FIN"}},
			seg{by: "b", flags: finF | ackF, seq: 7001, ack: 1002, win: 512, from: "server", rseq: 1, rack: 2, rwin: 65536, note: []string{"sends its FIN too", "acknowledges the client's FIN (ack 2)"}},
			seg{by: "a", flags: ackF, seq: 1002, ack: 7002, win: 512, from: "client", rseq: 2, rack: 2, rwin: 65536, note: []string{"acknowledges the server's FIN (ack 2)", "The client sent the first FIN", "TIME_WAIT"}},
			// A new connection on the same five-tuple, new ISNs and no
			// window scaling: numbers restart, windows are raw.
			seg{by: "a", flags: synF, seq: 50000, win: 65495, opts: synOpts(-1), from: "client", rwin: 65495, options: "mss 65495 sack ts", note: []string{"sends SYN",
				"It opens a new connection on the five-tuple of the connection before", "The client closed first, so its own socket held this five-tuple in TIME_WAIT",
				"Here the new initial sequence number (raw 50000) is 48998 above the client's last in the old connection (raw 1002, after its FIN), and its timestamp (4242) is not newer"}},
			seg{by: "b", flags: synF | ackF, seq: 90000, ack: 50001, win: 65483, opts: synOpts(-1), from: "server", rack: 1, rwin: 65483, options: "mss 65495 sack ts", note: []string{"answers SYN-ACK"}},
			seg{by: "a", flags: ackF, seq: 50001, ack: 90001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 512, note: []string{"completes the three-way handshake"}},
			seg{by: "b", flags: finF | ackF, seq: 90001, ack: 50001, win: 512, from: "server", rseq: 1, rack: 1, rwin: 512, note: []string{"The server's kernel sends FIN"}},
		),
	},
	{
		name: "server closes first, its FIN acknowledged alone",
		a:    40000, b: 5000,
		segs: append(handshake(7),
			seg{by: "b", flags: finF | ackF, seq: 7001, ack: 1001, win: 512, from: "server", rseq: 1, rack: 1, rwin: 65536, note: []string{"The server's kernel sends FIN"}},
			seg{by: "a", flags: ackF, seq: 1001, ack: 7002, win: 512, from: "client", rseq: 1, rack: 2, rwin: 65536, note: []string{"The client's kernel acknowledges the server's FIN (ack 2)."}},
			seg{by: "a", flags: finF | ackF, seq: 1001, ack: 7002, win: 512, from: "client", rseq: 1, rack: 2, rwin: 65536, note: []string{"The client's kernel sends its FIN too"}},
			seg{by: "b", flags: ackF, seq: 7002, ack: 1002, win: 512, from: "server", rseq: 2, rack: 2, rwin: 65536,
				note: []string{"The server's kernel acknowledges the client's FIN (ack 2)", "The server sent the first FIN, so its socket stays in TIME_WAIT"}},
		),
	},
	{
		// RFC 7323 2.3: a shift count above 14 is used as 14.
		name: "window scale above 14",
		a:    40000, b: 5000,
		segs: []seg{
			{by: "a", flags: synF, seq: 1000, win: 65495, opts: synOpts(255), from: "client", rwin: 65495, options: "mss 65495 sack ts ws 255", note: []string{"sends SYN"}},
			{by: "b", flags: synF | ackF, seq: 7000, ack: 1001, win: 65483, opts: synOpts(255), from: "server", rack: 1, rwin: 65483, options: "mss 65495 sack ts ws 255", note: []string{"answers SYN-ACK"}},
			{by: "a", flags: ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 512 << 14, note: []string{"completes the three-way handshake"}},
		},
	},
}

// TestAnnotateHandBuilt checks roles, relative numbers, windows and notes
// for segments that lesson 03 does not produce: refused and reset
// connections, a zero window, a capture that starts mid-connection, a
// retransmitted SYN and a five-tuple used twice.
func TestAnnotateHandBuilt(t *testing.T) {
	for _, tc := range annotateCases {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAnnotator()
			for i, p := range packets(t, tc.a, tc.b, tc.segs) {
				s := tc.segs[i]
				where := fmt.Sprintf("segment %d (%s)", i+1, s.flags)
				d, err := capture.Decode(p)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				e := a.Event(d)
				q := e.Packet
				to := map[string]string{"client": "server", "server": "client"}[s.from]
				if q.From != s.from || q.To != to {
					t.Errorf("%s: %s → %s, want %s → %s", where, q.From, q.To, s.from, to)
				}
				if q.Flags != s.flags.String() || q.Seq != s.rseq || q.Ack != s.rack || q.Len != s.n || q.Window != s.rwin {
					t.Errorf("%s: %q seq %d ack %d len %d win %d, want %q seq %d ack %d len %d win %d",
						where, q.Flags, q.Seq, q.Ack, q.Len, q.Window, s.flags, s.rseq, s.rack, s.n, s.rwin)
				}
				if q.Options != s.options {
					t.Errorf("%s: options %q, want %q", where, q.Options, s.options)
				}
				checkNote(t, where, e.Note, s.note, s.notNote)
			}
		})
	}
}

// An Annotator keeps a connection that ended (the last FIN
// acknowledged, or RST) for its late segments, lets it go once maxEnded
// more have ended, and past maxAnnotated lets go of the connections
// that saw no segment for longest.
func TestAnnotatorForgets(t *testing.T) {
	for _, path := range lesson03Files {
		a := NewAnnotator()
		for _, d := range readPackets(t, path) {
			a.Event(d)
		}
		if len(a.conns) != 2 || len(a.ended) != 2 {
			t.Errorf("%s: %d connections followed, %d ended; want 2 and 2", path, len(a.conns), len(a.ended))
		}
	}

	decode := func(p capture.Packet) capture.Decoded {
		t.Helper()
		d, err := capture.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The server's FIN sent again after the client's last ACK: still
	// numbered in its connection, and explained.
	closing := append(handshake(7),
		seg{by: "b", flags: pshF | ackF, seq: 7001, ack: 1001, win: 512, n: 10},
		seg{by: "a", flags: finF | ackF, seq: 1001, ack: 7011, win: 512},
		seg{by: "b", flags: finF | ackF, seq: 7011, ack: 1002, win: 512},
		seg{by: "a", flags: ackF, seq: 1002, ack: 7012, win: 512},
		seg{by: "b", flags: finF | ackF, seq: 7011, ack: 1002, win: 512})
	a := NewAnnotator()
	var ev tracer.Event
	for _, p := range packets(t, 40000, 6969, closing) {
		ev = a.Event(decode(p))
	}
	if len(a.ended) != 1 {
		t.Errorf("%d connections ended, want 1", len(a.ended))
	}
	if ev.Packet.From != "server" || ev.Packet.Seq != 11 || !strings.Contains(ev.Note, "sends its FIN again") || strings.Contains(ev.Note, "will send no more data") {
		t.Errorf("the FIN sent again after the end: from %s seq %d, note %q; want the server's, seq 11, sent again", ev.Packet.From, ev.Packet.Seq, ev.Note)
	}
	// The same SYN again (a late copy) belongs to the connection it
	// began, as tshark's tcp.stream has it: numbered below the data
	// sent, 1 µs after the FIN (tshark too says out of order).
	ev = a.Event(decode(packets(t, 40000, 6969, handshake(7)[:1])[0]))
	if !a.conns[keyOf(ev.Packet.Src, ev.Packet.Dst)].ended || !slices.Contains(ev.Packet.Analysis, "out-of-order") {
		t.Errorf("the first SYN again after the end: %q, connection ended %v; want out of order in the connection that ended", ev.Packet.Analysis, a.conns[keyOf(ev.Packet.Src, ev.Packet.Dst)].ended)
	}
	// A SYN with another initial sequence number on the same
	// five-tuple is a new connection.
	newSYN := handshake(7)[:1]
	newSYN[0].seq = 5000
	ev = a.Event(decode(packets(t, 40000, 6969, newSYN)[0]))
	if ev.Packet.From != "client" || ev.Packet.Seq != 0 || a.conns[keyOf(ev.Packet.Src, ev.Packet.Dst)].ended {
		t.Errorf("SYN after the end: from %s seq %d; want a new connection, from the client, seq 0", ev.Packet.From, ev.Packet.Seq)
	}

	// Connections refused (SYN, RST) from maxEnded+1 clients: the first
	// is let go, the second is still kept.
	syn := decode(packets(t, 1, 6969, handshake(7)[:1])[0])
	rst := decode(packets(t, 1, 6969, []seg{{by: "b", flags: rstF | ackF, ack: 1001}})[0])
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
	}
	a = NewAnnotator()
	for i := range maxEnded + 1 {
		s, r := syn, rst
		s.Src, r.Dst = client(i), client(i)
		a.Event(s)
		a.Event(r)
	}
	if _, ok := a.conns[keyOf(client(0), syn.Dst)]; ok {
		t.Errorf("the first connection refused is still kept after %d more", maxEnded)
	}
	if _, ok := a.conns[keyOf(client(1), syn.Dst)]; !ok {
		t.Errorf("the second connection refused is let go after %d more, want kept", maxEnded-1)
	}

	// SYNs never answered, to the bound; the first one's client sends
	// again; one more SYN lets go of the quarter seen longest ago, not
	// the first.
	a = NewAnnotator()
	for i := range maxAnnotated {
		d := syn
		d.Src = client(i)
		a.Event(d)
	}
	again := syn
	again.Src = client(0)
	a.Event(again)
	last := syn
	last.Src = client(maxAnnotated)
	a.Event(last)
	if _, ok := a.conns[keyOf(client(0), syn.Dst)]; !ok {
		t.Error("the connection seen last but one was let go")
	}
	if _, ok := a.conns[keyOf(client(1), syn.Dst)]; ok {
		t.Error("the connection seen longest ago is still followed")
	}
	if want := maxAnnotated - maxAnnotated/4; len(a.conns) != want {
		t.Errorf("%d connections followed after the bound, want %d", len(a.conns), want)
	}
}

// interned gives back the bytes' text, whatever its slots held: the
// same string for a text it holds, a new one otherwise, never one the
// buffer's later bytes change.
func TestInterned(t *testing.T) {
	var in interned
	rng := rand.New(rand.NewPCG(1, 2))
	texts := make([]string, 3*internSlots) // more than the slots: collisions
	for i := range texts {
		texts[i] = strings.Repeat(string(rune('a'+i%26)), 1+rng.IntN(300)) + strconv.Itoa(i)
	}
	buf := make([]byte, 0, 512)
	for range 50_000 {
		want := texts[rng.IntN(len(texts))]
		buf = append(buf[:0], want...)
		got := in.of(buf)
		if got != want {
			t.Fatalf("of(%q) = %q", want, got)
		}
		again := in.of(buf)
		if again != want || unsafe.StringData(again) != unsafe.StringData(got) {
			t.Fatalf("of(%q) the second time is not the string it gave", want)
		}
		clear(buf[:cap(buf)])
		if got != want {
			t.Fatalf("of(%q) shares the buffer: %q once it was cleared", want, got)
		}
	}
}
