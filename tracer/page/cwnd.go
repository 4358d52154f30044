package page

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The congestion window chart: what TCP_INFO said of a socket at each
// sample (PhaseSample events, kernel.Sampler), over time: the
// congestion window and the segments in flight (left axis, segments),
// the slow-start threshold where the kernel had set one, and the
// smoothed round-trip time (right axis, ms).

// gSample is one reading.
type gSample struct {
	t    time.Duration
	info *kernel.Info
}

// gSocket is the samples of one socket of a connection.
type gSocket struct {
	who     string // "client", "server", or the socket's address
	samples []gSample
}

// cwndChart returns conn's cwnd / in-flight / RTT chart, one per
// socket sampled, each a zoomable <figure>; "" without samples.
func cwndChart(events []tracer.Event, conn int) template.HTML {
	var socks []*gSocket
	for _, e := range events {
		if e.Phase != tracer.PhaseSample || e.Conn != conn || e.TCP == nil {
			continue
		}
		who := e.Local.String()
		if side, _, ok := strings.Cut(e.Text, ":"); ok && (side == "client" || side == "server") {
			who = side
		}
		var s *gSocket
		for _, x := range socks {
			if x.who == who {
				s = x
			}
		}
		if s == nil {
			s = &gSocket{who: who}
			socks = append(socks, s)
		}
		s.samples = append(s.samples, gSample{e.Elapsed, e.TCP})
	}
	if len(socks) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<div class="g-graphs">`)
	for _, s := range socks {
		gDrawCwnd(&b, s, conn)
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// gDrawCwnd draws one socket's chart.
func gDrawCwnd(b *strings.Builder, s *gSocket, conn int) {
	ss := s.samples
	t0, t1 := ss[0].t, ss[len(ss)-1].t
	var top uint32 = 1
	maxCwnd, maxFlight := uint32(0), uint32(0)
	minRTT, maxRTT := time.Duration(-1), time.Duration(0)
	var firstSsthresh *gSample
	for i := range ss {
		in := ss[i].info
		t0, t1 = min(t0, ss[i].t), max(t1, ss[i].t)
		maxCwnd, maxFlight = max(maxCwnd, in.SndCwnd), max(maxFlight, in.InFlight())
		top = max(top, in.SndCwnd, in.InFlight())
		if !in.SsthreshInfinite() {
			top = max(top, in.SndSsthresh)
			if firstSsthresh == nil {
				firstSsthresh = &ss[i]
			}
		}
		if in.RTT > 0 {
			maxRTT = max(maxRTT, in.RTT)
			if minRTT < 0 || in.RTT < minRTT {
				minRTT = in.RTT
			}
		}
	}
	unit, per := gTimeUnit(t1 - t0)
	pad := float64(t1-t0) * 0.02
	if pad == 0 {
		pad = float64(time.Millisecond)
	}
	x := gAxis{lo: (float64(t0) - pad) / per, hi: (float64(t1) + pad) / per, from: gLeft, to: gLeft + gPW}
	tx := func(t time.Duration) float64 { return x.px(float64(t) / per) }
	y := gAxis{lo: 0, hi: float64(top) * 1.05, from: gTop + gPH, to: gTop}
	rttHi := float64(maxRTT) / 1e6 * 1.1
	if rttHi == 0 {
		rttHi = 1
	}
	r := gAxis{lo: 0, hi: rttHi, from: gTop + gPH, to: gTop}

	id := fmt.Sprintf("g-cwnd-%d-%s", conn, gID(s.who))
	title := fmt.Sprintf("The %s's congestion window, connection #%d", s.who, conn)
	var desc strings.Builder
	fmt.Fprintf(&desc, "%s of the %s's TCP_INFO over %s: the congestion window went from %s to %s (largest %s); in flight at most %s.",
		gPlural(len(ss), "sample"), s.who, gDur(t1-t0), gInt(ss[0].info.SndCwnd), gPlural(ss[len(ss)-1].info.SndCwnd, "segment"), gInt(maxCwnd), gInt(maxFlight))
	if firstSsthresh != nil {
		fmt.Fprintf(&desc, " The slow-start threshold is first set in the sample at %s: %s.", gDur(firstSsthresh.t), gPlural(firstSsthresh.info.SndSsthresh, "segment"))
	} else {
		desc.WriteString(" The slow-start threshold is unset (infinite) in every sample.")
	}
	if minRTT >= 0 {
		if minRTT == maxRTT {
			fmt.Fprintf(&desc, " Smoothed RTT %s in every sample that gives one (right axis).", gDur(minRTT))
		} else {
			fmt.Fprintf(&desc, " Smoothed RTT between %s and %s (right axis).", gDur(minRTT), gDur(maxRTT))
		}
	}

	gFrame(b, id, "cwnd", title, desc.String(), x, unit)
	gPlotOpen(b, y)
	var cwnd, flight, thresh, rtt gPath
	threshOn, rttOn := false, false
	for i, smp := range ss {
		in := smp.info
		px := tx(smp.t)
		if i == 0 {
			cwnd.move(px, y.px(float64(in.SndCwnd)))
			flight.move(px, y.px(float64(in.InFlight())))
		} else {
			cwnd.line(px, y.px(float64(in.SndCwnd)))
			flight.line(px, y.px(float64(in.InFlight())))
		}
		// The threshold, a step line where the kernel had set one.
		if in.SsthreshInfinite() {
			threshOn = false
		} else {
			ty := y.px(float64(in.SndSsthresh))
			if threshOn {
				thresh.line(px, thresh.yf())
				thresh.line(px, ty)
			} else {
				thresh.move(px, ty)
				threshOn = true
			}
		}
		if in.RTT > 0 {
			ry := r.px(float64(in.RTT) / 1e6)
			if rttOn {
				rtt.line(px, ry)
			} else {
				rtt.move(px, ry)
				rttOn = true
			}
		}
	}
	if len(rtt.b) > 0 {
		fmt.Fprintf(b, `<path class="g-rtt" d="%s"/>`, rtt.String())
	}
	if len(thresh.b) > 0 {
		// A lone reading: a short flat line, so that it shows.
		thresh.line(float64(thresh.x)/10+3, thresh.yf())
		fmt.Fprintf(b, `<path class="g-ssthresh" d="%s"/>`, thresh.String())
	}
	fmt.Fprintf(b, `<path class="g-inflight" d="%s"/><path class="g-cwnd-l" d="%s"/>`, flight.String(), cwnd.String())
	gPlotClose(b, title)
	gYAxis(b, y, false, "segments", 1)
	gYAxis(b, r, true, "smoothed RTT (ms)", 1)
	gXAxis(b, x, unit, "time since the trace began")
	b.WriteString(`<rect class="g-sel" x="0" y="0" width="0" height="0"/>`)
	items := []gLegendItem{{"g-cwnd-l", gShapeLine, "congestion window"}, {"g-inflight", gShapeLine, "in flight"}}
	if firstSsthresh != nil {
		items = append(items, gLegendItem{"g-ssthresh", gShapeLine, "slow-start threshold"})
	}
	if minRTT >= 0 {
		items = append(items, gLegendItem{"g-rtt", gShapeLine, "smoothed RTT (right axis)"})
	}
	gLegend(b, items)
	b.WriteString(`</svg></figure>`)
}

// gID keeps the letters and digits of s, for an element's id.
func gID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}
