package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// LinkTypeLinuxSLL2 stands for the pcap link type 276, Linux "cooked"
// captures v2 (tcpdump -i any since libpcap 1.10). gopacket v1.1.19 has no
// decoder for it, and its layers.LinkType is 8 bits wide, so its pcap
// readers turn 276 into 20 (276 mod 256); this constant is that value.
// ReadFile checks the file's real link type and reports SLL2 as this
// value; Decode handles it itself.
const LinkTypeLinuxSLL2 layers.LinkType = 276 % 256

// Proto is a transport protocol.
type Proto uint8

// Transport protocols Decode recognises.
const (
	ProtoOther Proto = iota // not TCP or UDP, or no transport header (a non-first fragment)
	ProtoTCP
	ProtoUDP
)

// String returns "tcp", "udp" or "other".
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return "other"
}

// TCPFlags are the flag bits of a TCP header, in the header's bit order.
type TCPFlags uint8

// TCP flags.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

var flagNames = []struct {
	f    TCPFlags
	name string
}{{SYN, "SYN"}, {FIN, "FIN"}, {RST, "RST"}, {PSH, "PSH"}, {ACK, "ACK"}, {URG, "URG"}, {ECE, "ECE"}, {CWR, "CWR"}}

// Has reports whether all of the flags in g are set.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

// String lists the set flags, space separated, SYN and FIN first:
// "SYN ACK", "FIN ACK", "PSH ACK". No flags gives "none".
func (f TCPFlags) String() string {
	var names []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}

// Decoded is what Decode found in a packet. Fields for layers not present
// are zero or nil.
type Decoded struct {
	Time          time.Time // the packet's timestamp
	Length        int       // the frame's length on the wire
	CaptureLength int       // bytes captured

	// IPVersion is 4 or 6, or 0 if the packet is not IP.
	IPVersion int
	// IPID is an IPv4 header's identification field (0 for IPv6). Linux
	// numbers each packet a connected socket sends, so two sightings of
	// one frame (at both ends of a link) share it where a resent copy
	// does not.
	IPID uint16
	// Proto is the transport protocol.
	Proto Proto
	// Src and Dst are the addresses, with ports for TCP and UDP.
	Src, Dst netip.AddrPort

	TCP *TCPSegment  // set for TCP
	UDP *UDPDatagram // set for UDP
	DNS *DNSMessage  // set when a UDP payload decodes as DNS
}

// TCPSegment is a decoded TCP header.
type TCPSegment struct {
	Flags TCPFlags
	// Seq and Ack are the raw sequence and acknowledgement numbers (not
	// relative to the initial sequence number).
	Seq, Ack uint32
	// Window is the raw window field (not scaled).
	Window uint16
	// PayloadLen is the number of payload bytes on the wire, from the IP
	// length fields; Payload holds those of them that were captured.
	PayloadLen int
	Payload    []byte
	Options    TCPOptions
}

// TCPOptions are the TCP options Decode understands. They usually appear in
// SYN and SYN-ACK segments; timestamps appear in every segment when both
// sides agreed to use them.
type TCPOptions struct {
	MSS            uint16 // maximum segment size; 0 if absent
	HasWindowScale bool
	WindowScale    uint8 // shift count, valid if HasWindowScale
	SACKPermitted  bool
	HasTimestamps  bool
	TSval, TSecr   uint32 // valid if HasTimestamps
	// SACK holds the selective acknowledgement blocks of an ACK (RFC
	// 2018): each block is a range of the peer's sequence numbers,
	// [Left, Right), that arrived though something before it did not.
	// At most four fit in a header.
	SACK []SACKBlock
}

// SACKBlock is one block of a SACK option: the raw sequence numbers of
// its first byte and of the byte after its last.
type SACKBlock struct{ Left, Right uint32 }

// UDPDatagram is a decoded UDP header.
type UDPDatagram struct {
	// PayloadLen is the payload length from the UDP length field; Payload
	// holds the bytes of it that were captured.
	PayloadLen int
	Payload    []byte
}

// DNSMessage summarises a DNS message.
type DNSMessage struct {
	ID        uint16
	Response  bool   // false for a query
	OpCode    string // "Query", ...
	RCode     string // "No Error", "Non-Existent Domain", ...
	Questions []DNSQuestion
	Answers   []DNSRecord
}

