package wire

import (
	"bytes"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"tcptour/tracer/capture"
)

// tsharkStreams reads tshark's tcp.stream of each frame of a capture, -1
// for a frame without one.
func tsharkStreams(t *testing.T, tshark, path string, n int) []int {
	t.Helper()
	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.number", "-e", "tcp.stream")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	streams := make([]int, n)
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(l, "\t")
		i, err := strconv.Atoi(cols[0])
		if err != nil || i < 1 || i > n || len(cols) != 2 {
			t.Fatalf("tshark printed %q", l)
		}
		streams[i-1] = -1
		if cols[1] != "" {
			if streams[i-1], err = strconv.Atoi(cols[1]); err != nil {
				t.Fatalf("tshark printed %q", l)
			}
		}
	}
	return streams
}

// numberConns numbers the connections of a file's packets as inspect
// does: an Annotator per interface, sharing one ConnNumbers; -1 for a
// packet that is not TCP.
func numberConns(t *testing.T, pkts []capture.Packet) []int {
	t.Helper()
	n := NewConnNumbers()
	anns := map[string]*Annotator{}
	conns := make([]int, len(pkts))
	for i, p := range pkts {
		d, err := capture.Decode(p)
		if err != nil || d.TCP == nil {
			conns[i] = -1
			continue
		}
		a := anns[p.Interface]
		if a == nil {
			a = NewAnnotator()
			a.NumberConns(n)
			anns[p.Interface] = a
		}
		conns[i] = a.Event(d).Conn
	}
	return conns
}

// readAll reads a capture's packets.
func readAll(t *testing.T, path string) []capture.Packet {
	t.Helper()
	pkts, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

// TestConnNumbers checks that the connections numbered are tshark's
// tcp.streams, frame by frame: in reuse.pcapng, 12 connections on one
// five-tuple, captured at both ends (one Annotator each, sharing the
// numbers), and in every capture of ../inspect/testdata and testdata
// (whole: a file captured at two interfaces is one part).
func TestConnNumbers(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: nothing to compare the connections with")
	}
	files, _ := filepath.Glob("../inspect/testdata/*.pcap*")
	ours, _ := filepath.Glob("testdata/*.pcap*")
	files = append(files, ours...)
	var parts [][]capture.Packet
	for _, path := range files {
		parts = append(parts, readAll(t, path))
	}
	theirs := tsharkStreamsOfParts(t, tshark, parts)
	for i, part := range parts {
		ours := numberConns(t, part)
		bad := 0
		for j := range ours {
			if ours[j] != theirs[i][j] && (ours[j] != -1 || theirs[i][j] != -1) {
				t.Errorf("%s: frame %d: connection %d, tshark's tcp.stream %d (+1, in this file)", filepath.Base(files[i]), j+1, ours[j], theirs[i][j])
				if bad++; bad == 10 {
					t.FailNow()
				}
			}
		}
	}
}

// tsharkStreamsOfParts has tshark number the streams of several
// captures in one run, as tsharkParts does, and returns each part's
// tcp.stream numbers plus 1, counted from the part's first (-1 for a
// frame without one).
func tsharkStreamsOfParts(t *testing.T, tshark string, parts [][]capture.Packet) [][]int {
	t.Helper()
	path, n := writeParts(t, parts)
	all := tsharkStreams(t, tshark, path, n)
	out := make([][]int, len(parts))
	base := 0 // the streams of the parts before
	for i, part := range parts {
		out[i], all = all[:len(part)], all[len(part):]
		top := base
		for j, s := range out[i] {
			if s >= 0 {
				top = max(top, s+1)
				out[i][j] = s + 1 - base
			}
		}
		base = top
	}
	return out
}

// The numbers of reuse.pcapng, without tshark: 12 connections, 20 frames
// each (10 at each end); without NumberConns, none.
func TestConnNumbersReuse(t *testing.T) {
	conns := numberConns(t, readAll(t, "testdata/reuse.pcapng"))
	counts := map[int]int{}
	for _, c := range conns {
		counts[c]++
	}
	if len(counts) != 12 {
		t.Errorf("%d connections, want 12: %v", len(counts), counts)
	}
	for c := 1; c <= 12; c++ {
		if counts[c] != 20 {
			t.Errorf("connection %d has %d frames, want 20", c, counts[c])
		}
	}
	a := NewAnnotator()
	for i, d := range readPackets(t, "testdata/reuse.pcapng") {
		if e := a.Event(d); e.Conn != 0 {
			t.Fatalf("frame %d: Conn %d without NumberConns, want 0", i+1, e.Conn)
		}
	}
}

