package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

// runVM runs the port filter (no packet-type check) in x/net/bpf's VM.
func runVM(t *testing.T, prog []bpf.Instruction, frame []byte) int {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The VM returns the program's value; the kernel keeps at most the
	// frame.
	return min(n, len(frame))
}

// TestFilterBody runs the kernel filter's port program in x/net/bpf's VM on
// hand-built frames: TCP/UDP over IPv4 (with and without IP options) and
// IPv6 are kept when either port matches, everything else is dropped.
func TestFilterBody(t *testing.T) {
	const snaplen = 200
	prog, err := filterBody([]uint16{8080, 6969}, []uint16{53531}, snaplen)
	if err != nil {
		t.Fatal(err)
	}
	// An IPv4 option (router alert, 4 bytes) makes IHL 6: the ports move.
	ra := []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	long := make([]byte, 500)
	cases := []struct {
		name string
		s    frameSpec
		keep bool
	}{
		{"v4 tcp dst", frameSpec{sport: 40000, dport: 8080}, true},
		{"v4 tcp src", frameSpec{sport: 6969, dport: 40000}, true},
		{"v4 tcp other", frameSpec{sport: 40000, dport: 8081}, false},
		{"v4 tcp port only in udp set", frameSpec{sport: 40000, dport: 53531}, false},
		{"v4 udp dst", frameSpec{udp: true, sport: 40000, dport: 53531}, true},
		{"v4 udp src", frameSpec{udp: true, sport: 53531, dport: 40000}, true},
		{"v4 udp port only in tcp set", frameSpec{udp: true, sport: 40000, dport: 8080}, false},
		{"v4 tcp with ip options", frameSpec{sport: 40000, dport: 8080, ipOpts: ra}, true},
		{"v4 tcp with ip options other", frameSpec{sport: 40000, dport: 1, ipOpts: ra}, false},
		{"v4 non-first fragment", frameSpec{sport: 40000, dport: 8080, fragOff: 10}, false},
		{"v6 tcp", frameSpec{v6: true, sport: 40000, dport: 8080}, true},
		{"v6 tcp src", frameSpec{v6: true, sport: 6969, dport: 40000}, true},
		{"v6 tcp other", frameSpec{v6: true, sport: 40000, dport: 9}, false},
		{"v6 udp", frameSpec{v6: true, udp: true, sport: 53531, dport: 40000}, true},
		{"v6 udp other", frameSpec{v6: true, udp: true, sport: 53530, dport: 40000}, false},
		{"long frame truncated", frameSpec{sport: 40000, dport: 8080, payload: long}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := ethFrame(t, tc.s)
			got := runVM(t, prog, f)
			want := 0
			if tc.keep {
				want = min(len(f), snaplen)
			}
			if got != want {
				t.Errorf("filter returned %d, want %d", got, want)
			}
		})
	}
	// An IPv4 header with options where the bytes that would be the ports
	// if the header were 20 bytes long are 8080: must be dropped.
	t.Run("v4 ports read after IHL", func(t *testing.T) {
		opt := []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0x1f, 0x90}}}
		f := ethFrame(t, frameSpec{sport: 1, dport: 2, ipOpts: opt})
		if binary.BigEndian.Uint16(f[14+20+2:]) != 8080 {
			t.Fatalf("test frame not as intended: % x", f[14+20:14+24])
		}
		if got := runVM(t, prog, f); got != 0 {
			t.Errorf("kept a frame by the bytes of its IP options")
		}
	})
	// Not IP at all, and IP but not TCP/UDP.
	t.Run("arp", func(t *testing.T) {
		f := make([]byte, 42)
		binary.BigEndian.PutUint16(f[12:], 0x0806)
		if got := runVM(t, prog, f); got != 0 {
			t.Errorf("kept ARP")
		}
	})
	t.Run("icmp", func(t *testing.T) {
		f := ethFrame(t, frameSpec{sport: 8080, dport: 8080})
		f[14+9] = 1 // protocol ICMP; the "ports" still read 8080
		if got := runVM(t, prog, f); got != 0 {
			t.Errorf("kept ICMP")
		}
	})
	t.Run("short frames", func(t *testing.T) {
		f := ethFrame(t, frameSpec{sport: 40000, dport: 8080})
		for n := 0; n < 14+20+4; n++ {
			if got := runVM(t, prog, f[:n]); got != 0 {
				t.Errorf("kept a %d-byte frame", n)
			}
		}
	})
}

// TestFilterNoPorts checks that empty port sets keep nothing.
func TestFilterNoPorts(t *testing.T) {
	prog, err := filterBody(nil, nil, DefaultSnaplen)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []frameSpec{{sport: 1, dport: 2}, {udp: true, sport: 1, dport: 2}, {v6: true, sport: 1, dport: 2}} {
		if got := runVM(t, prog, ethFrame(t, s)); got != 0 {
			t.Errorf("%+v kept with no ports", s)
		}
	}
}

