package capture

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/miekg/dns"
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

	TCP *TCPSegment  // set for TCP (whose 20-byte header was captured)
	UDP *UDPDatagram // set for UDP (whose 8-byte header was captured)
	// DNS is set when a UDP datagram, or a TCP segment that carries
	// whole DNS messages (each after its 2-byte length), is DNS: on
	// port 53, 5353 (mDNS) or 5355 (LLMNR) if it parses as a DNS
	// message; on another port (a lab's DNS server on a loopback
	// port) only if it parses as a standard query or answer (opcode
	// QUERY, one question of class IN). Over TCP it is the segment's
	// first message.
	DNS *DNSMessage

	// Skip says, when TCP and UDP are both nil, why: a short phrase
	// that stays the same from release to release, so that a program
	// can count the packets it could not show per reason (the list is
	// in SkipReason's comment). It is "" when TCP or UDP is set.
	Skip string

	// Cut says what of the headers Decode reads the capture's snapshot
	// length cut off, "" if nothing: "TCP options" when the 20-byte
	// TCP header is whole but not its options (TCPSegment.OptionsCut).
	// A payload cut short is not reported here (PayloadLen says it).
	Cut string

	// Fragment is set for the first fragment of an IP datagram that
	// was not reassembled: its transport header is here, the rest of
	// its payload in fragments that follow (Payload holds this
	// fragment's part; UDPDatagram.PayloadLen is the whole datagram's).
	Fragment bool
	// Fragments is, for a datagram a Decoder reassembled, the number
	// of fragments it was made of (this packet is the one that
	// completed it); 0 for a packet that was not fragmented.
	Fragments int
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
	// HeaderLen is the header's length with options, from its data
	// offset field (20 to 60 bytes).
	HeaderLen int
	Options   TCPOptions
	// OptionsCut reports that the capture's snapshot length cut the
	// options (tcpdump -s 60 or 96): Options holds those wholly
	// captured; any other option may or may not have been there, so
	// an absent MSS, window scale or timestamp means "not seen", not
	// "not sent".
	OptionsCut bool
	// OptionBytes is how many bytes of options the capture kept: all
	// of them (HeaderLen-20) unless OptionsCut.
	OptionBytes int
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
	// FastOpen is set when the segment holds a TCP Fast Open option
	// (RFC 7413: kind 34, or the experimental kind 254 with magic
	// 0xF989, as tshark's tcp.options.tfo reads both). Cookie is its
	// cookie (tcp.options.tfo.cookie); empty, the option is a cookie
	// request (tcp.options.tfo.request), which a client's SYN sends to
	// ask the server for one.
	FastOpen bool
	Cookie   []byte
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
	ID       uint16
	Response bool   // false for a query
	OpCode   string // "QUERY", "NOTIFY", ..., or "OPCODE13" (miekg/dns's names)
	RCode    string // "NOERROR", "NXDOMAIN", "SERVFAIL", ... (dig's names)
	// Truncated is the TC bit: the answer did not fit in the UDP
	// datagram and was cut; a resolver asks again over TCP.
	Truncated bool
	// Authoritative is the AA bit: the answer comes from a server
	// that holds the zone, not from a cache.
	Authoritative bool
	Questions     []DNSQuestion
	// Answers are the answer section's records, in order: a CNAME
	// record and then the records of the name it points to, as
	// servers send them.
	Answers []DNSRecord
	// Authorities and Additionals count the records of the other two
	// sections (an EDNS OPT record counts as additional).
	Authorities, Additionals int
}

// DNSQuestion is one question of a DNS message.
type DNSQuestion struct {
	Name string // "chuck.norris.test", without the final dot ("." for the root)
	Type string // "A", "AAAA", or "TYPE65535" for types without a name
}

// DNSRecord is one answer record.
type DNSRecord struct {
	Name  string // without the final dot
	Type  string // "A", "CNAME", ...: each record's own type
	TTL   uint32
	Value string // the address for A and AAAA, the target name for CNAME (without the final dot), the record's data as dig shows it for others
}

