package wire

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// annotateFile annotates every packet of a capture, one event per
// frame (frame n at index n-1, as tshark numbers them).
func annotateFile(t *testing.T, path string) []tracer.Event {
	t.Helper()
	pkts, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnnotator()
	var evs []tracer.Event
	for _, p := range pkts {
		d, _ := capture.Decode(p)
		evs = append(evs, a.Event(d))
	}
	return evs
}

// TestNotesOfCutOptions checks the notes on captures whose snapshot
// length cut the TCP options (capture/testdata: tcpdump -s 60 and -s
// 96), against tshark:
//
//	tshark -r F -T fields -e frame.number -e tcp.flags.str -e tcp.hdr_len -e tcp.options \
//		-e tcp.window_size_value -e tcp.window_size -e tcp.window_size_scalefactor
//
// With -s 60 each SYN and SYN-ACK keeps 6 of its 20 bytes of options
// (MSS and SACK permitted): tshark's scaling factor is -1 (unknown)
// and its window size the raw field (63, 68). With -s 96 the SYNs are
// whole (window scale 10) and the windows scaled (64512, 69632).
func TestNotesOfCutOptions(t *testing.T) {
	const (
		kept = "The capture kept only the first 6 of its 20 bytes of options (its snapshot length cut the rest off): other options (window scale, timestamps) may have been there."
		raw  = "Whether the two ends scale their windows is unknown, since the capture cut a SYN's options before any window scale option: the windows shown from here on are the header's raw field, not bytes"
	)
	evs := annotateFile(t, filepath.Join("..", "capture", "testdata", "snaplen60.pcap"))
	for _, c := range []struct {
		syn, synAck int   // frames
		windows     []int // frames 3 on, tshark's tcp.window_size
	}{
		{1, 2, []int{63, 63, 68, 63, 68, 63, 68, 63}},
		{15, 16, []int{63, 63, 64, 64, 63, 63, 64, 63}},
	} {
		syn, synAck := evs[c.syn-1], evs[c.synAck-1]
		if !strings.Contains(syn.Note, "Its options: the largest segment its sender can receive, 1240 bytes of payload (MSS); selective acknowledgements allowed (SACK). "+kept) ||
			strings.Contains(syn.Note, raw) {
			t.Errorf("frame %d: %s", c.syn, syn.Note)
		}
		// The SYN-ACK makes the scale unknown: said once.
		if !strings.Contains(synAck.Note, kept+" "+raw) {
			t.Errorf("frame %d: %s", c.synAck, synAck.Note)
		}
		var got []int
		for i, e := range evs[c.synAck:] {
			p, s := e.Packet, syn.Packet
			if p.Proto != "tcp" || !(p.Src == s.Src && p.Dst == s.Dst || p.Src == s.Dst && p.Dst == s.Src) {
				continue
			}
			got = append(got, e.Packet.Window)
			if strings.Contains(e.Note, "options") || strings.Contains(e.Note, "scale") || strings.Contains(e.Note, "window") {
				t.Errorf("frame %d: %s", c.synAck+i+1, e.Note)
			}
		}
		if !slices.Equal(got, c.windows) {
			t.Errorf("SYN at frame %d: windows %v, tshark %v", c.syn, got, c.windows)
		}
	}

	// Whole SYNs: nothing said of cut options (the later segments'
	// options are cut, which changes nothing the notes say).
	evs = annotateFile(t, filepath.Join("..", "capture", "testdata", "snaplen96.pcap"))
	for i, e := range evs {
		if strings.Contains(e.Note, "capture kept") || strings.Contains(e.Note, "scale their windows") {
			t.Errorf("snaplen96 frame %d: %s", i+1, e.Note)
		}
	}
	if w := []int{evs[2].Packet.Window, evs[4].Packet.Window}; w[0] != 64512 || w[1] != 69632 {
		t.Errorf("snaplen96 frames 3 and 5: windows %v, tshark [64512 69632]", w)
	}
}

