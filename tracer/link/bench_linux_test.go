//go:build linux

package link_test

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"tcptour/tracer/link"
)

// BenchmarkLinkForward measures the link without rules against the
// client namespace's own lo, in the same run: round trips of one byte
// each way (the segments the link forwards per second), and a bulk
// transfer's throughput.
func BenchmarkLinkForward(b *testing.B) {
	if noLab != "" {
		b.Skip(noLab)
	}
	var segs atomic.Int64
	l, err := link.New(link.Config{OnSegment: func(link.Segment) { segs.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Two pairs of ends: through the link, and over lo in the client's
	// namespace.
	pair := func(inListen func(func() error) error, addr string) (net.Conn, net.Conn) {
		var ln net.Listener
		if err := inListen(func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
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
		return c, s
	}
	pingPong := func(c, s net.Conn, n int) time.Duration {
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 1)
			for range n {
				if _, err := io.ReadFull(s, buf); err != nil {
					done <- err
					return
				}
				if _, err := s.Write(buf); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		buf := make([]byte, 1)
		start := time.Now()
		for range n {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return took
	}
	bulk := func(c, s net.Conn, size int) time.Duration {
		done := make(chan error, 1)
		go func() {
			_, err := io.CopyN(io.Discard, s, int64(size))
			if err == nil {
				_, err = s.Write([]byte{1})
			}
			done <- err
		}()
		data := make([]byte, size)
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
	lc, ls := pair(l.InServer, net.JoinHostPort(link.ServerAddr.String(), "7001"))
	defer lc.Close()
	defer ls.Close()
	loc, los := pair(l.InClient, "127.0.0.1:7002")
	defer loc.Close()
	defer los.Close()

	b.Run("roundtrips", func(b *testing.B) {
		segs.Store(0)
		viaLink := pingPong(lc, ls, b.N)
		n := segs.Load()
		viaLo := pingPong(loc, los, b.N)
		b.ReportMetric(float64(n)/viaLink.Seconds(), "segments/s")
		b.ReportMetric(float64(b.N)/viaLink.Seconds(), "roundtrips/s")
		b.ReportMetric(viaLo.Seconds()/viaLink.Seconds(), "ratio-to-lo")
	})
	b.Run("bulk", func(b *testing.B) {
		const size = 8 << 20
		var viaLink, viaLo time.Duration
		for range b.N {
			viaLink += bulk(lc, ls, size)
			viaLo += bulk(loc, los, size)
		}
		b.ReportMetric(float64(b.N*size)/viaLink.Seconds()/1e6, "MB/s")
		b.ReportMetric(viaLo.Seconds()/viaLink.Seconds(), "ratio-to-lo")
	})
}