// Decode decodes the link, network and transport layers of p, and DNS
// (see Decoded.DNS), without state: it does not reassemble IP fragments
// (a Decoder does). Link types: Ethernet (with up to two VLAN tags),
// Linux SLL and SLL2 (tcpdump -i any), NFLOG (tcpdump -i nflog), Null
// and Loop (BSD loopback) and raw IP. IPv6 extension headers are
// followed to the transport header. It never panics. What it could not
// decode it says in Decoded.Skip (and Cut); on malformed or truncated
// input it returns what it could decode with an error, a *DecodeError
// whose Reason is Skip's. A packet that is simply not TCP or UDP (ARP,
// ICMP) is no error: TCP and UDP are nil, and Skip says what it is.
//
// Decode parses the headers itself rather than with gopacket's layers,
// to decode what a snapshot length left (a TCP header whose options
// were cut) and to cost one allocation per TCP or UDP packet.
func Decode(p Packet) (Decoded, error) {
	return decodePacket(p, nil)
}

// decoder holds one packet's decoding.
type decoder struct {
	d   *Decoded
	cut bool     // the capture kept less than the frame
	dc  *Decoder // reassembles fragments; nil for Decode
	lt  layers.LinkType
}

func decodePacket(p Packet, dc *Decoder) (Decoded, error) {
	d := Decoded{Time: p.Time, Length: p.Info.Length, CaptureLength: len(p.Data)}
	if d.Time.IsZero() {
		d.Time = p.Info.Timestamp
	}
	if d.Length < len(p.Data) {
		d.Length = len(p.Data)
	}
	s := decoder{d: &d, cut: len(p.Data) < d.Length, dc: dc, lt: p.LinkType}
	err := s.link(p.LinkType, p.Data)
	if err != nil {
		d.Skip = err.Reason
		d.TCP, d.UDP, d.DNS = nil, nil, nil
		return d, err
	}
	if d.TCP != nil || d.UDP != nil {
		d.Skip = ""
	}
	return d, nil
}

// short reports that b ran out inside what: cut by the snapshot
// length, or malformed.
func (s *decoder) short(what string, need, have int) *DecodeError {
	if s.cut {
		return &DecodeError{Reason: "cut by the snapshot length within the " + what, Detail: "needs " + strconv.Itoa(need) + " bytes, " + strconv.Itoa(have) + " captured"}
	}
	return &DecodeError{Reason: "malformed " + what, Detail: "needs " + strconv.Itoa(need) + " bytes, has " + strconv.Itoa(have)}
}

func malformed(what, detail string) *DecodeError {
	return &DecodeError{Reason: "malformed " + what, Detail: detail}
}

// link decodes the link layer and what it carries.
func (s *decoder) link(lt layers.LinkType, data []byte) *DecodeError {
	var et uint16
	var payload []byte
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return s.short("Ethernet header", 14, len(data))
		}
		et, payload = binary.BigEndian.Uint16(data[12:14]), data[14:]
		// Up to two VLAN tags: tag control(2) type(2).
		for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++ {
			if len(payload) < 4 {
				return s.short("VLAN tag", 4, len(payload))
			}
			et, payload = binary.BigEndian.Uint16(payload[2:4]), payload[4:]
		}
		if et < 0x600 {
			s.d.Skip = "not IP (802.3 LLC)"
			return nil
		}
	case layers.LinkTypeLinuxSLL:
		// struct sll_header: pkttype(2) hatype(2) halen(2) addr(8)
		// protocol(2).
		if len(data) < 16 {
			return s.short("Linux SLL header", 16, len(data))
		}
		et, payload = binary.BigEndian.Uint16(data[14:16]), data[16:]
	case LinkTypeLinuxSLL2:
		// struct sll2_header: protocol(2) reserved(2) ifindex(4) hatype(2)
		// pkttype(1) halen(1) addr(8).
		if len(data) < 20 {
			return s.short("Linux SLL2 header", 20, len(data))
		}
		et, payload = binary.BigEndian.Uint16(data[0:2]), data[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// A 4-byte address family: the capturing host's byte order
		// for Null, network order for Loop.
		if len(data) < 4 {
			return s.short("BSD loopback header", 4, len(data))
		}
		fam := binary.BigEndian.Uint32(data)
		if lt == layers.LinkTypeNull && fam > 0xffff {
			fam = binary.LittleEndian.Uint32(data)
		}
		payload = data[4:]
		switch fam {
		case 2:
			et = 0x0800
		case 10, 24, 28, 30: // Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			et = 0x86dd
		default:
			s.d.Skip = "not IP (address family " + strconv.Itoa(int(fam)) + ")"
			return nil
		}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14: // 12, 14: DLT_RAW on some systems
		if len(data) == 0 {
			return &DecodeError{Reason: "empty packet"}
		}
		payload = data
		switch data[0] >> 4 {
		case 4:
			et = 0x0800
		case 6:
			et = 0x86dd
		default:
			return malformed("IP header", "raw IP packet of version "+strconv.Itoa(int(data[0]>>4)))
		}
	case LinkTypeNFLOG:
		var err *DecodeError
		if et, payload, err = s.nflog(data); err != nil || et == 0 {
			return err
		}
	default:
		return &DecodeError{Reason: "link type " + LinkTypeName(lt) + " not supported"}
	}
	// Bytes on the wire after the link header.
	wire := s.d.Length - (len(data) - len(payload))
	switch et {
	case 0x0800:
		return s.ipv4(payload, wire)
	case 0x86dd:
		return s.ipv6(payload, wire)
	}
	s.d.Skip = "not IP (" + etherTypeName(et) + ")"
	return nil
}