// TestConnNumbersRules checks where a connection begins, against
// tshark's tcp.stream: a SYN with the initial sequence number its
// direction began with belongs to the connection it began (sent again,
// or late), one with another begins the next, whether the first had
// ended or not, and whichever end sends it; a direction's first number
// comes from its SYN, or its first segment, or the peer's first ACK.
func TestConnNumbersRules(t *testing.T) {
	syn := func(by string, seq uint32) seg { return seg{by: by, flags: synF, seq: seq, win: 512} }
	synAck := func(by string, seq, ack uint32) seg {
		return seg{by: by, flags: synF | ackF, seq: seq, ack: ack, win: 512}
	}
	ack := func(by string, seq, ack uint32) seg { return seg{by: by, flags: ackF, seq: seq, ack: ack, win: 512} }
	cases := []struct {
		name string
		segs []seg
		want []int
	}{
		{"a SYN sent again, then another", []seg{syn("a", 1000), syn("a", 1000), syn("a", 5000), synAck("b", 7000, 5001)}, []int{1, 1, 2, 2}},
		{"established, then a SYN with another ISN", []seg{syn("a", 1000), synAck("b", 7000, 1001), ack("a", 1001, 7001), syn("a", 3000)}, []int{1, 1, 1, 2}},
		{"the server's SYN after", []seg{syn("a", 1000), synAck("b", 7000, 1001), ack("a", 1001, 7001), syn("b", 9000)}, []int{1, 1, 1, 2}},
		{"first seen in the middle, then a SYN", []seg{ack("a", 1001, 7001), ack("b", 7001, 1001), syn("a", 3000)}, []int{1, 1, 2}},
		{"the ISN from the peer's ACK", []seg{ack("b", 7001, 1001), syn("a", 1000), syn("a", 1500)}, []int{1, 1, 2}},
		{"a simultaneous open", []seg{syn("a", 1000), syn("b", 7000), synAck("a", 1000, 7001), synAck("b", 7000, 1001)}, []int{1, 1, 1, 1}},
	}
	var all []capture.Packet
	for i, tc := range cases {
		ps := packets(t, uint16(40000+i), 7000, tc.segs)
		a := NewAnnotator()
		a.NumberConns(NewConnNumbers())
		for j, p := range ps {
			d, err := capture.Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Event(d).Conn; got != tc.want[j] {
				t.Errorf("%s: segment %d: connection %d, want %d", tc.name, j+1, got, tc.want[j])
			}
		}
		all = append(all, ps...)
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed: the rules were not compared with its tcp.stream")
		return
	}
	// One file, each case on its own five-tuple: tshark's streams
	// are numbered across the file.
	path := filepath.Join(t.TempDir(), "rules.pcapng")
	w, err := capture.NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	theirs := tsharkStreams(t, tshark, path, len(all))
	k, base := 0, 0
	for _, tc := range cases {
		for j := range tc.segs {
			if theirs[k]+1 != base+tc.want[j] {
				t.Errorf("%s: segment %d: tshark's tcp.stream %d, want %d", tc.name, j+1, theirs[k], base+tc.want[j]-1)
			}
			k++
		}
		base += slices.Max(tc.want)
	}
}

// Annotators at two interfaces that share a ConnNumbers give a
// connection the same number at both, whichever sees its SYN first,
// and each direction's SYN in a simultaneous open.
func TestConnNumbersShared(t *testing.T) {
	syn := func(by string, seq uint32) seg { return seg{by: by, flags: synF, seq: seq, win: 512} }
	ack := func(by string, seq, ack uint32) seg { return seg{by: by, flags: ackF, seq: seq, ack: ack, win: 512} }
	decode := func(s seg) capture.Decoded {
		d, err := capture.Decode(packets(t, 40000, 7000, []seg{s})[0])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	n := NewConnNumbers()
	x, y := NewAnnotator(), NewAnnotator()
	x.NumberConns(n)
	y.NumberConns(n)
	for i, step := range []struct {
		a    *Annotator
		s    seg
		want int
	}{
		{x, ack("a", 1001, 7001), 1}, // mid-stream at x
		{y, ack("b", 7001, 1001), 1}, // the same connection at y
		{x, syn("a", 3000), 2},       // a new one at x
		{y, ack("b", 7001, 1001), 1}, // a late segment of the first at y
		{y, syn("a", 3000), 2},       // the new one's SYN at y
		{x, syn("b", 9000), 2},       // a simultaneous open: b's SYN at x
		{y, syn("b", 9000), 2},       // and at y, after a's
	} {
		if got := step.a.Event(decode(step.s)).Conn; got != step.want {
			t.Errorf("step %d: connection %d, want %d", i+1, got, step.want)
		}
	}
}

// A ConnNumbers remembers the five-tuples of its last maxConnNumbers
// connections, no more: past that, the oldest is forgotten (a
// connection on it that an Annotator still follows keeps its number).
func TestConnNumbersBounded(t *testing.T) {
	n := NewConnNumbers()
	server := netip.MustParseAddrPort("192.0.2.2:7000")
	key := func(i int) flowKey {
		return keyOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000), server)
	}
	for i := range maxConnNumbers + 1 {
		k := key(i)
		c := &conn{lower: k.a}
		if got := n.number(k, c, k.a, true, 1000); got != i+1 {
			t.Fatalf("connection %d numbered %d", i+1, got)
		}
	}
	if len(n.byKey) != maxConnNumbers || len(n.order) != maxConnNumbers {
		t.Errorf("%d five-tuples remembered (%d in order), want %d", len(n.byKey), len(n.order), maxConnNumbers)
	}
	if _, ok := n.byKey[key(0)]; ok {
		t.Error("the first five-tuple is still remembered")
	}
	// The second is still known: its SYN seen again (at another
	// interface) gets its number.
	k := key(1)
	if got := n.number(k, &conn{lower: k.a}, k.a, true, 1000); got != 2 {
		t.Errorf("the second connection's SYN again: number %d, want 2", got)
	}
}
