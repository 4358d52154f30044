package capture

import (
	"bytes"
	"encoding/binary"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/miekg/dns"
)

// ipv4Packet builds a raw IPv4 packet (no link layer).
func ipv4Packet(t testing.TB, s frameSpec) []byte {
	ls, _ := buildLayers(t, s)
	return serialize(t, ls...)
}

// nflogFrame wraps an IP packet in an NFLOG message as tcpdump -i nflog
// writes it: header, a packet header attribute, a prefix, the payload.
func nflogFrame(ip []byte, family byte, order binary.AppendByteOrder) []byte {
	b := []byte{family, 0, 0, 5} // resource id 5, big-endian
	tlv := func(typ uint16, v []byte) {
		b = order.AppendUint16(b, uint16(4+len(v)))
		b = order.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(1, []byte{0x08, 0x00, 3, 0})  // NFULA_PACKET_HDR: hw_protocol, hook
	tlv(10, []byte("nflog test\x00")) // NFULA_PREFIX
	tlv(9, ip)                        // NFULA_PAYLOAD
	return b
}

// TestDecodeNFLOG decodes TCP in NFLOG messages in either byte order.
func TestDecodeNFLOG(t *testing.T) {
	ip := ipv4Packet(t, frameSpec{sport: 40000, dport: 443, tcpFlags: SYN, seq: 77, tcpOpts: synOptions()})
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		f := nflogFrame(ip, 2, order)
		d, err := Decode(Packet{Data: f, LinkType: LinkTypeNFLOG})
		if err != nil || d.TCP == nil || d.TCP.Seq != 77 || d.Dst.Port() != 443 || d.TCP.Options.MSS != 65495 || d.Skip != "" {
			t.Errorf("%v: %+v, %v", order, d, err)
		}
	}
	d, err := Decode(Packet{Data: nflogFrame(ip, 7, binary.LittleEndian), LinkType: LinkTypeNFLOG})
	if err != nil || d.Skip != "not IP (NFLOG address family 7)" {
		t.Errorf("family 7: skip %q, %v", d.Skip, err)
	}
	if !LinkTypeSupported(LinkTypeNFLOG) || LinkTypeName(LinkTypeNFLOG) != "NFLOG (239)" {
		t.Errorf("NFLOG: supported %v, name %q", LinkTypeSupported(LinkTypeNFLOG), LinkTypeName(LinkTypeNFLOG))
	}
}