// LinkTypeNFLOG is the pcap link type 239, Linux netfilter log messages
// (tcpdump -i nflog:N): packets an iptables or nft NFLOG rule copied,
// each after a small header and a list of attributes.
const LinkTypeNFLOG layers.LinkType = 239

// nflog finds the packet in an NFLOG message: a 4-byte header (address
// family, version, resource id) and attributes, each length(2) type(2)
// value padded to 4 bytes, length and type in the capturing host's byte
// order; type 9 (NFULA_PAYLOAD) holds the packet from its IP header.
// It returns EtherType 0 with Skip set when there is no packet.
func (s *decoder) nflog(data []byte) (uint16, []byte, *DecodeError) {
	if len(data) < 4 {
		return 0, nil, s.short("NFLOG header", 4, len(data))
	}
	var et uint16
	switch data[0] {
	case 2:
		et = 0x0800
	case 10:
		et = 0x86dd
	default:
		s.d.Skip = "not IP (NFLOG address family " + strconv.Itoa(int(data[0])) + ")"
		return 0, nil, nil
	}
	if data[1] != 0 {
		return 0, nil, malformed("NFLOG header", "version "+strconv.Itoa(int(data[1])))
	}
	tlvs := data[4:]
	// The byte order: the one in which the first attribute's length
	// fits.
	order := binary.ByteOrder(binary.LittleEndian)
	if len(tlvs) >= 4 {
		le, be := binary.LittleEndian.Uint16(tlvs), binary.BigEndian.Uint16(tlvs)
		if (le < 4 || int(le) > len(tlvs)) && be >= 4 && int(be) <= len(tlvs) {
			order = binary.BigEndian
		}
	}
	for len(tlvs) >= 4 {
		n, typ := int(order.Uint16(tlvs[0:2])), order.Uint16(tlvs[2:4])
		if n < 4 {
			return 0, nil, malformed("NFLOG header", "attribute of length "+strconv.Itoa(n))
		}
		if typ&0x7fff == 9 { // NFULA_PAYLOAD
			end := min(n, len(tlvs))
			return et, tlvs[4:end], nil
		}
		n = (n + 3) &^ 3
		if n > len(tlvs) {
			break
		}
		tlvs = tlvs[n:]
	}
	if s.cut {
		return 0, nil, s.short("NFLOG header", len(data)+4, len(data))
	}
	s.d.Skip = "an NFLOG message without a packet"
	return 0, nil, nil
}

// ipv4 decodes an IPv4 header and what it carries; wire is its length
// on the wire as the frame says.
func (s *decoder) ipv4(b []byte, wire int) *DecodeError {
	if len(b) < 20 {
		return s.short("IPv4 header", 20, len(b))
	}
	if v := b[0] >> 4; v != 4 {
		return malformed("IPv4 header", "version "+strconv.Itoa(int(v)))
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return malformed("IPv4 header", "header length "+strconv.Itoa(ihl))
	}
	d := s.d
	d.IPVersion = 4
	d.IPID = binary.BigEndian.Uint16(b[4:6])
	d.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), 0)
	d.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), 0)
	if len(b) < ihl {
		return s.short("IPv4 header", ihl, len(b))
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 && wire >= ihl {
		// A large segment handed to the NIC for segmentation (TSO) is
		// captured with a total length of 0; Wireshark reads it so too.
		total = wire
	}
	if total < ihl {
		return malformed("IPv4 header", "total length "+strconv.Itoa(total)+" shorter than the header")
	}
	if wire > 0 && total > wire {
		total = wire // the length field says more than the frame has
	}
	payload := b[ihl:min(total, len(b))]
	fo := binary.BigEndian.Uint16(b[6:8])
	mf, off := fo&0x2000 != 0, int(fo&0x1fff)*8
	proto := b[9]
	if mf || off != 0 {
		return s.ipv4Fragment(b[:ihl], payload, total-ihl, proto, off, mf)
	}
	return s.transport(proto, payload, total-ihl)
}

