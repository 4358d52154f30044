package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
)

// ngBuilder writes pcapng blocks by hand, in either byte order, so that
// tests can make what tools seldom write: big-endian sections, simple
// and obsolete packet blocks, comments everywhere.
type ngBuilder struct {
	buf   bytes.Buffer
	order binary.AppendByteOrder
}

type ngOpt struct {
	code uint16
	val  []byte
}

func (b *ngBuilder) opts(opts []ngOpt) []byte {
	var o []byte
	for _, op := range opts {
		o = b.order.AppendUint16(o, op.code)
		o = b.order.AppendUint16(o, uint16(len(op.val)))
		o = append(o, op.val...)
		for len(o)%4 != 0 {
			o = append(o, 0)
		}
	}
	if len(opts) > 0 {
		o = append(o, 0, 0, 0, 0)
	}
	return o
}

func (b *ngBuilder) block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	var blk []byte
	blk = b.order.AppendUint32(blk, typ)
	blk = b.order.AppendUint32(blk, n)
	blk = append(blk, body...)
	blk = b.order.AppendUint32(blk, n)
	b.buf.Write(blk)
}

func (b *ngBuilder) section(order binary.AppendByteOrder, opts ...ngOpt) {
	b.order = order
	var body []byte
	body = order.AppendUint32(body, ngByteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0))
	b.block(magicPcapng, append(body, b.opts(opts)...))
}

func (b *ngBuilder) iface(lt uint16, snaplen uint32, opts ...ngOpt) {
	var body []byte
	body = b.order.AppendUint16(body, lt)
	body = b.order.AppendUint16(body, 0)
	body = b.order.AppendUint32(body, snaplen)
	b.block(ngInterfaceDesc, append(body, b.opts(opts)...))
}

// epb writes an enhanced packet block; ts is in the interface's units.
func (b *ngBuilder) epb(id uint32, ts uint64, data []byte, origLen uint32, opts ...ngOpt) {
	var body []byte
	body = b.order.AppendUint32(body, id)
	body = b.order.AppendUint32(body, uint32(ts>>32))
	body = b.order.AppendUint32(body, uint32(ts))
	body = b.order.AppendUint32(body, uint32(len(data)))
	body = b.order.AppendUint32(body, origLen)
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	b.block(ngEnhancedPacket, append(body, b.opts(opts)...))
}

func (b *ngBuilder) obsolete(id uint16, ts uint64, data []byte) {
	var body []byte
	body = b.order.AppendUint16(body, id)
	body = b.order.AppendUint16(body, 0)
	body = b.order.AppendUint32(body, uint32(ts>>32))
	body = b.order.AppendUint32(body, uint32(ts))
	body = b.order.AppendUint32(body, uint32(len(data)))
	body = b.order.AppendUint32(body, uint32(len(data)))
	b.block(ngPacketObsolete, append(body, data...))
}

func (b *ngBuilder) spb(origLen uint32, data []byte) {
	body := b.order.AppendUint32(nil, origLen)
	b.block(ngSimplePacket, append(body, data...))
}

func str(code uint16, s string) ngOpt { return ngOpt{code, []byte(s)} }

