package chart_test

import (
	"tcptour/tracer/chart"
)

// Slow start, a loss, and the window cut in half: the congestion window
// sampled every 20 ms, held from one sample to the next (Steps), in
// plain ASCII as for a pipe.
func ExampleChart() {
	var cwnd, inFlight []chart.Point
	for i, w := range []float64{10, 20, 40, 80, 40, 42, 44, 46, 48} {
		ms := float64(i * 20)
		cwnd = append(cwnd, chart.Point{X: ms, Y: w})
		inFlight = append(inFlight, chart.Point{X: ms, Y: w * 0.6})
	}
	c := chart.Chart{
		Title:  "Slow start, a loss, recovery",
		Series: []chart.Series{{Name: "cwnd", Points: cwnd}, {Name: "in flight", Points: inFlight}},
		XUnit:  "ms",
		YUnit:  "segments",
		Width:  50,
		Height: 8,
		Steps:  true,
	}
	c.Print(nil)
	// Output:
	// Slow start, a loss, recovery
	// segments
	//    |
	// 75 +                 *******
	//    |                 *     *
	// 50 +                 *+++++*          ************
	//    |           *******     ************
	// 25 +      ******++++++     +++++++++++++++++++++++
	//    |*******+++++
	//  0 ++++++++
	//    ++-----+----+-----+-----+----+-----+----+------
	//     0    20   40    60    80   100   120  140 ms
	// * cwnd   + in flight
}