// DNSQuestion is one question of a DNS message.
type DNSQuestion struct {
	Name string // "chuck.norris.test"
	Type string // "A", "AAAA", or "TYPE65" for types without a name
}

// DNSRecord is one answer record.
type DNSRecord struct {
	Name  string
	Type  string
	TTL   uint32
	Value string // the address for A and AAAA, the target name for CNAME, ...
}

// Decode decodes the link, network and transport layers of p, and DNS in
// UDP payloads. Link types: Ethernet, Linux SLL and SLL2 (tcpdump -i any),
// Null and Loop (BSD loopback) and Raw IP. It never panics; on malformed
// or truncated input it returns what it could decode with an error. A UDP
// payload that does not parse as DNS is not an error (DNS stays nil).
func Decode(p Packet) (Decoded, error) {
	d := Decoded{Time: p.Time, Length: p.Info.Length, CaptureLength: len(p.Data)}
	if d.Time.IsZero() {
		d.Time = p.Info.Timestamp
	}
	if d.Length < len(p.Data) {
		d.Length = len(p.Data)
	}
	ethType, payload, err := linkLayer(p.LinkType, p.Data)
	if err != nil {
		return d, fmt.Errorf("capture: decode: %w", err)
	}
	// Wire bytes after the link header (the frame may be truncated).
	wireL3 := d.Length - (len(p.Data) - len(payload))
	switch ethType {
	case layers.EthernetTypeIPv4:
		err = d.decodeIPv4(payload, wireL3)
	case layers.EthernetTypeIPv6:
		err = d.decodeIPv6(payload)
	default:
		return d, nil // not IP: nothing more to say
	}
	if err != nil {
		return d, fmt.Errorf("capture: decode: %w", err)
	}
	return d, nil
}

// linkLayer returns the EtherType and the bytes after the link header.
func linkLayer(lt layers.LinkType, data []byte) (layers.EthernetType, []byte, error) {
	switch lt {
	case layers.LinkTypeEthernet:
		var eth layers.Ethernet
		if err := eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return 0, nil, fmt.Errorf("ethernet: %w", err)
		}
		t, payload := eth.EthernetType, eth.Payload
		// Up to two VLAN tags.
		for i := 0; i < 2 && (t == layers.EthernetTypeDot1Q || t == layers.EthernetTypeQinQ); i++ {
			var tag layers.Dot1Q
			if err := tag.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
				return 0, nil, fmt.Errorf("vlan: %w", err)
			}
			t, payload = tag.Type, tag.Payload
		}
		return t, payload, nil
	case layers.LinkTypeLinuxSLL:
		// struct sll_header: pkttype(2) hatype(2) halen(2) addr(8)
		// protocol(2). Parsed here because gopacket v1.1.19's LinuxSLL
		// trusts halen and panics when it is larger than 8.
		if len(data) < 16 {
			return 0, nil, fmt.Errorf("linux sll: header needs 16 bytes, have %d", len(data))
		}
		return layers.EthernetType(binary.BigEndian.Uint16(data[14:16])), data[16:], nil
	case LinkTypeLinuxSLL2:
		// struct sll2_header: protocol(2) reserved(2) ifindex(4) hatype(2)
		// pkttype(1) halen(1) addr(8).
		if len(data) < 20 {
			return 0, nil, fmt.Errorf("linux sll2: header needs 20 bytes, have %d", len(data))
		}
		return layers.EthernetType(binary.BigEndian.Uint16(data[0:2])), data[20:], nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		var lo layers.Loopback
		if err := lo.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return 0, nil, fmt.Errorf("loopback: %w", err)
		}
		switch lo.Family {
		case layers.ProtocolFamilyIPv4:
			return layers.EthernetTypeIPv4, lo.Payload, nil
		case layers.ProtocolFamilyIPv6BSD, layers.ProtocolFamilyIPv6FreeBSD, layers.ProtocolFamilyIPv6Darwin, layers.ProtocolFamilyIPv6Linux:
			return layers.EthernetTypeIPv6, lo.Payload, nil
		}
		return 0, lo.Payload, nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14: // 12, 14: DLT_RAW on some systems
		if len(data) == 0 {
			return 0, nil, errors.New("raw ip: empty packet")
		}
		switch data[0] >> 4 {
		case 4:
			return layers.EthernetTypeIPv4, data, nil
		case 6:
			return layers.EthernetTypeIPv6, data, nil
		}
		return 0, nil, fmt.Errorf("raw ip: version %d", data[0]>>4)
	}
	return 0, nil, fmt.Errorf("link type %v (%d) not supported", lt, int(lt))
}