// TestCutOptionsScale checks when a cut SYN leaves the window scale
// unknown: only while the other SYN's options do not show scaling off.
func TestCutOptionsScale(t *testing.T) {
	for _, tc := range []struct {
		name        string
		syn, synAck capture.TCPSegment
		rawWindows  bool
		window      int // of the ACK after, whose raw field is 100
	}{
		{"both cut", cutSYN(false), cutSYN(false), true, 100},
		{"SYN cut, SYN-ACK whole with window scale 2", cutSYN(false), wholeSYN(true), true, 100},
		{"SYN cut, SYN-ACK whole without window scale", cutSYN(false), wholeSYN(false), false, 100},
		{"SYN cut after its window scale 3, SYN-ACK whole with 2", cutSYN(true), wholeSYN(true), false, 400},
		{"both whole", wholeSYN(true), wholeSYN(true), false, 400},
	} {
		a := NewAnnotator()
		tc.syn.Flags, tc.syn.Seq = capture.SYN, 1000
		tc.synAck.Flags, tc.synAck.Seq, tc.synAck.Ack = capture.SYN|capture.ACK, 5000, 1001
		ack := capture.TCPSegment{Flags: capture.ACK, Seq: 5001, Ack: 1001, Window: 100}
		a.Event(capture.Decoded{TCP: &tc.syn, Src: cli, Dst: srv})
		e := a.Event(capture.Decoded{TCP: &tc.synAck, Src: srv, Dst: cli})
		if got := strings.Contains(e.Note, "scale their windows is unknown"); got != tc.rawWindows {
			t.Errorf("%s: SYN-ACK's note %q", tc.name, e.Note)
		}
		if e = a.Event(capture.Decoded{TCP: &ack, Src: srv, Dst: cli}); e.Packet.Window != tc.window {
			t.Errorf("%s: window %d, want %d", tc.name, e.Packet.Window, tc.window)
		}
	}
}

var (
	cli = netip.MustParseAddrPort("10.0.0.1:40000")
	srv = netip.MustParseAddrPort("10.0.0.2:80")
)

// cutSYN is a SYN whose 20 bytes of options were cut after 6 (MSS, SACK
// permitted), or after 13 with a window scale of 3 among them.
func cutSYN(ws bool) capture.TCPSegment {
	s := capture.TCPSegment{HeaderLen: 40, OptionsCut: true, OptionBytes: 6, Options: capture.TCPOptions{MSS: 1460, SACKPermitted: true}}
	if ws {
		s.OptionBytes, s.Options.HasWindowScale, s.Options.WindowScale = 13, true, 3
	}
	return s
}

// wholeSYN is a SYN with all its options, a window scale of 2 or none.
func wholeSYN(ws bool) capture.TCPSegment {
	s := capture.TCPSegment{HeaderLen: 40, OptionBytes: 20, Options: capture.TCPOptions{MSS: 1460, SACKPermitted: true, HasTimestamps: true}}
	if ws {
		s.Options.HasWindowScale, s.Options.WindowScale = true, 2
	}
	return s
}

// TestDuplicateAckCut checks the notes of duplicate ACKs whose options
// a snapshot length cut, after a handshake whose SYNs allowed SACK: one
// cut before its SACK option (its 12 bytes of options all cut), one
// after the first of its two blocks (bytes 201 to 300 held, but not in
// the capture: the note may not call them missing). Neither may say that it holds no SACK block.
func TestDuplicateAckCut(t *testing.T) {
	segs := []seg{handshake(7)[0], handshake(7)[1], handshake(7)[2],
		cdata(1, 100), sack(101, 512), // byte 101 to 200 lost
		cdata(201, 100), sack(101, 512, 201, 301),
		cdata(301, 100), sack(101, 512, 301, 401, 201, 301), // the newest block first, as Linux sends them
		cdata(401, 100), sack(101, 512, 201, 501),
	}
	ps := packets(t, 40000, 5000, segs)
	// Ethernet 14, IPv4 20, TCP 20: no option kept; then 2 NOPs, kind
	// and length, and one block of 8 bytes.
	for i, n := range map[int]int{6: 54, 8: 54 + 4 + 8} {
		ps[i].Data = ps[i].Data[:n]
		ps[i].Info.CaptureLength = n
	}
	a := NewAnnotator()
	var evs []tracer.Event
	for _, p := range ps {
		d, err := capture.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, a.Event(d))
	}
	for _, tc := range []struct {
		i         int
		names     string
		note, not []string
	}{
		{6, "duplicate-ack", []string{"1st duplicate ACK", "The capture cut its options (its snapshot length): whether it held SACK blocks, which would say which bytes after byte 101 have arrived, is unknown."},
			[]string{"without a SACK block", "Nothing is missing", "SACK blocks say"}},
		{8, "duplicate-ack", []string{"2nd duplicate ACK", "Its SACK blocks say that the server has bytes 301 to 400 of the client's stream already. " +
			"The capture cut its options short (its snapshot length): more SACK blocks than these may have been there."}, []string{"but not", "sent again"}},
		// Whole: nothing said of a cut.
		{10, "duplicate-ack", []string{"3rd duplicate ACK", "bytes 201 to 500"}, []string{"capture cut"}},
	} {
		e := evs[tc.i]
		if got := strings.Join(e.Packet.Analysis, " "); got != tc.names {
			t.Errorf("segment %d: %q, want %q", tc.i, got, tc.names)
		}
		checkNote(t, fmt.Sprintf("segment %d", tc.i), e.Note, tc.note, tc.not)
	}
}
