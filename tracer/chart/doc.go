// Package chart draws small charts of time series in a terminal, for a
// lesson to print: the congestion window and the segments in flight of
// a connection against time, say, as a [kernel.Sampler] read them.
//
// A [Chart] has a title, its [Series] (each a name and its points), the
// units of its axes, a width (every line fits in it) and a height. It
// draws in plain ASCII (each series with a mark of its own, * + o x #,
// and axes of | - +), or, with Unicode, with box-drawing characters and
// Braille patterns (2×4 dots a character) where colour tells the series
// apart. It decides nothing by itself: a program passes what
// [tracer.ColorWanted] and [tracer.TerminalWidth] say of its output.
//
// The scale is honest: the Y axis starts at 0 (or at the smallest value
// with FromMin, or lower when values are negative) and its labels are
// round values on the rows they name; the X axis runs from the first
// point to the last. No input makes it panic: no series, series with no
// points, a single point, values all the same; points that are NaN or
// infinite are left out.
//
// # Example
//
//	samples, _ := sampler.Stop()
//	var cwnd, inFlight []chart.Point
//	for _, s := range samples {
//		ms := float64(s.Time.Sub(samples[0].Time)) / float64(time.Millisecond)
//		cwnd = append(cwnd, chart.Point{X: ms, Y: float64(s.Info.SndCwnd)})
//		inFlight = append(inFlight, chart.Point{X: ms, Y: float64(s.Info.InFlight())})
//	}
//	c := chart.Chart{
//		Title:   "The congestion window and the segments in flight",
//		Series:  []chart.Series{{Name: "cwnd", Points: cwnd}, {Name: "in flight", Points: inFlight}},
//		XUnit:   "ms",
//		YUnit:   "segments",
//		Width:   tracer.TerminalWidth(os.Stdout),
//		Height:  12,
//		Unicode: tracer.ColorWanted(os.Stdout, noColor),
//		Color:   tracer.ColorWanted(os.Stdout, noColor),
//		Steps:   true,
//	}
//	c.Print(os.Stdout)
//
// [kernel.Sampler]: tcptour/tracer/kernel.Sampler
package chart