// TestDecodeSkips: what Decode cannot show, it says why, in stable
// phrases.
func TestDecodeSkips(t *testing.T) {
	arp := serialize(t,
		&layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: make([]byte, 6), SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
	icmp := serialize(t,
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload("ping"))
	syn := ethFrame(t, frameSpec{sport: 1, dport: 2, tcpFlags: SYN, tcpOpts: synOptions()})
	syn6 := ethFrame(t, frameSpec{v6: true, sport: 1, dport: 2, tcpFlags: SYN, tcpOpts: synOptions()})
	for _, tc := range []struct {
		name     string
		p        Packet
		skip     string
		err      bool
		cut, tcp bool
	}{
		{"ARP", Packet{Data: arp, LinkType: layers.LinkTypeEthernet}, "not IP (ARP)", false, false, false},
		{"ICMP", Packet{Data: icmp, LinkType: layers.LinkTypeRaw}, "not TCP or UDP (ICMP)", false, false, false},
		{"FDDI", Packet{Data: []byte{1, 2, 3}, LinkType: layers.LinkTypeFDDI}, "link type FDDI (10) not supported", true, false, false},
		{"empty raw", Packet{LinkType: layers.LinkTypeRaw}, "empty packet", true, false, false},
		{"SYN cut to 60 bytes", Packet{Data: syn[:60], Info: gopacket.CaptureInfo{Length: len(syn)}, LinkType: layers.LinkTypeEthernet}, "", false, true, true},
		{"IPv4 cut in the TCP header", Packet{Data: syn[:40], Info: gopacket.CaptureInfo{Length: len(syn)}, LinkType: layers.LinkTypeEthernet},
			"cut by the snapshot length within the TCP header", true, false, false},
		{"IPv6 cut in the IPv6 header", Packet{Data: syn6[:50], Info: gopacket.CaptureInfo{Length: len(syn6)}, LinkType: layers.LinkTypeEthernet},
			"cut by the snapshot length within the IPv6 header", true, false, false},
		{"TCP header short, not cut", Packet{Data: syn[:40], LinkType: layers.LinkTypeEthernet}, "malformed TCP header", true, false, false},
		{"IPv4 header length 4", Packet{Data: append([]byte{0x41}, make([]byte, 30)...), LinkType: layers.LinkTypeRaw}, "malformed IPv4 header", true, false, false},
	} {
		d, err := Decode(tc.p)
		if d.Skip != tc.skip || (err != nil) != tc.err || SkipReason(err) != map[bool]string{true: tc.skip}[tc.err] ||
			(d.Cut != "") != tc.cut || (d.TCP != nil) != tc.tcp {
			t.Errorf("%s: skip %q cut %q tcp %v, %v", tc.name, d.Skip, d.Cut, d.TCP != nil, err)
		}
	}
	// The SYN cut to 60 bytes: the header whole, the options as far as
	// they go (MSS and SACK permitted fit in the 6 bytes), the rest
	// unknown.
	d, _ := Decode(Packet{Data: syn[:60], Info: gopacket.CaptureInfo{Length: len(syn)}, LinkType: layers.LinkTypeEthernet})
	o := d.TCP.Options
	if !d.TCP.OptionsCut || d.TCP.HeaderLen != 40 || d.TCP.OptionBytes != 6 || o.MSS != 65495 || !o.SACKPermitted || o.HasTimestamps || o.HasWindowScale || d.TCP.PayloadLen != 0 {
		t.Errorf("cut SYN: %+v", d.TCP)
	}
}

// TestDecodeSACKCut: a SACK option cut by the snapshot length keeps the
// blocks that were captured whole.
func TestDecodeSACKCut(t *testing.T) {
	sack := make([]byte, 24)
	for i := range 6 {
		binary.BigEndian.PutUint32(sack[4*i:], uint32(1000*(i+1)))
	}
	f := ethFrame(t, frameSpec{sport: 1, dport: 2, tcpFlags: ACK, tcpOpts: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1}, {OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindSACK, OptionLength: 26, OptionData: sack}}})
	// Ethernet 14 + IPv4 20 + TCP 20 + NOP NOP + kind, length + 8 + 8 + 4.
	d, err := Decode(Packet{Data: f[:14+20+20+4+16+4], Info: gopacket.CaptureInfo{Length: len(f)}, LinkType: layers.LinkTypeEthernet})
	if err != nil || !d.TCP.OptionsCut || len(d.TCP.Options.SACK) != 2 || d.TCP.Options.SACK[1] != (SACKBlock{3000, 4000}) {
		t.Errorf("%+v, %v", d.TCP, err)
	}
}

// TestDecodeIPv6HopByHop: a segment after a hop-by-hop header (as Linux
// sends with IPV6_HOPOPTS) and a destination options header decodes,
// with its payload length right.
func TestDecodeIPv6HopByHop(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 7000, DstPort: 50000, Seq: 9, ACK: true, PSH: true, Window: 100}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: net.ParseIP("::1"), DstIP: net.ParseIP("::2")}
	tcp.SetNetworkLayerForChecksum(ip)
	l4 := serialize(t, tcp, gopacket.Payload("hello"))
	ext := []byte{60, 0, 1, 4, 0, 0, 0, 0, byte(layers.IPProtocolTCP), 0, 1, 4, 0, 0, 0, 0} // hop-by-hop, then destination options
	ip.Payload = nil
	hdr := serialize(t, ip)[:40]
	binary.BigEndian.PutUint16(hdr[4:], uint16(len(ext)+len(l4)))
	pkt := append(append(hdr, ext...), l4...)
	d, err := Decode(Packet{Data: pkt, LinkType: layers.LinkTypeRaw})
	if err != nil || d.TCP == nil || d.TCP.Seq != 9 || d.TCP.PayloadLen != 5 || string(d.TCP.Payload) != "hello" || d.Src.Port() != 7000 {
		t.Fatalf("%+v, %v", d, err)
	}
}

