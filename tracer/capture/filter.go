package capture

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/net/bpf"
)

// Values used by the kernel filter.
const (
	packetOutgoing = 4 // PACKET_OUTGOING, from <linux/if_packet.h>
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	ipProtoTCP     = 6
	ipProtoUDP     = 17
	ethHeaderLen   = 14

	maxInstructions = 4096 // BPF_MAXINSNS
)

// buildFilter returns the classic BPF program attached to the packet
// socket: the outgoing-copy check (filterPrefix, unless outgoing frames
// are wanted, as on an Ethernet interface, which hands each frame over
// once) followed by the port filter (filterBody). See filterBody for what
// is kept.
func buildFilter(tcp, udp []uint16, snaplen uint32, outgoing bool) ([]bpf.Instruction, error) {
	body, err := filterBody(tcp, udp, snaplen)
	if err != nil {
		return nil, err
	}
	if outgoing {
		return body, nil
	}
	return append(filterPrefix(), body...), nil
}

// filterPrefix drops frames whose packet type is PACKET_OUTGOING. On lo the
// kernel hands a packet socket every frame twice, once as it is sent
// (outgoing) and once as it is received; libpcap, and so tcpdump, drop the
// outgoing copy on lo, and so does this. The check is separate from
// filterBody because golang.org/x/net/bpf's VM, used by the tests, cannot
// load the packet type.
func filterPrefix() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	}
}

// dropAll is the program attached while the socket is being set up and
// while it is being closed: it keeps nothing.
func dropAll() []bpf.Instruction {
	return []bpf.Instruction{bpf.RetConstant{Val: 0}}
}

// filterBody keeps Ethernet frames carrying IPv4 or IPv6 whose payload is
// TCP with a source or destination port in tcp, or UDP with a port in udp,
// truncated to snaplen bytes; it drops everything else. For IPv4 the
// transport header is found from the header length (IHL), and non-first
// fragments (which carry no ports) are dropped. For IPv6 the transport
// header must directly follow the fixed header (no extension headers), which
// is how Linux sends TCP and UDP.
func filterBody(tcp, udp []uint16, snaplen uint32) ([]bpf.Instruction, error) {
	tcp, udp = normPorts(tcp), normPorts(udp)
	if len(tcp) > MaxPorts+1 || len(udp) > MaxPorts+1 {
		return nil, fmt.Errorf("capture: too many ports (%d TCP, %d UDP; at most %d each)", len(tcp), len(udp), MaxPorts)
	}
	if snaplen == 0 {
		return nil, fmt.Errorf("capture: snaplen must be positive")
	}
	var a assembler
	// Link layer: EtherType.
	a.emit(bpf.LoadAbsolute{Off: 12, Size: 2})
	a.jeq(etherTypeIPv4, "", "notv4")
	a.ja("ipv4")
	a.label("notv4")
	a.jeq(etherTypeIPv6, "", "drop")
	a.ja("ipv6")
	a.label("drop")
	a.emit(bpf.RetConstant{Val: 0})

	// IPv4: drop non-first fragments, X = header length, dispatch on protocol.
	a.label("ipv4")
	a.emit(bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 2}) // flags + fragment offset
	a.jset(0x1fff, "", "v4first")
	a.emit(bpf.RetConstant{Val: 0})
	a.label("v4first")
	a.emit(bpf.LoadMemShift{Off: ethHeaderLen}) // X = 4*(IHL)
	a.emit(bpf.LoadAbsolute{Off: ethHeaderLen + 9, Size: 1})
	a.jeq(ipProtoTCP, "", "v4nottcp")
	a.ja("v4tcp")
	a.label("v4nottcp")
	a.jeq(ipProtoUDP, "", "v4drop")
	a.ja("v4udp")
	a.label("v4drop")
	a.emit(bpf.RetConstant{Val: 0})

	// IPv6: fixed 40-byte header, next header at offset 6.
	a.label("ipv6")
	a.emit(bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 1})
	a.jeq(ipProtoTCP, "", "v6nottcp")
	a.ja("v6tcp")
	a.label("v6nottcp")
	a.jeq(ipProtoUDP, "", "v6drop")
	a.ja("v6udp")
	a.label("v6drop")
	a.emit(bpf.RetConstant{Val: 0})

	const v6ports = ethHeaderLen + 40
	a.label("v4tcp")
	a.ports("v4tcp", tcp, true, 0, snaplen)
	a.label("v4udp")
	a.ports("v4udp", udp, true, 0, snaplen)
	a.label("v6tcp")
	a.ports("v6tcp", tcp, false, v6ports, snaplen)
	a.label("v6udp")
	a.ports("v6udp", udp, false, v6ports, snaplen)
	return a.assemble()
}