// TestFilterManyPorts checks that the largest port sets assemble (jumps
// stay in range) and every port is matched, and that more are refused.
func TestFilterManyPorts(t *testing.T) {
	var tcp, udp []uint16
	for i := range MaxPorts + 1 { // +1: the Sync marker port
		tcp = append(tcp, uint16(1000+i))
		udp = append(udp, uint16(2000+i))
	}
	prog, err := filterBody(tcp, udp, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatal(err)
	}
	for _, p := range tcp {
		if runVM(t, prog, ethFrame(t, frameSpec{sport: 1, dport: p})) == 0 {
			t.Errorf("tcp port %d dropped", p)
		}
		if runVM(t, prog, ethFrame(t, frameSpec{v6: true, sport: p, dport: 1})) == 0 {
			t.Errorf("v6 tcp port %d dropped", p)
		}
	}
	for _, p := range udp {
		if runVM(t, prog, ethFrame(t, frameSpec{udp: true, sport: p, dport: 1})) == 0 {
			t.Errorf("udp port %d dropped", p)
		}
	}
	if _, err := filterBody(append(tcp, 9999), nil, 100); err == nil {
		t.Errorf("too many ports accepted")
	}
}

// TestFilterDropsOutgoing runs the whole program, packet-type check
// included, in a small interpreter (x/net/bpf's VM cannot load the packet
// type): the outgoing copy (type 4) is dropped, the incoming copy (type 0,
// PACKET_HOST) is kept.
func TestFilterDropsOutgoing(t *testing.T) {
	prog, err := buildFilter([]uint16{8080}, nil, 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	f := ethFrame(t, frameSpec{sport: 40000, dport: 8080})
	other := ethFrame(t, frameSpec{sport: 40000, dport: 8081})
	for _, tc := range []struct {
		frame   []byte
		pkttype uint32
		want    int
	}{
		{f, 0, len(f)}, {f, 4, 0}, {other, 0, 0}, {other, 4, 0},
	} {
		got, err := runClassic(raw, tc.frame, tc.pkttype)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("pkttype %d: got %d, want %d", tc.pkttype, got, tc.want)
		}
	}
}

// runClassic interprets the subset of classic BPF the filter uses, with
// the packet type extension, as the kernel does (out-of-bounds load drops).
func runClassic(prog []bpf.RawInstruction, pkt []byte, pkttype uint32) (int, error) {
	const (
		clsLD, clsLDX, clsJMP, clsRET = 0x00, 0x01, 0x05, 0x06
		modeABS, modeIND, modeMSH     = 0x20, 0x40, 0xa0
		sizeW, sizeH, sizeB           = 0x00, 0x08, 0x10
		jA, jEQ, jSET                 = 0x00, 0x10, 0x40
		extOff                        = 0xfffff000
		extPktType                    = 4
	)
	var a, x uint32
	load := func(off uint32, size uint16) (uint32, bool) {
		n := map[uint16]uint32{sizeW: 4, sizeH: 2, sizeB: 1}[size]
		if uint64(off)+uint64(n) > uint64(len(pkt)) {
			return 0, false
		}
		switch n {
		case 4:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return uint32(pkt[off]), true
	}
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Op & 0x07 {
		case clsLD:
			var ok bool
			switch ins.Op & 0xe0 {
			case modeABS:
				if ins.K == extOff+extPktType {
					a, ok = pkttype, true
				} else {
					a, ok = load(ins.K, ins.Op&0x18)
				}
			case modeIND:
				a, ok = load(x+ins.K, ins.Op&0x18)
			default:
				return 0, fmt.Errorf("unsupported ld %#x", ins.Op)
			}
			if !ok {
				return 0, nil
			}
		case clsLDX:
			if ins.Op&0xe0 != modeMSH {
				return 0, fmt.Errorf("unsupported ldx %#x", ins.Op)
			}
			b, ok := load(ins.K, sizeB)
			if !ok {
				return 0, nil
			}
			x = 4 * (b & 0x0f)
		case clsJMP:
			var cond bool
			switch ins.Op & 0xf0 {
			case jA:
				pc += int(ins.K)
				continue
			case jEQ:
				cond = a == ins.K
			case jSET:
				cond = a&ins.K != 0
			default:
				return 0, fmt.Errorf("unsupported jmp %#x", ins.Op)
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case clsRET:
			return int(min(ins.K, uint32(len(pkt)))), nil
		default:
			return 0, fmt.Errorf("unsupported op %#x", ins.Op)
		}
	}
	return 0, fmt.Errorf("fell off the end")
}

// TestRunClassicAgreesWithVM cross-checks the test interpreter against
// x/net/bpf's VM on the port program, so TestFilterDropsOutgoing can be
// trusted.
func TestRunClassicAgreesWithVM(t *testing.T) {
	body, err := filterBody([]uint16{8080}, []uint16{53}, 300)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bpf.Assemble(body)
	if err != nil {
		t.Fatal(err)
	}
	ra := []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	for _, s := range []frameSpec{
		{sport: 1, dport: 8080}, {sport: 1, dport: 8081}, {udp: true, sport: 53, dport: 1},
		{v6: true, sport: 8080, dport: 1}, {sport: 1, dport: 8080, ipOpts: ra}, {sport: 1, dport: 8080, fragOff: 1},
		{sport: 1, dport: 8080, payload: make([]byte, 400)},
	} {
		f := ethFrame(t, s)
		for _, n := range []int{len(f), 30, 14} {
			want := runVM(t, body, f[:n])
			got, err := runClassic(raw, f[:n], 0)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%+v[:%d]: interpreter %d, VM %d", s, n, got, want)
			}
		}
	}
	_ = net.IPv4len
}
