package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func testPackets(t testing.TB, n int) []Packet {
	base := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	var ps []Packet
	for i := range n {
		f := ethFrame(t, frameSpec{sport: 6969, dport: uint16(40000 + i), tcpFlags: PSH | ACK, payload: bytes.Repeat([]byte{'x'}, i)})
		ts := base.Add(time.Duration(i) * time.Microsecond)
		ps = append(ps, Packet{Time: ts, Data: f, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f) + i%2}, LinkType: layers.LinkTypeEthernet})
	}
	return ps
}

func samePackets(t *testing.T, got, want []Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || !bytes.Equal(g.Data, w.Data) || g.LinkType != w.LinkType || g.Info.Length != w.Info.Length || g.Info.CaptureLength != len(w.Data) {
			t.Fatalf("packet %d differs:\n got %v %v len %d/%d\nwant %v %v len %d/%d", i, g.Time, g.LinkType, g.Info.CaptureLength, g.Info.Length, w.Time, w.LinkType, len(w.Data), w.Info.Length)
		}
	}
}

// TestFileWriterCompleteAfterFlush writes packets one by one and reads
// the file back after every Write and Flush (without Close, as after a
// kill): it is always complete, with every packet so far, and has mode
// 0600 even when it replaced a file with another mode.
func TestFileWriterCompleteAfterFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.pcapng")
	if err := os.WriteFile(path, []byte("old contents, longer than nothing"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := ReadFile(path)
	if err != nil || len(got) != 0 {
		t.Fatalf("fresh file: %d packets, %v", len(got), err)
	}
	want := testPackets(t, 20)
	for i, p := range want {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatalf("after write %d: %v", i+1, err)
		}
		samePackets(t, got, want[:i+1])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(want[0]); err == nil {
		t.Errorf("Write after Close succeeded")
	}
	if err := w.Flush(); err == nil {
		t.Errorf("Flush after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A packet of another link type gets its own interface.
	w2, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	raw := Packet{Time: want[0].Time, Data: want[0].Data[14:], LinkType: layers.LinkTypeRaw}
	if err := w2.Write(want[0]); err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	got, err = ReadFile(path)
	if err != nil || len(got) != 2 || got[1].LinkType != layers.LinkTypeRaw || !bytes.Equal(got[1].Data, raw.Data) {
		t.Fatalf("mixed link types: %d packets, %v", len(got), err)
	}
}

// TestFileWriterBuffers writes many packets, more than the writer's
// buffer holds: the file holds whole packets at any time, the first
// ones, and every one of them after Flush, in order and as they were;
// Close adds nothing after a Flush.
func TestFileWriterBuffers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.pcapng")
	w, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	want := testPackets(t, 600) // 600 packets, 0 to 599 bytes of data: 228 KiB
	partial := 0                // times the file held some of the packets, before Flush
	for i, p := range want {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if i%23 == 0 {
			// What is written out so far is whole packets, the first ones.
			got, err := ReadFile(path)
			if err != nil {
				t.Fatalf("after write %d, before Flush: %v", i+1, err)
			}
			samePackets(t, got, want[:len(got)])
			if len(got) > 0 && len(got) < i+1 {
				partial++
			}
		}
	}
	if partial == 0 {
		t.Errorf("the file never held part of the packets before Flush: not buffered, or never written out when full")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, got, want)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(path); err != nil || fi2.Size() != fi.Size() {
		t.Errorf("Close after Flush changed the file: %d bytes, then %v (%v)", fi.Size(), fi2.Size(), err)
	}
}

// A packet as large as a segment on lo (a 65,549-byte frame, more than
// is left in the buffer) and the largest one written between small ones
// leave the file, before any Flush, ending with a whole packet.
func TestFileWriterBigPackets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.pcapng")
	w, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	small := testPackets(t, 200)
	var want []Packet
	for i, size := range []int{65549, MaxRecordLen, 65549, 1 << 17} {
		for _, p := range small[:60+i*7] {
			want = append(want, p)
		}
		data := bytes.Repeat([]byte{byte(i + 1)}, size)
		copy(data, small[0].Data[:54]) // Ethernet, IPv4, TCP headers
		ts := small[0].Time.Add(time.Duration(i+1) * time.Second)
		want = append(want, Packet{Time: ts, Data: data, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: size, Length: size}, LinkType: layers.LinkTypeEthernet})
	}
	for i, p := range want {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatalf("after write %d (%d bytes), before Flush: %v", i+1, len(p.Data), err)
		}
		samePackets(t, got, want[:len(got)])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, got, want)
}