// readAllNext reads r to its end with Next.
func readAllNext(t *testing.T, r *FileReader) ([]Packet, error) {
	t.Helper()
	var ps []Packet
	for {
		p, err := r.Next()
		if err == io.EOF {
			return ps, nil
		}
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
}

// multiSection builds the file TestFileReaderPcapng reads, and returns
// the frames it used.
func multiSection(t testing.TB) (file []byte, f1 []Packet, raw []byte) {
	f1 = testPackets(t, 3)
	raw = f1[2].Data[14:]
	var b ngBuilder
	b.section(binary.LittleEndian, str(1, "first section"), str(1, "second comment"), str(3, "Linux"))
	b.iface(uint16(layers.LinkTypeEthernet), 65535, str(2, "lo"), str(1, "loopback"), ngOpt{9, []byte{9}})
	b.iface(276, 0, str(3, "any"), ngOpt{9, []byte{0x80 | 20}}, ngOpt{14, binary.LittleEndian.AppendUint64(nil, 100)})
	b.epb(0, 1_700_000_000_123_456_789, f1[0].Data, uint32(len(f1[0].Data)+10), str(1, "a packet comment"), str(1, "and another"))
	b.epb(1, 5<<20|1<<19, make([]byte, 20), 20) // 5.5 s after 2^-20 units, +100 s offset
	b.block(0x0bad, []byte("custom block, skipped"))
	b.section(binary.BigEndian, str(1, "big-endian section"))
	b.iface(uint16(layers.LinkTypeRaw), 40) // µs, snaplen 40
	b.obsolete(0, 2_000_000, raw)
	b.spb(uint32(len(raw)), raw) // cut to the snap length 40
	b.block(ngInterfaceStats, append(make([]byte, 12), 0, 1, 0, 4, 'i', 's', 'b', '!', 0, 0, 0, 0))

	return b.buf.Bytes(), f1, raw
}

// TestFileReaderPcapng reads a file of two sections, little- then
// big-endian, with three interfaces of different link types,
// resolutions and offsets, section, interface and packet comments, and
// every kind of packet block.
func TestFileReaderPcapng(t *testing.T) {
	b, f1, raw := multiSection(t)
	r, err := newFileReader(bytes.NewReader(b), "test")
	if err != nil {
		t.Fatal(err)
	}
	if r.Format() != "pcapng" || r.Compressed() {
		t.Errorf("format %q compressed %v", r.Format(), r.Compressed())
	}
	ps, err := readAllNext(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("%d packets, want 4", len(ps))
	}
	type want struct {
		time      time.Time
		lt        layers.LinkType
		capLen    int
		length    int
		iface     int
		ifaceName string
		comment   string
	}
	wants := []want{
		{time.Unix(1_700_000_000, 123_456_789), layers.LinkTypeEthernet, len(f1[0].Data), len(f1[0].Data) + 10, 0, "lo", "a packet comment\nand another"},
		{time.Unix(105, 500_000_000), LinkTypeLinuxSLL2, 20, 20, 1, "any", ""},
		{time.Unix(2, 0), layers.LinkTypeRaw, len(raw), len(raw), 2, "interface 2", ""},
		{time.Time{}, layers.LinkTypeRaw, 40, len(raw), 2, "interface 2", ""},
	}
	for i, w := range wants {
		p := ps[i]
		if !p.Time.Equal(w.time) || p.LinkType != w.lt || len(p.Data) != w.capLen || p.Info.CaptureLength != w.capLen ||
			p.Info.Length != w.length || p.Info.InterfaceIndex != w.iface || p.Interface != w.ifaceName || p.Comment != w.comment {
			t.Errorf("packet %d: time %v lt %v caplen %d/%d len %d iface %d %q comment %q\nwant %+v",
				i+1, p.Time, p.LinkType, len(p.Data), p.Info.CaptureLength, p.Info.Length, p.Info.InterfaceIndex, p.Interface, p.Comment, w)
		}
	}
	if !bytes.Equal(ps[0].Data, f1[0].Data) || !bytes.Equal(ps[2].Data, raw) || !bytes.Equal(ps[3].Data, raw[:40]) {
		t.Errorf("packet data differs")
	}
	if got := strings.Join(r.Comments(), "|"); got != "first section|second comment|big-endian section" {
		t.Errorf("Comments() = %q", got)
	}
	ifs := r.Interfaces()
	if len(ifs) != 3 {
		t.Fatalf("%d interfaces", len(ifs))
	}
	if ifs[0].Name != "lo" || strings.Join(ifs[0].Comments, "|") != "loopback" || ifs[0].Snaplen != 65535 || ifs[0].Section != 0 ||
		ifs[1].Description != "any" || ifs[1].LinkType != LinkTypeLinuxSLL2 ||
		ifs[2].LinkType != layers.LinkTypeRaw || ifs[2].Section != 1 || ifs[2].Snaplen != 40 {
		t.Errorf("interfaces: %+v", ifs)
	}
	if r.Packets() != 4 {
		t.Errorf("Packets() = %d", r.Packets())
	}
	// Next goes on returning io.EOF.
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the end: %v", err)
	}
}

// bigEndianPcap writes ps as a big-endian pcap, as a SPARC or a
// PowerPC would.
func bigEndianPcap(ps []Packet, nano bool) []byte {
	var b []byte
	magic := uint32(magicPcapUsec)
	if nano {
		magic = magicPcapNsec
	}
	be := binary.BigEndian
	b = be.AppendUint32(b, magic)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = be.AppendUint64(b, 0)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, uint32(layers.LinkTypeEthernet))
	for _, p := range ps {
		frac := p.Time.Nanosecond()
		if !nano {
			frac /= 1000
		}
		b = be.AppendUint32(b, uint32(p.Time.Unix()))
		b = be.AppendUint32(b, uint32(frac))
		b = be.AppendUint32(b, uint32(len(p.Data)))
		b = be.AppendUint32(b, uint32(p.Info.Length))
		b = append(b, p.Data...)
	}
	return b
}