// ipv6 decodes an IPv6 header, its extension headers and what they
// carry.
func (s *decoder) ipv6(b []byte, wire int) *DecodeError {
	if len(b) < 40 {
		return s.short("IPv6 header", 40, len(b))
	}
	if v := b[0] >> 4; v != 6 {
		return malformed("IPv6 header", "version "+strconv.Itoa(int(v)))
	}
	d := s.d
	d.IPVersion = 6
	d.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), 0)
	d.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), 0)
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 || (wire > 40 && plen > wire-40) {
		// 0: a jumbogram or a TSO segment; longer than the frame: the
		// frame is what there is.
		plen = max(wire-40, 0)
	}
	return s.ipv6Chain(b[6], b[40:min(40+plen, len(b))], plen)
}

// ipv6Chain follows IPv6 extension headers from next, in rest (wire
// bytes of it on the wire), to the transport header.
func (s *decoder) ipv6Chain(next byte, rest []byte, wire int) *DecodeError {
	for range 16 {
		var n int
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(rest) < 2 {
				return s.short("IPv6 extension header", 2, len(rest))
			}
			n = (int(rest[1]) + 1) * 8
		case 51: // authentication header: its length is in 4-byte units
			if len(rest) < 2 {
				return s.short("IPv6 extension header", 2, len(rest))
			}
			n = (int(rest[1]) + 2) * 4
		case 44: // fragment
			if len(rest) < 8 {
				return s.short("IPv6 extension header", 8, len(rest))
			}
			fo := binary.BigEndian.Uint16(rest[2:4])
			return s.ipv6Fragment(rest[0], rest[8:], wire-8, binary.BigEndian.Uint32(rest[4:8]), int(fo&^7), fo&1 != 0)
		default:
			return s.transport(next, rest, wire)
		}
		if len(rest) < n {
			return s.short("IPv6 extension header", n, len(rest))
		}
		if wire < n {
			return malformed("IPv6 extension header", "longer than the packet")
		}
		next, rest, wire = rest[0], rest[n:], wire-n
	}
	return malformed("IPv6 extension header", "more than 16 extension headers")
}

// ipv4Fragment handles a fragment: reassembled by a Decoder, or the
// first's transport header decoded.
func (s *decoder) ipv4Fragment(hdr, payload []byte, wire int, proto byte, off int, mf bool) *DecodeError {
	if s.dc != nil {
		whole, n, skip, err := s.dc.defrag4(s.d, hdr, payload, wire, off, mf)
		if err != nil || skip != "" {
			s.d.Skip = skip
			return err
		}
		s.d.Fragments = n
		return s.transport(proto, whole, len(whole))
	}
	if off != 0 {
		s.d.Skip = SkipIPv4Fragment
		return nil
	}
	s.d.Fragment = true
	return s.transport(proto, payload, wire)
}

func (s *decoder) ipv6Fragment(next byte, payload []byte, wire int, id uint32, off int, mf bool) *DecodeError {
	if wire < 0 {
		return malformed("IPv6 extension header", "fragment header longer than the packet")
	}
	if s.dc != nil {
		whole, first, n, skip := s.dc.defrag6(s.d, next, payload, wire, id, off, mf)
		if skip != "" {
			s.d.Skip = skip
			return nil
		}
		s.d.Fragments = n
		return s.ipv6Chain(first, whole, len(whole))
	}
	if off != 0 {
		s.d.Skip = SkipIPv6Fragment
		return nil
	}
	s.d.Fragment = true
	return s.ipv6Chain(next, payload, wire)
}

// transport decodes TCP or UDP; wire is the transport layer's length
// on the wire as the IP header says.
func (s *decoder) transport(proto byte, b []byte, wire int) *DecodeError {
	switch proto {
	case 6:
		return s.tcp(b, wire)
	case 17:
		return s.udp(b, wire)
	}
	s.d.Skip = "not TCP or UDP (" + ipProtoName(proto) + ")"
	return nil
}

