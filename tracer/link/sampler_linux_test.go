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
// kernel.Sampler reads it every 5 ms: with Reno, the congestion window
// grows in slow start with no slow-start threshold, then the loss sets
// one and the window falls. (A sampler that follows the connection,
// interval 0, waits a smoothed round trip between readings, which on a
// busy machine the handshake can make long enough to miss slow start:
// one reading before the loss, seen in CI.)
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
	s, err := kernel.StartSampler(c, 5*time.Millisecond)
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
	// Before the loss was found (no threshold yet), and after: the
	// threshold is set when the loss is found, which may be a sample
	// before the retransmission is sent.
	var before, after []kernel.Info
	for _, smp := range samples {
		ms := float64(smp.Time.Sub(samples[0].Time)) / float64(time.Millisecond)
		cwnd = append(cwnd, chart.Point{X: ms, Y: float64(smp.Info.SndCwnd)})
		inFlight = append(inFlight, chart.Point{X: ms, Y: float64(smp.Info.InFlight())})
		if smp.Info.SsthreshInfinite() && smp.Info.TotalRetrans == 0 {
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
		t.Fatalf("%d samples before the loss was found, %d after; want 3 or more, and some", len(before), len(after))
	}
	// Slow start: the window only grows, from 10.
	top := before[0].SndCwnd
	for k, i := range before {
		if k > 0 && i.SndCwnd < before[k-1].SndCwnd {
			t.Errorf("before the loss, sample %d: cwnd %d after %d; want growing", k, i.SndCwnd, before[k-1].SndCwnd)
		}
		top = max(top, i.SndCwnd)
	}
	if before[0].SndCwnd != 10 || top <= 20 {
		t.Errorf("cwnd from %d to %d before the loss; want from 10 to more than 20", before[0].SndCwnd, top)
	}
	// The loss: Reno's threshold is half the window at the loss. That
	// window is at least the largest sampled before it, and may be larger
	// than any sample (a busy machine may delay a reading, and slow
	// start doubles the window each round trip), so the threshold is checked
	// against half the largest window before the loss, and against the
	// largest window sampled at all. After the repair the window is the
	// threshold (Linux ends recovery with cwnd = ssthresh), then grows by
	// about one segment a round trip.
	last := after[len(after)-1]
	peak, low := top, last.SndCwnd
	for _, i := range after {
		peak, low = max(peak, i.SndCwnd), min(low, i.SndCwnd)
	}
	if last.SsthreshInfinite() || last.SndSsthresh < top/2 || last.SndSsthresh >= peak || low > last.SndSsthresh+2 {
		t.Errorf("after the loss: ssthresh %d, cwnd down to %d; want a threshold from %d (half the window before the loss) to below %d (the largest window), and a window down to it", last.SndSsthresh, low, top/2, peak)
	}
	if last.BytesAcked != size+1 || last.InFlight() != 0 || last.Lost != 0 || last.Sacked != 0 || last.TotalRetrans < 1 {
		t.Errorf("at the end: %+v; want everything acknowledged, nothing in flight, a retransmission", last)
	}
}