// TestFileReaderPcap reads pcap in both byte orders and resolutions,
// plain and gzip-compressed, from a file and from standard input.
func TestFileReaderPcap(t *testing.T) {
	want := testPackets(t, 6)
	wantUsec := make([]Packet, len(want))
	for i, p := range want {
		p.Time = p.Time.Truncate(time.Microsecond)
		wantUsec[i] = p
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	files := []struct {
		name string
		data []byte
		want []Packet
	}{
		{"le-nsec.pcap", writePcap(t, want, true), want},
		{"le-usec.pcap", writePcap(t, want, false), wantUsec},
		{"be-nsec.pcap", bigEndianPcap(want, true), want},
		{"be-usec.pcap", bigEndianPcap(want, false), wantUsec},
		{"compressed.pcap.gz", gz(writePcap(t, want, true)), want},
		{"compressed-without-suffix.pcapng", gz(writeNg(t, want)), want},
	}
	dir := t.TempDir()
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenFile(path)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		got, err := readAllNext(t, r)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("%s: Close: %v", f.name, err)
		}
		samePackets(t, got, f.want)
		if r.Compressed() != strings.Contains(f.name, "compressed") {
			t.Errorf("%s: Compressed() = %v", f.name, r.Compressed())
		}
		if ifs := r.Interfaces(); len(ifs) != 1 || ifs[0].LinkType != layers.LinkTypeEthernet {
			t.Errorf("%s: interfaces %+v", f.name, ifs)
		}
	}

	// "-" is standard input.
	path := filepath.Join(dir, "compressed.pcap.gz")
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	defer func(f *os.File) { os.Stdin = f }(os.Stdin)
	os.Stdin = in
	r, err := OpenFile("-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllNext(t, r)
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, got, want)
	r.Close()
	if _, err := in.Stat(); err != nil {
		t.Errorf("Close closed standard input: %v", err)
	}
	if got, err := ReadFile(path); err != nil {
		t.Errorf("ReadFile of a gzip file: %v", err)
	} else {
		samePackets(t, got, want)
	}
}

