package capture

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frameSpec describes a test frame built with gopacket.SerializeLayers.
type frameSpec struct {
	v6       bool
	udp      bool
	sport    uint16
	dport    uint16
	payload  []byte
	ipOpts   []layers.IPv4Option // makes the IPv4 header longer than 20 bytes
	fragOff  uint16              // IPv4 fragment offset (8-byte units)
	tcpFlags TCPFlags
	tcpOpts  []layers.TCPOption
	seq, ack uint32
	window   uint16
}

// buildLayers returns the network and transport layers of spec (no link
// layer), and the EtherType.
func buildLayers(t testing.TB, s frameSpec) ([]gopacket.SerializableLayer, layers.EthernetType) {
	t.Helper()
	var net3 gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	proto := layers.IPProtocolTCP
	if s.udp {
		proto = layers.IPProtocolUDP
	}
	if s.v6 {
		et = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: net.ParseIP("::1"), DstIP: net.ParseIP("::1")}
		net3, nl = ip, ip
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 2), Options: s.ipOpts, FragOffset: s.fragOff}
		net3, nl = ip, ip
	}
	var l4 gopacket.SerializableLayer
	if s.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		if err := u.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatal(err)
		}
		l4 = u
	} else {
		f := s.tcpFlags
		tc := &layers.TCP{
			SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
			Seq: s.seq, Ack: s.ack, Window: s.window, Options: s.tcpOpts,
			FIN: f&FIN != 0, SYN: f&SYN != 0, RST: f&RST != 0, PSH: f&PSH != 0,
			ACK: f&ACK != 0, URG: f&URG != 0, ECE: f&ECE != 0, CWR: f&CWR != 0,
		}
		if err := tc.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatal(err)
		}
		l4 = tc
	}
	return []gopacket.SerializableLayer{net3, l4, gopacket.Payload(s.payload)}, et
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ethFrame builds an Ethernet frame (as captured on lo).
func ethFrame(t testing.TB, s frameSpec) []byte {
	ls, et := buildLayers(t, s)
	eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: et}
	return serialize(t, append([]gopacket.SerializableLayer{eth}, ls...)...)
}
