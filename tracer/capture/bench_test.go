package capture

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

// benchFile is a pcap of n frames: the frames of lo.pcap over and over
// (TCP with and without options, DNS, fragments, ICMP).
func benchFile(b *testing.B, n int) []byte {
	pkts, err := ReadFile(filepath.Join("testdata", "lo.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	ps := make([]Packet, n)
	for i := range ps {
		ps[i] = pkts[i%len(pkts)]
	}
	return writePcap(b, ps, true)
}

// BenchmarkFileReader reads a pcap file of 10,000 packets with Next;
// ns/op is per packet.
func BenchmarkFileReader(b *testing.B) {
	const n = 10000
	file := benchFile(b, n)
	b.SetBytes(int64(len(file) / n))
	b.ReportAllocs()
	src := bytes.NewReader(file)
	r, err := newFileReader(src, "bench")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Next(); err == io.EOF {
			src.Reset(file)
			r, _ = newFileReader(src, "bench")
		}
	}
}

// BenchmarkDecoder decodes the frames of lo.pcap with a Decoder; ns/op
// is per packet.
func BenchmarkDecoder(b *testing.B) {
	pkts, err := ReadFile(filepath.Join("testdata", "lo.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	dc := NewDecoder()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dc.Decode(pkts[i%len(pkts)])
		i++
	}
}

// BenchmarkDecodeTCP decodes a TCP data segment with timestamps, the
// commonest packet of a capture.
func BenchmarkDecodeTCP(b *testing.B) {
	pkts, err := ReadFile(filepath.Join("testdata", "lo.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	p := pkts[3] // 2,000 bytes of data
	b.ReportAllocs()
	for b.Loop() {
		Decode(p)
	}
}