// TestFileReaderDamaged: a damaged file gives the packets before the
// damage, then an error naming the packet and its byte offset, then the
// same error again.
func TestFileReaderDamaged(t *testing.T) {
	want := testPackets(t, 3)
	b := writePcap(t, want, true)
	second := 24 + 16 + len(want[0].Data)
	for name, tc := range map[string]struct {
		data []byte
		msg  string
		cut  bool
	}{
		"cut in the third packet": {b[:len(b)-1], "file truncated at packet 3, byte " + strconv.Itoa(second+16+len(want[1].Data)) + " (2 complete packets read)", true},
		"huge second packet": {func() []byte {
			c := bytes.Clone(b)
			binary.LittleEndian.PutUint32(c[second+8:], 1<<30)
			return c
		}(), "reading packet 2: capture length exceeds snap length: 1073741824 > 262144 (at byte " + strconv.Itoa(second) + ")", false},
	} {
		r, err := newFileReader(bytes.NewReader(tc.data), "test.pcap")
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAllNext(t, r)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || errors.Is(err, ErrTruncated) != tc.cut {
			t.Errorf("%s: error %v, want %q", name, err, tc.msg)
		}
		if !strings.HasPrefix(err.Error(), "capture: read test.pcap: ") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		samePackets(t, got, want[:len(got)])
		if _, err2 := r.Next(); err2 != err {
			t.Errorf("%s: next error %v, want the same", name, err2)
		}
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestFileReaderAllocs: reading costs one allocation per packet (its
// Data) and memory that does not grow with the file.
func TestFileReaderAllocs(t *testing.T) {
	ps := testPackets(t, 200)
	for name, b := range map[string][]byte{"pcap": writePcap(t, ps, true), "pcapng": writeNg(t, ps)} {
		src := bytes.NewReader(b)
		r, err := newFileReader(src, name)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := r.Next(); err == io.EOF {
				src.Reset(b)
				r, _ = newFileReader(src, name)
			}
		})
		if allocs > 1.1 {
			t.Errorf("%s: %.2f allocations per packet, want 1", name, allocs)
		}
	}
}

// FuzzOpenFile: go test -fuzz FuzzOpenFile ./tracer/capture. Any input
// gives packets and an error, never a panic, a hang or a huge
// allocation.
func FuzzOpenFile(f *testing.F) {
	ng, _, _ := multiSection(f)
	f.Add(ng)
	f.Add(writeNgF(f))
	f.Add(writePcap(f, testPackets(f, 2), true))
	f.Add(bigEndianPcap(testPackets(f, 2), false))
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(ng)
	w.Close()
	f.Add(gz.Bytes())
	for _, name := range []string{"snaplen60.pcap", "twoif.pcapng"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := newFileReader(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		for n := 0; ; n++ {
			p, err := r.Next()
			if err != nil {
				if err != io.EOF && !strings.HasPrefix(err.Error(), "capture: read fuzz: ") {
					t.Fatalf("error %q", err)
				}
				break
			}
			if len(p.Data) != p.Info.CaptureLength || p.Info.InterfaceIndex >= len(r.Interfaces()) {
				t.Fatalf("packet %d: %d bytes, caplen %d, interface %d of %d", n, len(p.Data), p.Info.CaptureLength, p.Info.InterfaceIndex, len(r.Interfaces()))
			}
			if n > len(b) && !r.Compressed() {
				t.Fatalf("%d packets from %d bytes", n, len(b))
			}
		}
	})
}

// TestFileReaderRealFiles reads the captures makecaps made with tcpdump
// and dumpcap (testdata/README.md); the counts, lengths and times are
// tshark's (tshark -r F -T fields -e frame.time_epoch -e frame.cap_len
// -e frame.len -e frame.interface_name -e frame.comment).
func TestFileReaderRealFiles(t *testing.T) {
	for _, tc := range []struct {
		file               string
		n                  int
		lt                 layers.LinkType
		first, last        string // time_epoch
		firstCap, firstLen int
		lastCap, lastLen   int
		ifaces             []string
		sectionComments    []string
	}{
		{"lo.pcap", 49, layers.LinkTypeEthernet, "1796477441.835906000", "1796477441.839567000", 74, 74, 66, 66, nil, nil},
		{"snaplen60.pcap", 25, layers.LinkTypeEthernet, "1796477441.835906000", "1796477441.839567000", 60, 74, 60, 66, nil, nil},
		{"snaplen96.pcap", 25, layers.LinkTypeEthernet, "1796477441.835905000", "1796477441.839567000", 74, 74, 66, 66, nil, nil},
		{"any-sll.pcap", 11, layers.LinkTypeLinuxSLL, "1796477441.835905000", "1796477441.839293000", 76, 76, 57, 57, nil, nil},
		{"any-sll2.pcap", 11, LinkTypeLinuxSLL2, "1796477441.835905000", "1796477441.839292000", 80, 80, 61, 61, nil, nil},
		{"twoif.pcapng", 6, layers.LinkTypeEthernet, "1796477440.869745234", "1796477440.869929426", 46, 46, 46, 46,
			[]string{"lo", "lo", "lo", "d0", "d0", "d0"}, []string{"makecaps: 3 datagrams on lo, 3 out through d0"}},
		{"sections.pcapng", 8, layers.LinkTypeEthernet, "1796477440.869745234", "1796477441.504614008", 46, 46, 58, 58,
			[]string{"lo", "lo", "lo", "d0", "d0", "d0", "lo", "lo"}, []string{"makecaps: 3 datagrams on lo, 3 out through d0"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := OpenFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ps, err := readAllNext(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != tc.n {
				t.Fatalf("%d packets, want %d", len(ps), tc.n)
			}
			epoch := func(p Packet) string { return fmt.Sprintf("%d.%09d", p.Time.Unix(), p.Time.Nanosecond()) }
			first, last := ps[0], ps[len(ps)-1]
			if epoch(first) != tc.first || epoch(last) != tc.last || len(first.Data) != tc.firstCap || first.Info.Length != tc.firstLen ||
				len(last.Data) != tc.lastCap || last.Info.Length != tc.lastLen {
				t.Errorf("first %s %d/%d, last %s %d/%d", epoch(first), len(first.Data), first.Info.Length, epoch(last), len(last.Data), last.Info.Length)
			}
			for i, p := range ps {
				if p.LinkType != tc.lt {
					t.Errorf("packet %d: link type %v", i+1, p.LinkType)
				}
				if tc.ifaces != nil && p.Interface != tc.ifaces[i] {
					t.Errorf("packet %d: interface %q, want %q", i+1, p.Interface, tc.ifaces[i])
				}
				want := ""
				if i == 1 && tc.ifaces != nil {
					want = "makecaps: the second packet"
				}
				if p.Comment != want {
					t.Errorf("packet %d: comment %q, want %q", i+1, p.Comment, want)
				}
			}
			if !slices.Equal(r.Comments(), tc.sectionComments) {
				t.Errorf("section comments %q", r.Comments())
			}
		})
	}
}
