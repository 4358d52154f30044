//go:build linux

package link_test

import (
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// BenchmarkLink measures a link without rules against the client
// namespace's own lo, in the same run, interleaved in chunks so that
// both see the machine at the same moment (docs/performance.md, "The
// link"):
//
//   - roundtrips: one byte each way on one connection, the next sent
//     when the last came back. Each op is a round trip through the link
//     and one over lo. It reports the round trips per second of each
//     and their ratio, the segments per second the link forwarded, and
//     the latency the link adds to a round trip: the median (p50) and
//     the 99th percentile of the round trips through the link minus
//     those over lo, in µs.
//   - bulk: 8 MiB written at once and read by the server, which answers
//     one byte at the end; each op is a transfer through the link and
//     one over lo. It reports MB/s (10⁶ bytes) of each and their ratio,
//     the segments per second the link forwarded (data and ACKs), and
//     the share of the client's data segments it sent again
//     (TCP_INFO's total_retrans over data_segs_out): the link loses the
//     frames it cannot take in time, as a wire would.
//
// Both use CUBIC, whatever the machine's default.
func BenchmarkLink(b *testing.B) {
	if noLab != "" {
		b.Skip(noLab)
	}
	var segs atomic.Int64
	l, err := link.New(link.Config{OnSegment: func(link.Segment) { segs.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	viaLink := func(b *testing.B) (net.Conn, net.Conn) {
		return benchPair(b, l, l.InServer, link.ServerAddr.String())
	}
	viaLo := func(b *testing.B) (net.Conn, net.Conn) {
		return benchPair(b, l, l.InClient, "127.0.0.1")
	}

	b.Run("roundtrips", func(b *testing.B) {
		lc, ls := viaLink(b)
		oc, osrv := viaLo(b)
		linkDone, loDone := echo(ls), echo(osrv)
		rtLink := make([]time.Duration, 0, b.N)
		rtLo := make([]time.Duration, 0, b.N)
		const chunk = 100
		segs.Store(0)
		b.ResetTimer()
		for i := 0; i < b.N; i += chunk {
			n := min(chunk, b.N-i)
			rtLink = roundTrips(b, lc, n, rtLink)
			rtLo = roundTrips(b, oc, n, rtLo)
		}
		b.StopTimer()
		forwarded := segs.Load()
		lc.Close()
		oc.Close()
		if err := <-linkDone; err != nil {
			b.Fatal(err)
		}
		if err := <-loDone; err != nil {
			b.Fatal(err)
		}
		tLink, tLo := sum(rtLink), sum(rtLo)
		b.ReportMetric(float64(b.N)/tLink.Seconds(), "link-rt/s")
		b.ReportMetric(float64(b.N)/tLo.Seconds(), "lo-rt/s")
		b.ReportMetric(tLo.Seconds()/tLink.Seconds(), "ratio-to-lo")
		b.ReportMetric(float64(forwarded)/tLink.Seconds(), "link-segments/s")
		p50Link, p99Link := percentile(rtLink, 50), percentile(rtLink, 99)
		p50Lo, p99Lo := percentile(rtLo, 50), percentile(rtLo, 99)
		b.ReportMetric(micros(p50Link), "link-p50-µs")
		b.ReportMetric(micros(p50Lo), "lo-p50-µs")
		b.ReportMetric(micros(p50Link-p50Lo), "added-p50-µs")
		b.ReportMetric(micros(p99Link-p99Lo), "added-p99-µs")
	})

	b.Run("bulk", func(b *testing.B) {
		const size = 8 << 20
		lc, ls := viaLink(b)
		oc, osrv := viaLo(b)
		defer lc.Close()
		defer ls.Close()
		defer oc.Close()
		defer osrv.Close()
		data := make([]byte, size)
		var tLink, tLo time.Duration
		segs.Store(0)
		b.ResetTimer()
		for range b.N {
			tLink += transfer(b, lc, ls, data)
			tLo += transfer(b, oc, osrv, data)
		}
		b.StopTimer()
		b.ReportMetric(float64(segs.Load())/tLink.Seconds(), "link-segments/s")
		// The segments the client sent again: a frame the link could
		// not take in time is lost, as on a wire.
		for _, x := range []struct {
			c    net.Conn
			unit string
		}{{lc, "link-retrans-%"}, {oc, "lo-retrans-%"}} {
			info, err := kernel.TCPInfo(x.c)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(100*float64(info.TotalRetrans)/float64(max(info.DataSegsOut, 1)), x.unit)
		}
		mbLink := float64(b.N) * size / tLink.Seconds() / 1e6
		mbLo := float64(b.N) * size / tLo.Seconds() / 1e6
		b.ReportMetric(mbLink, "link-MB/s")
		b.ReportMetric(mbLo, "lo-MB/s")
		b.ReportMetric(mbLink/mbLo, "ratio-to-lo")
	})
}

// benchPair connects a client in the link's client namespace to a
// server listening on host, in the namespace inListen runs in.
func benchPair(b *testing.B, l *link.Link, inListen func(func() error) error, host string) (net.Conn, net.Conn) {
	b.Helper()
	var ln net.Listener
	if err := inListen(func() (err error) { ln, err = net.Listen("tcp4", net.JoinHostPort(host, "0")); return err }); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		// NOTE: ignoring the error: a nil connection says it.
		c, _ := ln.Accept()
		accepted <- c
	}()
	var c net.Conn
	if err := l.InClient(func() (err error) { c, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
		b.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		b.Fatal("accept failed")
	}
	for _, conn := range []net.Conn{c, s} {
		if err := link.SetCongestion(conn.(*net.TCPConn), "cubic"); err != nil {
			b.Fatal(err)
		}
	}
	return c, s
}

// echo sends back what s reads until the client closes, then closes s.
func echo(s net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(s, s)
		s.Close()
		done <- err
	}()
	return done
}

// roundTrips sends one byte and waits for it to come back, n times, and
// appends the time each took to rts.
func roundTrips(b *testing.B, c net.Conn, n int, rts []time.Duration) []time.Duration {
	buf := []byte{1}
	for range n {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		rts = append(rts, time.Since(start))
	}
	return rts
}

// transfer writes data from c, which s reads all of before it answers one
// byte, and returns the time from the first write to the answer.
func transfer(b *testing.B, c, s net.Conn, data []byte) time.Duration {
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, s, int64(len(data)))
		if err == nil {
			_, err = s.Write([]byte{1})
		}
		done <- err
	}()
	start := time.Now()
	if _, err := c.Write(data); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
