package capture

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/google/gopacket/layers"
)

// DecodeError is the error Decode returns for a packet it could not
// decode whole: Reason is a short phrase that stays the same from
// release to release (SkipReason lists them), Detail says more.
type DecodeError struct {
	Reason string
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "capture: decode: " + e.Reason
	}
	return "capture: decode: " + e.Reason + " (" + e.Detail + ")"
}

// Skip reasons for fragments, as Decoded.Skip has them.
const (
	// SkipIPv4Fragment: a fragment of an IPv4 datagram after the
	// first, which Decode does not reassemble (a Decoder does), or
	// which a Decoder could not reassemble (cut by the snapshot length,
	// overlapping, or never completed in time).
	SkipIPv4Fragment = "an IPv4 fragment, not reassembled"
	// SkipIPv4Held: a fragment a Decoder keeps until the datagram is
	// complete; the fragment that completes it is decoded as the
	// whole datagram (Decoded.Fragments counts them).
	SkipIPv4Held = "an IPv4 fragment, held for reassembly"
	// SkipIPv6Fragment and SkipIPv6Held are the same for IPv6.
	SkipIPv6Fragment = "an IPv6 fragment, not reassembled"
	SkipIPv6Held     = "an IPv6 fragment, held for reassembly"
)

// SkipReason returns the reason of a Decode error (a *DecodeError),
// "" for nil, and "not decodable" for another error. Decoded.Skip holds
// the same phrase, and also says why a packet that decoded without
// error has no TCP or UDP. The phrases:
//
//   - "link type NAME (N) not supported" (a link type Decode does not
//     know: Wi-Fi, USB, ...), or "link type N not supported";
//   - "not IP (ARP)", "not IP (LLDP)", "not IP (802.3 LLC)", "not IP
//     (EtherType 0x88b5)", "not IP (address family 7)", "not IP (NFLOG
//     address family 7)": the link layer carries something else;
//   - "not TCP or UDP (ICMP)", "(ICMPv6)", "(IGMP)", "(GRE)", "(ESP)",
//     "(SCTP)", "(no next header)", "(IP protocol 99)";
//   - SkipIPv4Fragment, SkipIPv4Held, SkipIPv6Fragment, SkipIPv6Held;
//   - "cut by the snapshot length within the W" and "malformed W",
//     where W is "Ethernet header", "VLAN tag", "Linux SLL header",
//     "Linux SLL2 header", "BSD loopback header", "NFLOG header", "IP
//     header", "IPv4 header", "IPv6 header", "IPv6 extension header",
//     "TCP header" or "UDP header": the capture kept too little of the
//     packet (tcpdump -s 60 on IPv6), or the packet itself is wrong;
//   - "an NFLOG message without a packet", "empty packet".
func SkipReason(err error) string {
	if err == nil {
		return ""
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return "not decodable"
}

// LinkTypeSupported reports whether Decode decodes packets of link type
// lt (the link types of Decode's comment).
func LinkTypeSupported(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeNFLOG,
		layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		return true
	}
	return false
}

// LinkTypeName names a link type as tcpdump's -L does: "EN10MB (1)",
// "LINUX_SLL2 (276)", "IEEE802_11_RADIO (127)", or "N" for one it does
// not know.
func LinkTypeName(lt layers.LinkType) string {
	name, n := "", int(lt)
	switch lt {
	case layers.LinkTypeNull:
		name = "NULL"
	case layers.LinkTypeEthernet:
		name = "EN10MB"
	case layers.LinkTypeTokenRing:
		name = "IEEE802"
	case layers.LinkTypePPP:
		name = "PPP"
	case layers.LinkTypeFDDI:
		name = "FDDI"
	case layers.LinkTypeRaw, 12, 14:
		name = "RAW"
	case layers.LinkTypePPP_HDLC:
		name = "PPP_HDLC"
	case layers.LinkTypePPPEthernet:
		name = "PPP_ETHER"
	case layers.LinkTypeC_HDLC:
		name = "C_HDLC"
	case layers.LinkTypeIEEE802_11:
		name = "IEEE802_11"
	case layers.LinkTypeLoop:
		name = "LOOP"
	case layers.LinkTypeLinuxSLL:
		name = "LINUX_SLL"
	case layers.LinkTypePrismHeader:
		name = "PRISM_HEADER"
	case layers.LinkTypeIEEE80211Radio:
		name = "IEEE802_11_RADIO"
	case 189:
		name = "USB_LINUX"
	case 220:
		name = "USB_LINUX_MMAPPED"
	case layers.LinkTypeIPv4:
		name = "IPV4"
	case layers.LinkTypeIPv6:
		name = "IPV6"
	case LinkTypeNFLOG:
		name = "NFLOG"
	case 249:
		name = "NETLINK"
	case LinkTypeLinuxSLL2:
		name, n = "LINUX_SLL2", 276
	}
	if name == "" {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%s (%d)", name, n)
}

func etherTypeName(et uint16) string {
	switch et {
	case 0x0806:
		return "ARP"
	case 0x8035:
		return "RARP"
	case 0x88cc:
		return "LLDP"
	case 0x888e:
		return "EAPOL"
	case 0x8847, 0x8848:
		return "MPLS"
	case 0x8863, 0x8864:
		return "PPPoE"
	case 0x88f7:
		return "PTP"
	case 0x8809:
		return "slow protocols"
	case 0x0004:
		return "802.2 LLC"
	}
	return fmt.Sprintf("EtherType 0x%04x", et)
}

func ipProtoName(p byte) string {
	switch p {
	case 1:
		return "ICMP"
	case 2:
		return "IGMP"
	case 4:
		return "IP in IP"
	case 41:
		return "IPv6 in IP"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	case 58:
		return "ICMPv6"
	case 59:
		return "no next header"
	case 89:
		return "OSPF"
	case 103:
		return "PIM"
	case 112:
		return "VRRP"
	case 132:
		return "SCTP"
	case 136:
		return "UDP-Lite"
	}
	return "IP protocol " + strconv.Itoa(int(p))
}
