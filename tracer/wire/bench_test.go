package wire

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// benchPackets decodes the TCP packets of the named captures, once per
// round, each round's connections on ports of their own and later in
// time, so that the annotator sees n new connections rather than the
// same ones again.
func benchPackets(b *testing.B, files []string, rounds int) []capture.Decoded {
	var ds []capture.Decoded
	for _, f := range files {
		pkts, err := capture.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range pkts {
			d, err := capture.Decode(p)
			if err == nil && d.TCP != nil {
				ds = append(ds, d)
			}
		}
	}
	if len(ds) == 0 {
		b.Fatal("no TCP packets")
	}
	span := ds[len(ds)-1].Time.Sub(ds[0].Time) + time.Second
	out := make([]capture.Decoded, 0, len(ds)*rounds)
	for r := range rounds {
		for _, d := range ds {
			d.Time = d.Time.Add(time.Duration(r) * span)
			d.Src, d.Dst = shiftPort(d.Src, r), shiftPort(d.Dst, r)
			out = append(out, d)
		}
	}
	return out
}

// shiftPort moves an ephemeral (client) port by r, leaving the
// server's (below 10000) alone.
func shiftPort(ap netip.AddrPort, r int) netip.AddrPort {
	if ap.Port() < 10000 {
		return ap
	}
	return netip.AddrPortFrom(ap.Addr(), uint16(10000+(int(ap.Port())-10000+r*7)%55000))
}

// runAnnotator feeds the packets through an Annotator, a new one each
// time round; ns/op and allocs/op are per packet.
func runAnnotator(b *testing.B, ds []capture.Decoded) {
	b.ReportAllocs()
	a := NewAnnotator()
	i := 0
	for b.Loop() {
		if i == len(ds) {
			a, i = NewAnnotator(), 0
		}
		a.Event(ds[i])
		i++
	}
}

// BenchmarkAnnotator annotates the TCP packets of this package's test
// captures (handshakes, data, losses, retransmissions, SACK, keep-alives,
// zero windows, closes) over and over, on new ports each round.
func BenchmarkAnnotator(b *testing.B) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pcap*"))
	if err != nil {
		b.Fatal(err)
	}
	runAnnotator(b, benchPackets(b, files, 50))
}

// BenchmarkAnnotatorFile annotates the TCP packets of the capture that
// $TCPTOUR_BENCH_PCAP names (such as one that
// `go run ./tracer/inspectbench -keep DIR` makes); skipped when unset.
func BenchmarkAnnotatorFile(b *testing.B) {
	f := os.Getenv("TCPTOUR_BENCH_PCAP")
	if f == "" {
		b.Skip("TCPTOUR_BENCH_PCAP names no capture")
	}
	runAnnotator(b, benchPackets(b, []string{f}, 1))
}

// BenchmarkTimelinePackets measures what the trace and the timeline add
// to printing a packet's event, as a capturing server prints: each of
// this package's test captures' TCP segments, annotated beforehand, is
// recorded in a Timeline without history (as the server's) and printed
// as JSON to io.Discard at a Flush every 1,024 events (the reference:
// the same events handed to the JSON printer in batches of 1,024).
// ns/op is per event; "x-print" is the timeline's time over the
// printer's alone, in the same run.
func BenchmarkTimelinePackets(b *testing.B) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pcap*"))
	if err != nil {
		b.Fatal(err)
	}
	a := NewAnnotator()
	var evs []tracer.Event
	for _, d := range benchPackets(b, files, 20) {
		evs = append(evs, a.Event(d))
	}
	const batch = 1024
	var printNs float64
	b.Run("print", func(b *testing.B) {
		b.ReportAllocs()
		p := tracer.NewJSON(io.Discard)
		buf := make([]tracer.Event, 0, batch)
		i := 0
		for b.Loop() {
			e := evs[i%len(evs)]
			e.Time, e.Seq = time.Now(), int64(i)
			buf = append(buf, e)
			if len(buf) == batch {
				if err := tracer.PrintBatch(p, buf); err != nil {
					b.Fatal(err)
				}
				buf = buf[:0]
			}
			i++
		}
		printNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("timeline", func(b *testing.B) {
		b.ReportAllocs()
		tl, _, err := NewTimeline("server", tracer.NewJSON(io.Discard), io.Discard, Config{Mode: ModeOff, History: tracer.NoHistory})
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			e := evs[i%len(evs)]
			e.Time = time.Now()
			tl.Trace().Record(&e)
			if i++; i%batch == 0 {
				if err := tl.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, _, err := tl.Close(); err != nil {
			b.Fatal(err)
		}
		if printNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/printNs, "x-print")
		}
	})
}
