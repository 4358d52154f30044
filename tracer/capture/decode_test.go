package capture

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func synOptions() []layers.TCPOption {
	ts := make([]byte, 8)
	binary.BigEndian.PutUint32(ts[0:], 123456)
	binary.BigEndian.PutUint32(ts[4:], 0)
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0xff, 0xd7}}, // 65495
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
}

// TestDecodeSYN decodes a SYN like Linux sends on lo: flags, raw seq,
// window and every option.
func TestDecodeSYN(t *testing.T) {
	now := time.Now()
	f := ethFrame(t, frameSpec{sport: 52844, dport: 41873, tcpFlags: SYN, seq: 0xdeadbeef, window: 65495, tcpOpts: synOptions()})
	d, err := Decode(Packet{Time: now, Data: f, Info: gopacket.CaptureInfo{Length: len(f), CaptureLength: len(f)}, LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if d.IPVersion != 4 || d.Proto != ProtoTCP || d.TCP == nil {
		t.Fatalf("got %+v", d)
	}
	if want := netip.MustParseAddrPort("127.0.0.1:52844"); d.Src != want {
		t.Errorf("src %v, want %v", d.Src, want)
	}
	if want := netip.MustParseAddrPort("127.0.0.2:41873"); d.Dst != want {
		t.Errorf("dst %v, want %v", d.Dst, want)
	}
	s := d.TCP
	if s.Flags != SYN || s.Flags.String() != "SYN" || s.Seq != 0xdeadbeef || s.Window != 65495 || s.PayloadLen != 0 {
		t.Errorf("segment %+v (flags %v)", s, s.Flags)
	}
	want := TCPOptions{MSS: 65495, HasWindowScale: true, WindowScale: 7, SACKPermitted: true, HasTimestamps: true, TSval: 123456}
	if !reflect.DeepEqual(s.Options, want) {
		t.Errorf("options %+v, want %+v", s.Options, want)
	}
	if !d.Time.Equal(now) {
		t.Errorf("time %v, want %v", d.Time, now)
	}
}

// TestDecodeFlagsAndPayload covers every flag and payload lengths,
// including a truncated capture where PayloadLen comes from the IP header.
func TestDecodeFlagsAndPayload(t *testing.T) {
	all := FIN | SYN | RST | PSH | ACK | URG | ECE | CWR
	f := ethFrame(t, frameSpec{sport: 1, dport: 2, tcpFlags: all, payload: []byte("I am Chuck Norris!"), ack: 7})
	d, err := Decode(Packet{Data: f, Info: gopacket.CaptureInfo{Length: len(f)}, LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if d.TCP.Flags != all || d.TCP.Flags.String() != "SYN FIN RST PSH ACK URG ECE CWR" {
		t.Errorf("flags %v", d.TCP.Flags)
	}
	if d.TCP.PayloadLen != 18 || string(d.TCP.Payload) != "I am Chuck Norris!" || d.TCP.Ack != 7 {
		t.Errorf("segment %+v", d.TCP)
	}
	if (SYN|ACK).String() != "SYN ACK" || TCPFlags(0).String() != "none" || !(SYN | ACK).Has(ACK) || SYN.Has(SYN|ACK) {
		t.Errorf("flag helpers wrong")
	}
	// Truncated: 10 payload bytes captured of 18.
	cut := f[:len(f)-8]
	d, err = Decode(Packet{Data: cut, Info: gopacket.CaptureInfo{Length: len(f), CaptureLength: len(cut)}, LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if d.TCP.PayloadLen != 18 || len(d.TCP.Payload) != 10 || d.Length != len(f) || d.CaptureLength != len(cut) {
		t.Errorf("truncated: payload len %d captured %d, lengths %d/%d", d.TCP.PayloadLen, len(d.TCP.Payload), d.Length, d.CaptureLength)
	}
}

func dnsPayload(t testing.TB, response bool) []byte {
	dns := &layers.DNS{
		ID: 0x1234, QR: response, OpCode: layers.DNSOpCodeQuery, RD: true,
		Questions: []layers.DNSQuestion{{Name: []byte("chuck.norris.test"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
	}
	if response {
		dns.ResponseCode = layers.DNSResponseCodeNoErr
		dns.Answers = []layers.DNSResourceRecord{
			{Name: []byte("chuck.norris.test"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.IPv4(127, 0, 0, 1).To4()},
			{Name: []byte("chuck.norris.test"), Type: layers.DNSTypeAAAA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP("::1")},
			{Name: []byte("alias.test"), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: 5, CNAME: []byte("chuck.norris.test")},
		}
	}
	return serialize(t, dns)
}

// TestDecodeDNS decodes a DNS query and its answer over IPv6 UDP (on a
// port other than 53, like the lab's).
func TestDecodeDNS(t *testing.T) {
	q := ethFrame(t, frameSpec{v6: true, udp: true, sport: 50132, dport: 53531, payload: dnsPayload(t, false)})
	d, err := Decode(Packet{Data: q, LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if d.IPVersion != 6 || d.Proto != ProtoUDP || d.UDP == nil || d.DNS == nil {
		t.Fatalf("got %+v", d)
	}
	if d.Src != netip.MustParseAddrPort("[::1]:50132") || d.UDP.PayloadLen != len(dnsPayload(t, false)) {
		t.Errorf("src %v, udp %+v", d.Src, d.UDP)
	}
	m := d.DNS
	if m.ID != 0x1234 || m.Response || m.OpCode != "QUERY" || len(m.Questions) != 1 ||
		m.Questions[0] != (DNSQuestion{Name: "chuck.norris.test", Type: "A"}) || len(m.Answers) != 0 {
		t.Errorf("query %+v", m)
	}
	r := ethFrame(t, frameSpec{udp: true, sport: 53531, dport: 50132, payload: dnsPayload(t, true)})
	d, err = Decode(Packet{Data: r, LinkType: layers.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	m = d.DNS
	if m == nil || !m.Response || m.RCode != "NOERROR" {
		t.Fatalf("response %+v", m)
	}
	want := []DNSRecord{
		{Name: "chuck.norris.test", Type: "A", TTL: 60, Value: "127.0.0.1"},
		{Name: "chuck.norris.test", Type: "AAAA", TTL: 60, Value: "::1"},
		{Name: "alias.test", Type: "CNAME", TTL: 5, Value: "chuck.norris.test"},
	}
	if len(m.Answers) != len(want) {
		t.Fatalf("answers %+v", m.Answers)
	}
	for i := range want {
		if m.Answers[i] != want[i] {
			t.Errorf("answer %d: %+v, want %+v", i, m.Answers[i], want[i])
		}
	}
	// A UDP payload that is not DNS is not an error.
	f := ethFrame(t, frameSpec{udp: true, sport: 1, dport: 2, payload: []byte("I am Chuck Norris!")})
	d, err = Decode(Packet{Data: f, LinkType: layers.LinkTypeEthernet})
	if err != nil || d.DNS != nil || d.UDP.PayloadLen != 18 {
		t.Errorf("non-DNS UDP: %+v, %v", d, err)
	}
}

// TestDecodeLinkTypes decodes the same TCP/IPv4 and UDP/IPv6 packets under
// every supported link type (as tcpdump -i any, BSD loopback and raw IP
// files have them).
func TestDecodeLinkTypes(t *testing.T) {
	for _, s := range []frameSpec{
		{sport: 6969, dport: 40000, tcpFlags: SYN | ACK, seq: 5},
		{v6: true, udp: true, sport: 53531, dport: 40000, payload: []byte("x")},
	} {
		ls, et := buildLayers(t, s)
		l3 := serialize(t, ls...)
		// packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
		sll := make([]byte, 16, 16+len(l3))
		binary.BigEndian.PutUint16(sll[2:], 772)
		binary.BigEndian.PutUint16(sll[4:], 6)
		binary.BigEndian.PutUint16(sll[14:], uint16(et))
		sll = append(sll, l3...)
		sll2 := make([]byte, 20, 20+len(l3))
		binary.BigEndian.PutUint16(sll2[0:], uint16(et))
		binary.BigEndian.PutUint32(sll2[4:], 1)   // ifindex
		binary.BigEndian.PutUint16(sll2[8:], 772) // ARPHRD_LOOPBACK
		sll2 = append(sll2, l3...)
		family := uint32(layers.ProtocolFamilyIPv4)
		if s.v6 {
			family = uint32(layers.ProtocolFamilyIPv6Linux)
		}
		null := binary.LittleEndian.AppendUint32(nil, family)
		null = append(null, l3...)
		loop := binary.BigEndian.AppendUint32(nil, family)
		loop = append(loop, l3...)
		for _, tc := range []struct {
			lt   layers.LinkType
			data []byte
		}{
			{layers.LinkTypeEthernet, ethFrame(t, s)},
			{layers.LinkTypeLinuxSLL, sll},
			{LinkTypeLinuxSLL2, sll2},
			{layers.LinkTypeNull, null},
			{layers.LinkTypeLoop, loop},
			{layers.LinkTypeRaw, l3},
			{layers.LinkTypeIPv4, l3},
		} {
			d, err := Decode(Packet{Data: tc.data, LinkType: tc.lt})
			if err != nil {
				t.Errorf("%v: %v", tc.lt, err)
				continue
			}
			if d.Src.Port() != s.sport || d.Dst.Port() != s.dport {
				t.Errorf("%v: %v → %v", tc.lt, d.Src, d.Dst)
			}
			if s.udp && (d.UDP == nil || d.UDP.PayloadLen != 1) {
				t.Errorf("%v: udp %+v", tc.lt, d.UDP)
			}
			if !s.udp && (d.TCP == nil || d.TCP.Flags != SYN|ACK || d.TCP.Seq != 5) {
				t.Errorf("%v: tcp %+v", tc.lt, d.TCP)
			}
		}
	}
	if _, err := Decode(Packet{Data: []byte{1, 2, 3}, LinkType: layers.LinkTypeFDDI}); err == nil {
		t.Errorf("unsupported link type: no error")
	}
}

var decodeLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, LinkTypeLinuxSLL2, layers.LinkTypeNull,
	layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, LinkTypeNFLOG,
}

// TestDecodeGarbage feeds Decode every truncation of valid frames and
// random bytes, under every link type: it must never panic.
func TestDecodeGarbage(t *testing.T) {
	frames := [][]byte{
		ethFrame(t, frameSpec{sport: 1, dport: 2, tcpFlags: SYN, tcpOpts: synOptions()}),
		ethFrame(t, frameSpec{v6: true, udp: true, sport: 53, dport: 2, payload: dnsPayload(t, true)}),
		ethFrame(t, frameSpec{udp: true, sport: 53, dport: 2, payload: dnsPayload(t, true)}),
	}
	for _, f := range frames {
		for n := 0; n <= len(f); n++ {
			for _, lt := range decodeLinkTypes {
				_, _ = Decode(Packet{Data: f[:n], LinkType: lt})
				_, _ = Decode(Packet{Data: f[min(n, 14):], LinkType: lt})
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		// Make it likelier to get past the first headers.
		if len(b) > 24 && i%2 == 0 {
			copy(b, frames[i%len(frames)][:24])
		}
		_, _ = Decode(Packet{Data: b, LinkType: decodeLinkTypes[i%len(decodeLinkTypes)]})
	}
}

// FuzzDecode: go test -fuzz FuzzDecode ./tracer/capture. Decode and a
// Decoder on any bytes under any link type: no panic; what is set is
// consistent (Skip exactly when there is no TCP or UDP, and with an
// error, its reason).
func FuzzDecode(f *testing.F) {
	f.Add(ethFrame(f, frameSpec{sport: 1, dport: 2, tcpFlags: SYN, tcpOpts: synOptions()}), uint8(1))
	f.Add(ethFrame(f, frameSpec{v6: true, udp: true, sport: 53, dport: 2, payload: dnsPayload(f, true)}), uint8(1))
	f.Add(nflogFrame(ipv4Packet(f, frameSpec{sport: 1, dport: 2, tcpFlags: SYN}), 2, binary.LittleEndian), uint8(LinkTypeNFLOG))
	// Every frame of the real captures (fragments, hop-by-hop headers,
	// DNS, cut options, SLL and SLL2).
	for _, name := range []string{"lo.pcap", "snaplen60.pcap", "any-sll.pcap", "any-sll2.pcap"} {
		pkts, err := ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range pkts {
			f.Add(p.Data, uint8(p.LinkType))
		}
	}
	dc := NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte, lt uint8) {
		check := func(d Decoded, err error) {
			if (d.TCP == nil && d.UDP == nil) != (d.Skip != "") {
				t.Fatalf("skip %q with tcp %v udp %v", d.Skip, d.TCP != nil, d.UDP != nil)
			}
			if err != nil && d.Skip != SkipReason(err) {
				t.Fatalf("skip %q, error %v", d.Skip, err)
			}
			if d.TCP != nil && (d.TCP.PayloadLen < len(d.TCP.Payload) || d.TCP.HeaderLen < 20) {
				t.Fatalf("tcp %+v", d.TCP)
			}
			if d.UDP != nil && d.UDP.PayloadLen < len(d.UDP.Payload) {
				t.Fatalf("udp %+v", d.UDP)
			}
		}
		for _, l := range []layers.LinkType{layers.LinkType(lt), decodeLinkTypes[int(lt)%len(decodeLinkTypes)]} {
			check(Decode(Packet{Data: data, LinkType: l}))
			check(dc.Decode(Packet{Data: data, LinkType: l}))
			if len(data) > 14 {
				check(Decode(Packet{Data: data[14:], LinkType: l}))
				// As if cut by a snapshot length.
				check(Decode(Packet{Data: data[:len(data)-14], Info: gopacket.CaptureInfo{Length: len(data)}, LinkType: l}))
			}
		}
	})
}