func (s *decoder) ports(b []byte) {
	if len(b) >= 4 {
		s.d.Src = netip.AddrPortFrom(s.d.Src.Addr(), binary.BigEndian.Uint16(b[0:2]))
		s.d.Dst = netip.AddrPortFrom(s.d.Dst.Addr(), binary.BigEndian.Uint16(b[2:4]))
	}
}

func (s *decoder) tcp(b []byte, wire int) *DecodeError {
	d := s.d
	d.Proto = ProtoTCP
	s.ports(b)
	if len(b) < 20 {
		// A fragment's may be cut by the fragmentation, not the capture.
		return s.short("TCP header", 20, len(b))
	}
	hl := int(b[12]>>4) * 4
	if hl < 20 {
		return malformed("TCP header", "header length "+strconv.Itoa(hl))
	}
	if wire < hl {
		return malformed("TCP header", "header of "+strconv.Itoa(hl)+" bytes in a segment of "+strconv.Itoa(wire))
	}
	t := &TCPSegment{
		Flags:     TCPFlags(b[13]),
		Seq:       binary.BigEndian.Uint32(b[4:8]),
		Ack:       binary.BigEndian.Uint32(b[8:12]),
		Window:    binary.BigEndian.Uint16(b[14:16]),
		HeaderLen: hl,
	}
	optEnd := hl
	if hl > len(b) {
		// Options cut by the snapshot length (wire >= hl: it is not
		// the segment that is short).
		optEnd, t.OptionsCut = len(b), true
		d.Cut = "TCP options"
	}
	t.OptionBytes = optEnd - 20
	t.Options = tcpOptions(b[20:optEnd])
	t.Payload = b[optEnd:]
	t.PayloadLen = max(wire-hl, len(t.Payload))
	d.TCP = t
	if (d.Src.Port() == 53 || d.Dst.Port() == 53) && !d.Fragment && len(t.Payload) == t.PayloadLen {
		d.DNS = dnsOverTCP(t.Payload)
	}
	return nil
}

// tcpOptions parses TCP options, as far as they were captured: an option
// cut short is left out.
func tcpOptions(b []byte) TCPOptions {
	var o TCPOptions
	for len(b) > 0 {
		kind := b[0]
		if kind == 0 { // end of options
			break
		}
		if kind == 1 { // no-operation
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			break
		}
		n := int(b[1])
		if n < 2 {
			break // malformed: stop here, as the kernel does
		}
		if n > len(b) {
			if kind == 5 && len(b) >= 2 { // SACK: the blocks that were captured
				n = len(b)
			} else {
				break
			}
		}
		v := b[2:n]
		switch kind {
		case 2:
			if len(v) == 2 {
				o.MSS = binary.BigEndian.Uint16(v)
			}
		case 3:
			if len(v) == 1 {
				o.HasWindowScale, o.WindowScale = true, v[0]
			}
		case 4:
			o.SACKPermitted = true
		case 5:
			for ; len(v) >= 8 && len(o.SACK) < 4; v = v[8:] {
				o.SACK = append(o.SACK, SACKBlock{binary.BigEndian.Uint32(v[0:4]), binary.BigEndian.Uint32(v[4:8])})
			}
		case 34:
			o.FastOpen, o.Cookie = true, cookie(v)
		case 254:
			if len(v) >= 2 && binary.BigEndian.Uint16(v) == 0xf989 {
				o.FastOpen, o.Cookie = true, cookie(v[2:])
			}
		case 8:
			if len(v) == 8 {
				o.HasTimestamps = true
				o.TSval = binary.BigEndian.Uint32(v[0:4])
				o.TSecr = binary.BigEndian.Uint32(v[4:8])
			}
		}
		b = b[n:]
	}
	return o
}

