package wire

import (
	"path/filepath"
	"strings"
	"testing"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// TestDNSNotes explains the DNS and UDP datagrams of a real capture
// (tracer/capture/testdata/lo.pcap, made by its makecaps; frame numbers
// as tshark shows them), decoded with a capture.Decoder so that
// fragments are put back together as tshark does.
func TestDNSNotes(t *testing.T) {
	pkts, err := capture.ReadFile("../capture/testdata/lo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnnotator()
	dc := capture.NewDecoder()
	type got struct {
		dns, note string
	}
	frames := map[int]got{}
	for i, p := range pkts {
		d, err := dc.Decode(p)
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if d.UDP == nil && d.TCP == nil {
			continue
		}
		e := a.Event(d)
		g := got{dns: e.Packet.DNS, note: e.Note}
		if d.TCP != nil && d.DNS != nil {
			var p tracer.Packet
			var e tracer.Event
			g = got{note: a.dnsOverTCP(d, &p, &e), dns: p.DNS}
		}
		frames[i+1] = g
	}
	for _, tc := range []struct {
		frame int
		dns   string
		note  []string
	}{
		{21, "query A www.example.test", []string{"in one UDP datagram: what are the A records of www.example.test?"}},
		{22, "answer A www.example.test: CNAME www.example.test → web.example.test, then A web.example.test 192.0.2.7",
			[]string{"www.example.test is an alias (CNAME www.example.test → web.example.test, TTL 300 s), then web.example.test has A 192.0.2.7 (TTL 60 s)."}},
		{26, "answer TXT big.example.test " + txt("a") + " " + txt("b") + " " + txt("c") + " " + txt("d") + " and 8 more",
			[]string{"big.example.test has TXT", "and 8 more (TTL 60 s)", "it came in 3 IP fragments, put back together here."}},
		{30, "", []string{"it came in 3 IP fragments"}},
		{32, "answer NXDOMAIN nothing.example.test", []string{"nothing.example.test does not exist."}},
		{34, "answer A tc.example.test TC", []string{"TC (truncated) set: the answer did not fit in a UDP datagram, so this one carries no records; the resolver should ask again over TCP."}},
		{38, "query A tc.example.test", []string{" The client's resolver asks the DNS server, over TCP: what are the A records of tc.example.test?"}},
		{40, "answer A tc.example.test 192.0.2.8 192.0.2.9", []string{" The DNS server answers, over TCP: tc.example.test has A 192.0.2.8, 192.0.2.9 (TTL 60 s)."}},
		{43, "", []string{"to port 53 with 14 bytes of payload that do not read as a DNS message, though the port is DNS's."}},
		{44, "", []string{"to port 9999 with 16 bytes of payload (not DNS)."}},
		{46, "answer NOTIMP ", []string{"answers with an error: NOTIMP (the server does not do this kind of query)."}},
	} {
		g, ok := frames[tc.frame]
		if !ok {
			t.Errorf("frame %d: no UDP or TCP", tc.frame)
			continue
		}
		if tc.dns != "" && g.dns != tc.dns {
			t.Errorf("frame %d: dns %q, want %q", tc.frame, g.dns, tc.dns)
		}
		for _, n := range tc.note {
			if !strings.Contains(g.note, n) {
				t.Errorf("frame %d: note lacks %q:\n%s", tc.frame, n, g.note)
			}
		}
	}
}

// txt is a TXT value of 240 letters as a note shows it: quoted, cut to
// 40 characters.
func txt(letter string) string { return `"` + strings.Repeat(letter, 38) + "…" }

// TestDNSOverTCP checks the notes of the DNS query and answer that
// capture/testdata/lo.pcap carries over TCP (its frames 38 and 40, as
// tshark numbers them), after the answer over UDP came truncated.
func TestDNSOverTCP(t *testing.T) {
	pkts, err := capture.ReadFile(filepath.Join("..", "capture", "testdata", "lo.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnnotator()
	var evs []tracer.Event
	for _, p := range pkts {
		d, _ := capture.Decode(p)
		evs = append(evs, a.Event(d))
	}
	for _, tc := range []struct {
		frame            int
		dns, from        string
		tcpNote, dnsNote string
	}{
		{38, "query A tc.example.test", "client", "The client's kernel sends 46 bytes of data (bytes 1 to 46 of its stream)",
			"The client's resolver asks the DNS server, over TCP: what are the A records of tc.example.test?"},
		{40, "answer A tc.example.test 192.0.2.8 192.0.2.9", "server", "The server's kernel sends 97 bytes of data (bytes 1 to 97 of its stream)",
			"The DNS server answers, over TCP: tc.example.test has A 192.0.2.8, 192.0.2.9 (TTL 60 s)."},
	} {
		e := evs[tc.frame-1]
		p := e.Packet
		if p.Proto != "tcp" || p.DNS != tc.dns || p.From != tc.from || e.Name != "tc.example.test" {
			t.Errorf("frame %d: proto %s, DNS %q, from %s, name %q; want tcp, %q, %s", tc.frame, p.Proto, p.DNS, p.From, e.Name, tc.dns, tc.from)
		}
		// The segment's own note first, then the DNS message's.
		if i, j := strings.Index(e.Note, tc.tcpNote), strings.Index(e.Note, tc.dnsNote); i < 0 || j < i {
			t.Errorf("frame %d: note %q\nwant %q, then %q", tc.frame, e.Note, tc.tcpNote, tc.dnsNote)
		}
	}
	// The segments around them carry no DNS message.
	for _, frame := range []int{35, 36, 37, 39, 41} {
		if p := evs[frame-1].Packet; p.DNS != "" || strings.Contains(evs[frame-1].Note, "DNS") {
			t.Errorf("frame %d: DNS %q, note %q", frame, p.DNS, evs[frame-1].Note)
		}
	}
}