// normPorts returns the ports sorted, without duplicates, in a new slice.
func normPorts(p []uint16) []uint16 {
	p = slices.Clone(p)
	slices.Sort(p)
	return slices.Compact(p)
}

// ports emits: load the source port, compare with each port, load the
// destination port, compare again, drop, and (the target of every match)
// accept. indirect means the transport header is at X+14 (IPv4); otherwise
// it is at off.
func (a *assembler) ports(name string, ports []uint16, indirect bool, off uint32, snaplen uint32) {
	if len(ports) == 0 {
		a.emit(bpf.RetConstant{Val: 0})
		return
	}
	accept := name + "/accept"
	for _, field := range []uint32{0, 2} {
		if indirect {
			a.emit(bpf.LoadIndirect{Off: ethHeaderLen + field, Size: 2})
		} else {
			a.emit(bpf.LoadAbsolute{Off: off + field, Size: 2})
		}
		for _, p := range ports {
			a.jeq(uint32(p), accept, "")
		}
	}
	a.emit(bpf.RetConstant{Val: 0})
	a.label(accept)
	a.emit(bpf.RetConstant{Val: snaplen})
}

// assembler builds a classic BPF program with symbolic jump targets.
type assembler struct {
	ins    []bpf.Instruction
	labels map[string]int
	fixups []fixup
}

// fixup records a jump whose targets are labels ("" = next instruction).
type fixup struct {
	at              int
	ifTrue, ifFalse string
	always          bool // an unconditional jump to ifTrue
}

func (a *assembler) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *assembler) label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	a.labels[name] = len(a.ins)
}

func (a *assembler) jeq(val uint32, ifTrue, ifFalse string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: ifTrue, ifFalse: ifFalse})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: val})
}

func (a *assembler) jset(mask uint32, ifTrue, ifFalse string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: ifTrue, ifFalse: ifFalse})
	a.emit(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: mask})
}

func (a *assembler) ja(target string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: target, always: true})
	a.emit(bpf.Jump{})
}

// skip returns how many instructions a jump at index at must skip to land
// on label, checking that the jump goes forward and fits in max.
func (a *assembler) skip(at int, label string, max int) (uint32, error) {
	if label == "" {
		return 0, nil
	}
	target, ok := a.labels[label]
	if !ok {
		return 0, fmt.Errorf("capture: filter: undefined label %q", label)
	}
	d := target - at - 1
	if d < 0 || d > max {
		return 0, fmt.Errorf("capture: filter: jump to %q out of range (%d)", label, d)
	}
	return uint32(d), nil
}

func (a *assembler) assemble() ([]bpf.Instruction, error) {
	for _, f := range a.fixups {
		if f.always {
			d, err := a.skip(f.at, f.ifTrue, math.MaxInt32)
			if err != nil {
				return nil, err
			}
			a.ins[f.at] = bpf.Jump{Skip: d}
			continue
		}
		t, err := a.skip(f.at, f.ifTrue, 255)
		if err != nil {
			return nil, err
		}
		fl, err := a.skip(f.at, f.ifFalse, 255)
		if err != nil {
			return nil, err
		}
		j := a.ins[f.at].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(fl)
		a.ins[f.at] = j
	}
	if len(a.ins) > maxInstructions {
		return nil, fmt.Errorf("capture: filter: %d instructions, more than the kernel's %d", len(a.ins), maxInstructions)
	}
	return a.ins, nil
}