// cookie copies a Fast Open cookie out of the packet's bytes (nil for
// none: a cookie request).
func cookie(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (s *decoder) udp(b []byte, wire int) *DecodeError {
	d := s.d
	d.Proto = ProtoUDP
	s.ports(b)
	if len(b) < 8 {
		return s.short("UDP header", 8, len(b))
	}
	ulen := int(binary.BigEndian.Uint16(b[4:6]))
	if ulen == 0 && wire > 0xffff {
		ulen = wire // a jumbogram's
	}
	if ulen < 8 {
		return malformed("UDP header", "length "+strconv.Itoa(ulen))
	}
	u := &UDPDatagram{PayloadLen: ulen - 8, Payload: b[8:min(ulen, len(b))]}
	d.UDP = u
	if !d.Fragment && len(u.Payload) == u.PayloadLen {
		d.DNS = dnsOverUDP(u.Payload, d.Src.Port(), d.Dst.Port())
	}
	return nil
}

// dnsOverUDP returns the DNS message in a UDP payload, or nil.
func dnsOverUDP(payload []byte, sport, dport uint16) *DNSMessage {
	if len(payload) < 12 {
		return nil
	}
	m := unpackDNS(payload)
	if m == nil {
		return nil
	}
	known := func(p uint16) bool { return p == 53 || p == 5353 || p == 5355 }
	if !known(sport) && !known(dport) && !standardDNS(m) {
		return nil
	}
	return summarise(m)
}

// standardDNS reports whether m looks like a standard query or answer,
// which a payload that is not DNS seldom does.
func standardDNS(m *dns.Msg) bool {
	return m.Opcode == dns.OpcodeQuery && !m.Zero && len(m.Question) == 1 &&
		m.Question[0].Qclass == dns.ClassINET && m.Rcode <= dns.RcodeRefused
}

// dnsOverTCP returns the first DNS message of a TCP payload made of
// whole messages, each after its 2-byte length, or nil.
func dnsOverTCP(payload []byte) *DNSMessage {
	rest := payload
	var first []byte
	for len(rest) > 0 {
		if len(rest) < 2 {
			return nil
		}
		n := int(binary.BigEndian.Uint16(rest))
		if n < 12 || 2+n > len(rest) {
			return nil
		}
		if first == nil {
			first = rest[2 : 2+n]
		}
		rest = rest[2+n:]
	}
	if first == nil {
		return nil
	}
	m := unpackDNS(first)
	if m == nil {
		return nil
	}
	return summarise(m)
}

// unpackDNS parses a DNS message with miekg/dns, or returns nil.
func unpackDNS(b []byte) (m *dns.Msg) {
	defer func() {
		if recover() != nil {
			m = nil
		}
	}()
	m = new(dns.Msg)
	if m.Unpack(b) != nil {
		return nil
	}
	return m
}

func summarise(m *dns.Msg) *DNSMessage {
	s := &DNSMessage{
		ID:            m.Id,
		Response:      m.Response,
		OpCode:        opcodeName(m.Opcode),
		RCode:         rcodeName(m.Rcode),
		Truncated:     m.Truncated,
		Authoritative: m.Authoritative,
		Authorities:   len(m.Ns),
		Additionals:   len(m.Extra),
	}
	for _, q := range m.Question {
		s.Questions = append(s.Questions, DNSQuestion{Name: trimDot(q.Name), Type: dnsType(q.Qtype)})
	}
	for _, rr := range m.Answer {
		h := rr.Header()
		s.Answers = append(s.Answers, DNSRecord{Name: trimDot(h.Name), Type: dnsType(h.Rrtype), TTL: h.Ttl, Value: dnsValue(rr)})
	}
	return s
}

func trimDot(name string) string {
	if name == "." {
		return name
	}
	return strings.TrimSuffix(name, ".")
}

func opcodeName(op int) string {
	if s, ok := dns.OpcodeToString[op]; ok {
		return s
	}
	return "OPCODE" + strconv.Itoa(op)
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}

func dnsType(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// dnsValue is a record's data as dig shows it, names without the final
// dot.
func dnsValue(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(r.A); ok {
			return a.Unmap().String()
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(r.AAAA); ok {
			return a.String()
		}
	case *dns.CNAME:
		return trimDot(r.Target)
	case *dns.NS:
		return trimDot(r.Ns)
	case *dns.PTR:
		return trimDot(r.Ptr)
	case *dns.MX:
		return strconv.Itoa(int(r.Preference)) + " " + trimDot(r.Mx)
	case *dns.TXT:
		// As dig shows them, quoted (miekg/dns keeps them escaped);
		// rr.String escapes them again byte by byte, which costs more
		// than the rest of decoding.
		var b strings.Builder
		for i, t := range r.Txt {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteByte('"')
			b.WriteString(t)
			b.WriteByte('"')
		}
		return b.String()
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