// writePcap writes ps as a classic pcap file with the given resolution.
func writePcap(t testing.TB, ps []Packet, nano bool) []byte {
	var buf bytes.Buffer
	var w *pcapgo.Writer
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	} else {
		w = pcapgo.NewWriter(&buf)
	}
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.WritePacket(p.Info, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writeNg(t *testing.T, ps []Packet) []byte {
	path := filepath.Join(t.TempDir(), "x.pcapng")
	w, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readBytes is ReadFile without the file.
func readBytes(t *testing.T, b []byte) ([]Packet, error) {
	return readCapture(bytes.NewReader(b))
}

// TestReadFilePcap reads classic pcap (micro- and nanosecond) by magic.
func TestReadFilePcap(t *testing.T) {
	want := testPackets(t, 5)
	got, err := readBytes(t, writePcap(t, want, true))
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, got, want)
	got, err = readBytes(t, writePcap(t, want, false))
	if err != nil || len(got) != 5 || !got[4].Time.Equal(want[4].Time.Truncate(time.Microsecond)) {
		t.Fatalf("usec pcap: %d packets, %v", len(got), err)
	}
}

// TestReadFileTruncated cuts pcap and pcapng files at every byte: no
// panic, the complete packets before the cut are returned, and a cut
// inside a packet is an error matching ErrTruncated naming that packet.
func TestReadFileTruncated(t *testing.T) {
	want := testPackets(t, 4)
	for name, b := range map[string][]byte{"pcap": writePcap(t, want, true), "pcapng": writeNg(t, want)} {
		t.Run(name, func(t *testing.T) {
			// Where each packet record ends.
			var ends []int
			for n := 0; n <= len(b); n++ {
				got, err := readBytes(t, b[:n])
				if err == nil {
					if len(got) > len(ends) {
						ends = append(ends, n)
					}
					continue
				}
				if !errors.Is(err, ErrTruncated) {
					if n >= 4 {
						t.Fatalf("cut at %d: error %v does not match ErrTruncated", n, err)
					}
					continue
				}
				if len(got) > len(want) {
					t.Fatalf("cut at %d: %d packets", n, len(got))
				}
				samePackets(t, got, want[:len(got)])
				if name == "pcapng" && n > 64 && !strings.Contains(err.Error(), "at packet") {
					t.Errorf("cut at %d: %v", n, err)
				}
			}
			if len(ends) != len(want) {
				t.Errorf("complete prefixes for %d packets, want %d", len(ends), len(want))
			}
		})
	}
	_, err := readBytes(t, writeNg(t, want)[:100])
	t.Logf("example: %v", err)
}

// TestReadFileGarbage: wrong magic, empty, gzip, absurd lengths and
// resolutions give errors, not panics or huge allocations.
func TestReadFileGarbage(t *testing.T) {
	if _, err := readBytes(t, nil); err == nil {
		t.Errorf("empty file: no error")
	}
	if _, err := readBytes(t, []byte("hello, world")); err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng") {
		t.Errorf("text: %v", err)
	}
	if _, err := readBytes(t, []byte{0x1f, 0x8b, 8, 0, 0, 0}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("gzip: %v", err)
	}
	ng := writeNg(t, testPackets(t, 2))
	shbLen := int(binary.LittleEndian.Uint32(ng[4:8]))
	idbLen := int(binary.LittleEndian.Uint32(ng[shbLen+4:]))
	epb := shbLen + idbLen
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(ng)
		f(b)
		return b
	}
	cases := map[string][]byte{
		"huge block length":   mod(func(b []byte) { binary.LittleEndian.PutUint32(b[epb+4:], 0xfffffff0) }),
		"odd block length":    mod(func(b []byte) { binary.LittleEndian.PutUint32(b[epb+4:], 33) }),
		"tiny block length":   mod(func(b []byte) { binary.LittleEndian.PutUint32(b[epb+4:], 8) }),
		"huge captured len":   mod(func(b []byte) { binary.LittleEndian.PutUint32(b[epb+20:], 0xffffff00) }),
		"caplen beyond block": mod(func(b []byte) { binary.LittleEndian.PutUint32(b[epb+20:], 10000) }),
		"bad trailer":         mod(func(b []byte) { binary.LittleEndian.PutUint32(b[shbLen-4:], 4) }),
		"bad byte order":      mod(func(b []byte) { b[8] = 0 }),
		"link type 300":       mod(func(b []byte) { binary.LittleEndian.PutUint16(b[shbLen+8:], 300) }),
		"packet before interface": func() []byte {
			b := bytes.Clone(ng[:shbLen])
			return append(b, ng[epb:]...)
		}(),
	}
	// A timestamp resolution of 2^-127 made NgReader divide by zero.
	idbOpts := bytes.Index(ng[shbLen:epb], []byte{9, 0, 1, 0, 9})
	if idbOpts < 0 {
		t.Fatal("no if_tsresol option in test file")
	}
	cases["tsresol 2^-127"] = mod(func(b []byte) { b[shbLen+idbOpts+4] = 0xff })
	cases["tsresol 10^-127"] = mod(func(b []byte) { b[shbLen+idbOpts+4] = 0x7f })
	for name, b := range cases {
		got, err := readBytes(t, b)
		if err == nil {
			t.Errorf("%s: no error (%d packets)", name, len(got))
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// pcap with an absurd snaplen in the header still reads, and an absurd
	// captured length is refused before allocating.
	pc := writePcap(t, testPackets(t, 2), true)
	binary.LittleEndian.PutUint32(pc[16:], 0xffffffff)
	if got, err := readBytes(t, pc); err != nil || len(got) != 2 {
		t.Errorf("pcap snaplen 2^32-1: %d packets, %v", len(got), err)
	}
	binary.LittleEndian.PutUint32(pc[24+8:], 0xfffffff0)
	if _, err := readBytes(t, pc); err == nil {
		t.Errorf("pcap huge caplen: no error")
	}
}

// TestReadFileLimits lowers the packet and byte caps and checks ReadFile
// stops at them with a clear error.
func TestReadFileLimits(t *testing.T) {
	b := writeNg(t, testPackets(t, 10))
	defer func(p, n int) { fileLimitPackets, fileLimitBytes = p, n }(fileLimitPackets, fileLimitBytes)
	fileLimitPackets = 5
	got, err := readBytes(t, b)
	if err == nil || len(got) != 5 || !strings.Contains(err.Error(), "more than 5 packets") {
		t.Errorf("packet cap: %d packets, %v", len(got), err)
	}
	fileLimitPackets, fileLimitBytes = MaxFilePackets, 200
	got, err = readBytes(t, b)
	if err == nil || len(got) == 0 || len(got) == 10 || !strings.Contains(err.Error(), "bytes of packets") {
		t.Errorf("byte cap: %d packets, %v", len(got), err)
	}
}

// TestReadFileRandom mutates valid files at random: never a panic.
func TestReadFileRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seeds := [][]byte{writeNg(t, testPackets(t, 3)), writePcap(t, testPackets(t, 3), true)}
	for i := 0; i < 5000; i++ {
		b := bytes.Clone(seeds[i%2])
		for range 1 + rng.IntN(4) {
			b[4+rng.IntN(len(b)-4)] = byte(rng.Uint32())
		}
		b = b[:rng.IntN(len(b)+1)]
		_, _ = readCapture(bytes.NewReader(b))
	}
}

// FuzzReadFile: go test -fuzz FuzzReadFile ./tracer/capture
func FuzzReadFile(f *testing.F) {
	f.Add(writeNgF(f))
	f.Add(writePcap(f, testPackets(f, 2), true))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = readCapture(bytes.NewReader(b))
	})
}

func writeNgF(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "seed.pcapng")
	w, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range testPackets(f, 3) {
		if err := w.Write(p); err != nil {
			f.Fatal(err)
		}
	}
	w.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