func (d *Decoded) decodeIPv4(data []byte, wireLen int) error {
	var ip layers.IPv4
	if err := ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("ipv4: %w", err)
	}
	if ip.Version != 4 {
		return fmt.Errorf("ipv4: version field is %d", ip.Version)
	}
	d.IPVersion = 4
	d.IPID = ip.Id
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	if ip.FragOffset != 0 {
		return nil // a later fragment: no transport header
	}
	l4Wire := int(ip.Length) - int(ip.IHL)*4
	if wireLen > 0 && int(ip.Length) > wireLen {
		l4Wire = wireLen - int(ip.IHL)*4 // length field larger than the frame
	}
	return d.decodeTransport(ip.Protocol, ip.Payload, l4Wire)
}

func (d *Decoded) decodeIPv6(data []byte) error {
	var ip layers.IPv6
	if err := ip.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("ipv6: %w", err)
	}
	if ip.Version != 6 {
		return fmt.Errorf("ipv6: version field is %d", ip.Version)
	}
	d.IPVersion = 6
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	next, payload := ip.NextHeader, ip.Payload
	wire := int(ip.Length)
	if ip.HopByHop != nil { // gopacket decoded it already (jumbogram support)
		next = ip.HopByHop.NextHeader
		n := len(ip.HopByHop.Contents)
		if n > len(payload) {
			return errors.New("ipv6: hop-by-hop header truncated")
		}
		payload = payload[n:]
		wire -= n
		if ip.Length == 0 { // jumbogram: no length we trust
			wire = len(payload)
		}
	}
	for i := 0; i < 8; i++ {
		switch next {
		case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
			var ext layers.IPv6ExtensionSkipper
			if err := ext.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
				return fmt.Errorf("ipv6 extension: %w", err)
			}
			next, payload = ext.NextHeader, ext.Payload
			wire -= len(ext.Contents)
			continue
		case layers.IPProtocolIPv6Fragment:
			// next header(1) reserved(1) offset<<3|flags(2) id(4)
			if len(payload) < 8 {
				return errors.New("ipv6 fragment header truncated")
			}
			if binary.BigEndian.Uint16(payload[2:4])>>3 != 0 {
				return nil // a later fragment: no transport header
			}
			next, payload = layers.IPProtocol(payload[0]), payload[8:]
			wire -= 8
			continue
		}
		break
	}
	return d.decodeTransport(next, payload, wire)
}

// decodeTransport decodes TCP or UDP. wireLen is the transport layer's
// length on the wire as the IP header says.
func (d *Decoded) decodeTransport(proto layers.IPProtocol, data []byte, wireLen int) error {
	switch proto {
	case layers.IPProtocolTCP:
		d.Proto = ProtoTCP
		var tcp layers.TCP
		if err := tcp.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return fmt.Errorf("tcp: %w", err)
		}
		d.Src = netip.AddrPortFrom(d.Src.Addr(), uint16(tcp.SrcPort))
		d.Dst = netip.AddrPortFrom(d.Dst.Addr(), uint16(tcp.DstPort))
		s := &TCPSegment{
			Flags:   tcpFlags(data[13]),
			Seq:     tcp.Seq,
			Ack:     tcp.Ack,
			Window:  tcp.Window,
			Payload: tcp.Payload,
			Options: tcpOptions(tcp.Options),
		}
		s.PayloadLen = wireLen - int(tcp.DataOffset)*4
		if s.PayloadLen < len(s.Payload) {
			s.PayloadLen = len(s.Payload)
		}
		d.TCP = s
	case layers.IPProtocolUDP:
		d.Proto = ProtoUDP
		var udp layers.UDP
		if err := udp.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return fmt.Errorf("udp: %w", err)
		}
		d.Src = netip.AddrPortFrom(d.Src.Addr(), uint16(udp.SrcPort))
		d.Dst = netip.AddrPortFrom(d.Dst.Addr(), uint16(udp.DstPort))
		u := &UDPDatagram{Payload: udp.Payload, PayloadLen: int(udp.Length) - 8}
		if u.PayloadLen < len(u.Payload) {
			u.PayloadLen = len(u.Payload)
		}
		d.UDP = u
		d.DNS = decodeDNS(udp.Payload)
	}
	return nil
}

