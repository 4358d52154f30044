//go:build linux

package link_test

import (
	"io"
	"net"
	"testing"
	"time"

	"tcptour/tracer/chart"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// A transfer on a 20 ms round trip with one data segment dropped, as
// kernel.Sampler follows it about once a round trip: with Reno, the
// congestion window grows in slow start with no slow-start threshold,
// then the loss sets one and the window falls.
func TestSampleSlowStartAndLoss(t *testing.T) {
	const size = 2 << 20
	rule := link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 100, Action: link.Drop}
	l, _ := newLink(t, link.Config{DelayToServer: 10 * time.Millisecond, DelayToClient: 10 * time.Millisecond, Rules: []link.Rule{rule}})
	ln := listen(t, l)
	done := serve(ln, func(c net.Conn) error {
		if _, err := io.CopyN(io.Discard, c, size); err != nil {
			return err
		}
		_, err := c.Write([]byte("ok"))
		return err
	})
	c := dial(t, l, ln.Addr())
	if err := link.SetCongestion(c.(*net.TCPConn), "reno"); err != nil {
		t.Fatal(err)
	}
	s, err := kernel.StartSampler(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := c.Write(make([]byte, size))
	ok, rerr := io.ReadAll(c)
	samples, serr := s.Stop()
	if werr != nil || rerr != nil || serr != nil || string(ok) != "ok" {
		t.Fatalf("write %v, read %q %v, sampler %v", werr, ok, rerr, serr)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var cwnd, inFlight []chart.Point
	var before, after []kernel.Info // before the loss was repaired, after
	for _, smp := range samples {
		ms := float64(smp.Time.Sub(samples[0].Time)) / float64(time.Millisecond)
		cwnd = append(cwnd, chart.Point{X: ms, Y: float64(smp.Info.SndCwnd)})
		inFlight = append(inFlight, chart.Point{X: ms, Y: float64(smp.Info.InFlight())})
		if smp.Info.TotalRetrans == 0 {
			before = append(before, smp.Info)
		} else {
			after = append(after, smp.Info)
		}
	}
	t.Logf("%d samples\n%s", len(samples), (&chart.Chart{
		Title:  "Reno on a 20 ms round trip, the 100th data segment dropped",
		Series: []chart.Series{{Name: "cwnd", Points: cwnd}, {Name: "in flight", Points: inFlight}},
		XUnit:  "ms", YUnit: "segments", Width: 80, Height: 12, Steps: true,
	}).String())
	if len(before) < 3 || len(after) == 0 {
		t.Fatalf("%d samples before the retransmission, %d after; want 3 or more, and some", len(before), len(after))
	}
	// Slow start: the window only grows, from 10, and no threshold.
	top := before[0].SndCwnd
	for k, i := range before {
		if !i.SsthreshInfinite() || (k > 0 && i.SndCwnd < before[k-1].SndCwnd) {
			t.Errorf("before the loss, sample %d: cwnd %d (then %d), ssthresh %#x; want growing, infinite", k, i.SndCwnd, before[max(k-1, 0)].SndCwnd, i.SndSsthresh)
		}
		top = max(top, i.SndCwnd)
	}
	if before[0].SndCwnd != 10 || top <= 20 {
		t.Errorf("cwnd from %d to %d before the loss; want from 10 to more than 20", before[0].SndCwnd, top)
	}
	// The loss: a threshold about half the window, and the window below
	// what it was.
	last := after[len(after)-1]
	low := last.SndCwnd
	for _, i := range after {
		low = min(low, i.SndCwnd)
	}
	if last.SsthreshInfinite() || last.SndSsthresh > top || last.SndSsthresh < 2 || low >= top {
		t.Errorf("after the loss: ssthresh %d, cwnd down to %d; want a threshold at most %d and a window below it", last.SndSsthresh, low, top)
	}
	if last.BytesAcked != size+1 || last.InFlight() != 0 || last.Lost != 0 || last.Sacked != 0 || last.TotalRetrans < 1 {
		t.Errorf("at the end: %+v; want everything acknowledged, nothing in flight, a retransmission", last)
	}
}