// fragments splits an IP packet's payload into IPv4 fragments of at
// most size bytes of payload.
func ipv4Fragments(t testing.TB, whole []byte, size int, id uint16) [][]byte {
	ihl := int(whole[0]&0x0f) * 4
	payload := whole[ihl:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append(bytes.Clone(whole[:ihl]), payload[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		binary.BigEndian.PutUint16(f[4:], id)
		fo := uint16(off / 8)
		if end < len(payload) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		out = append(out, f)
	}
	return out
}

// TestDecoderIPv4Fragments: a DNS answer in three fragments, out of
// order, is decoded whole at the one that completes it; Decode alone
// decodes the first fragment's UDP header and skips the others.
func TestDecoderIPv4Fragments(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("big.example.test.", dns.TypeTXT)
	m.Response = true
	for i := range 10 {
		rr, _ := dns.NewRR("big.example.test. 60 IN TXT \"" + string(bytes.Repeat([]byte{byte('a' + i)}, 200)) + "\"")
		m.Answer = append(m.Answer, rr)
	}
	msg, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	whole := ipv4Packet(t, frameSpec{udp: true, sport: 53, dport: 40000, payload: msg})
	frags := ipv4Fragments(t, whole, 1000, 4242)
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	dc := NewDecoder()
	t0 := time.Unix(1000, 0)
	for i, k := range []int{1, 0, 2} {
		d, err := dc.Decode(Packet{Time: t0.Add(time.Duration(i) * time.Millisecond), Data: frags[k], LinkType: layers.LinkTypeRaw})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if d.Skip != SkipIPv4Held || d.UDP != nil || dc.Held() != i+1 {
				t.Errorf("fragment %d: skip %q, held %d", k, d.Skip, dc.Held())
			}
			continue
		}
		if d.UDP == nil || d.DNS == nil || len(d.DNS.Answers) != 10 || d.Fragments != 3 || d.UDP.PayloadLen != len(msg) || dc.Held() != 0 {
			t.Errorf("last fragment: %+v, held %d", d, dc.Held())
		}
	}
	// Stateless.
	d, err := Decode(Packet{Data: frags[0], LinkType: layers.LinkTypeRaw})
	if err != nil || !d.Fragment || d.UDP == nil || d.UDP.PayloadLen != len(msg) || d.DNS != nil || d.Src.Port() != 53 {
		t.Errorf("first fragment: %+v, %v", d, err)
	}
	d, err = Decode(Packet{Data: frags[1], LinkType: layers.LinkTypeRaw})
	if err != nil || d.Skip != SkipIPv4Fragment || d.UDP != nil || d.IPVersion != 4 {
		t.Errorf("second fragment: %+v, %v", d, err)
	}
	// A fragment cut by the capture is not reassembled.
	d, _ = NewDecoder().Decode(Packet{Data: frags[0][:100], Info: gopacket.CaptureInfo{Length: len(frags[0])}, LinkType: layers.LinkTypeRaw})
	if d.Skip != SkipIPv4Fragment {
		t.Errorf("cut fragment: skip %q", d.Skip)
	}
}

// ipv6Fragments splits an IPv6 packet (no extension headers) into
// fragments with a fragment header.
func ipv6Fragments(whole []byte, size int, id uint32) [][]byte {
	payload, next := whole[40:], whole[6]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := bytes.Clone(whole[:40])
		f[6] = 44
		fo := uint16(off)
		if end < len(payload) {
			fo |= 1
		}
		fh := []byte{next, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		f = append(append(f, fh...), payload[off:end]...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

// TestDecoderIPv6Fragments: reassembled in any order; overlapping
// fragments drop the datagram.
func TestDecoderIPv6Fragments(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 200)
	whole := serialize(t, buildLayersOnly(t, frameSpec{v6: true, udp: true, sport: 5000, dport: 6000, payload: payload})...)
	frags := ipv6Fragments(whole, 1232, 7)
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	dc := NewDecoder()
	for i, k := range []int{2, 0, 1} {
		d, err := dc.Decode(Packet{Data: frags[k], LinkType: layers.LinkTypeRaw})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 && d.Skip != SkipIPv6Held {
			t.Errorf("fragment %d: skip %q", k, d.Skip)
		}
		if i == 2 && (d.UDP == nil || !bytes.Equal(d.UDP.Payload, payload) || d.Fragments != 3 || d.Dst.Port() != 6000) {
			t.Errorf("last: %+v", d)
		}
	}
	// Overlap: the second fragment again, one byte on.
	dc = NewDecoder()
	bad := bytes.Clone(frags[1])
	binary.BigEndian.PutUint16(bad[42:], binary.BigEndian.Uint16(bad[42:])+8)
	for i, f := range [][]byte{frags[0], frags[1], bad} {
		d, _ := dc.Decode(Packet{Data: f, LinkType: layers.LinkTypeRaw})
		want := SkipIPv6Held
		if i == 2 {
			want = SkipIPv6Fragment
		}
		if d.Skip != want {
			t.Errorf("overlap, fragment %d: skip %q, want %q", i, d.Skip, want)
		}
	}
	if dc.Held() != 0 {
		t.Errorf("overlap: %d held", dc.Held())
	}
	d, _ := Decode(Packet{Data: frags[1], LinkType: layers.LinkTypeRaw})
	if d.Skip != SkipIPv6Fragment {
		t.Errorf("stateless: skip %q", d.Skip)
	}
}

func buildLayersOnly(t testing.TB, s frameSpec) []gopacket.SerializableLayer {
	ls, _ := buildLayers(t, s)
	return ls
}

// TestDecoderBounded: first fragments of datagrams that never complete
// are held up to the limits, then dropped; old ones go after 30 s of
// packet time.
func TestDecoderBounded(t *testing.T) {
	whole := ipv4Packet(t, frameSpec{udp: true, sport: 1, dport: 2, payload: make([]byte, 2000)})
	dc := NewDecoder()
	t0 := time.Unix(1000, 0)
	for i := range 3 * maxHeldDatagrams {
		f := ipv4Fragments(t, whole, 1000, uint16(i))[0]
		dc.Decode(Packet{Time: t0, Data: f, LinkType: layers.LinkTypeRaw})
		if dc.Held() > maxHeldDatagrams {
			t.Fatalf("after %d: %d held", i+1, dc.Held())
		}
	}
	f := ipv4Fragments(t, whole, 1000, 1)[0]
	dc.Decode(Packet{Time: t0.Add(time.Minute), Data: f, LinkType: layers.LinkTypeRaw})
	if dc.Held() != 1 {
		t.Errorf("a minute later: %d held", dc.Held())
	}
}

// TestDecodeDNSPorts: UDP on port 53 is DNS only if it parses; on
// another port only a standard query or answer is.
func TestDecodeDNSPorts(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeA)
	qb, _ := q.Pack()
	notify := new(dns.Msg)
	notify.SetNotify("a.test.")
	nb, _ := notify.Pack()
	for _, tc := range []struct {
		name         string
		sport, dport uint16
		payload      []byte
		dns          bool
	}{
		{"query to 53", 40000, 53, qb, true},
		{"query to a lab port", 40000, 33582, qb, true},
		{"NOTIFY to 53", 40000, 53, nb, true},
		{"NOTIFY elsewhere", 40000, 33582, nb, false},
		{"text to 53", 40000, 53, []byte("hello, not DNS"), false},
		{"zeros elsewhere", 1, 2, make([]byte, 40), false},
		{"mDNS", 5353, 5353, qb, true},
	} {
		d, err := Decode(Packet{Data: ipv4Packet(t, frameSpec{udp: true, sport: tc.sport, dport: tc.dport, payload: tc.payload}), LinkType: layers.LinkTypeRaw})
		if err != nil || (d.DNS != nil) != tc.dns {
			t.Errorf("%s: DNS %+v, %v", tc.name, d.DNS, err)
		}
	}
	// Over TCP: two whole messages in one segment, the first shown; a
	// cut one, none.
	two := append(binary.BigEndian.AppendUint16(nil, uint16(len(qb))), qb...)
	two = append(two, two...)
	d, _ := Decode(Packet{Data: ipv4Packet(t, frameSpec{sport: 40000, dport: 53, tcpFlags: PSH | ACK, payload: two}), LinkType: layers.LinkTypeRaw})
	if d.DNS == nil || d.DNS.Questions[0].Name != "a.test" {
		t.Errorf("DNS over TCP: %+v", d.DNS)
	}
	d, _ = Decode(Packet{Data: ipv4Packet(t, frameSpec{sport: 40000, dport: 53, tcpFlags: PSH | ACK, payload: two[:len(two)-1]}), LinkType: layers.LinkTypeRaw})
	if d.DNS != nil {
		t.Errorf("DNS over TCP, half a message: %+v", d.DNS)
	}
}

// TestDecodeStatelessFiles: Decode alone on lo.pcap: the first
// fragments decode as UDP (Fragment), the others are skipped as
// fragments not reassembled.
func TestDecodeStatelessFiles(t *testing.T) {
	pkts, err := ReadFile(filepath.Join("testdata", "lo.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		frame    int
		fragment bool
		skip     string
	}{{24, true, ""}, {25, false, SkipIPv4Fragment}, {26, false, SkipIPv4Fragment}, {28, true, ""}, {29, false, SkipIPv6Fragment}, {30, false, SkipIPv6Fragment}} {
		d, err := Decode(pkts[tc.frame-1])
		if err != nil || d.Fragment != tc.fragment || d.Skip != tc.skip || (d.UDP != nil) != tc.fragment || d.DNS != nil {
			t.Errorf("frame %d: fragment %v skip %q udp %v, %v", tc.frame, d.Fragment, d.Skip, d.UDP != nil, err)
		}
	}
}