func tcpFlags(b byte) TCPFlags { return TCPFlags(b) }

func tcpOptions(opts []layers.TCPOption) TCPOptions {
	var o TCPOptions
	for _, opt := range opts {
		switch opt.OptionType {
		case layers.TCPOptionKindMSS:
			if len(opt.OptionData) == 2 {
				o.MSS = binary.BigEndian.Uint16(opt.OptionData)
			}
		case layers.TCPOptionKindWindowScale:
			if len(opt.OptionData) == 1 {
				o.HasWindowScale, o.WindowScale = true, opt.OptionData[0]
			}
		case layers.TCPOptionKindSACKPermitted:
			o.SACKPermitted = true
		case layers.TCPOptionKindSACK:
			for b := opt.OptionData; len(b) >= 8 && len(o.SACK) < 4; b = b[8:] {
				o.SACK = append(o.SACK, SACKBlock{binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])})
			}
		case layers.TCPOptionKindTimestamps:
			if len(opt.OptionData) == 8 {
				o.HasTimestamps = true
				o.TSval = binary.BigEndian.Uint32(opt.OptionData[0:4])
				o.TSecr = binary.BigEndian.Uint32(opt.OptionData[4:8])
			}
		}
	}
	return o
}

// decodeDNS returns a summary of payload if it decodes as a DNS message,
// else nil.
func decodeDNS(payload []byte) *DNSMessage {
	if len(payload) < 12 {
		return nil
	}
	var dns layers.DNS
	if !decodeDNSLayer(&dns, payload) {
		return nil
	}
	m := &DNSMessage{
		ID:       dns.ID,
		Response: dns.QR,
		OpCode:   dns.OpCode.String(),
		RCode:    dns.ResponseCode.String(),
	}
	for _, q := range dns.Questions {
		m.Questions = append(m.Questions, DNSQuestion{Name: string(q.Name), Type: dnsType(q.Type)})
	}
	for _, a := range dns.Answers {
		m.Answers = append(m.Answers, DNSRecord{Name: string(a.Name), Type: dnsType(a.Type), TTL: a.TTL, Value: dnsValue(a)})
	}
	return m
}

func dnsType(t layers.DNSType) string {
	if s := t.String(); s != "Unknown" {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func dnsValue(r layers.DNSResourceRecord) string {
	switch r.Type {
	case layers.DNSTypeA, layers.DNSTypeAAAA:
		if a, ok := netip.AddrFromSlice(r.IP); ok {
			return a.Unmap().String()
		}
	case layers.DNSTypeCNAME:
		return string(r.CNAME)
	case layers.DNSTypeNS:
		return string(r.NS)
	case layers.DNSTypePTR:
		return string(r.PTR)
	case layers.DNSTypeMX:
		return fmt.Sprintf("%d %s", r.MX.Preference, r.MX.Name)
	case layers.DNSTypeSRV:
		return fmt.Sprintf("%d %d %d %s", r.SRV.Priority, r.SRV.Weight, r.SRV.Port, r.SRV.Name)
	case layers.DNSTypeTXT:
		parts := make([]string, len(r.TXTs))
		for i, t := range r.TXTs {
			parts[i] = strconv.Quote(string(t))
		}
		return strings.Join(parts, " ")
	case layers.DNSTypeSOA:
		return fmt.Sprintf("%s %s %d", r.SOA.MName, r.SOA.RName, r.SOA.Serial)
	}
	return fmt.Sprintf("%d bytes", len(r.Data))
}

// decodeDNSLayer decodes payload into dns, reporting whether it is a DNS
// message. gopacket v1.1.19's DNS decoder panics on a message that ends
// inside a question or an answer record (google/gopacket issue #881, fix
// in PR #875, not released): such a payload is not DNS here, and the
// panic must not take down a capture or the inspect command.
func decodeDNSLayer(dns *layers.DNS, payload []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return dns.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) == nil
}
