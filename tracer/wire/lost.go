package wire

import "tcptour/tracer"

// LostCopies reports which segments of connection id on a link (events
// in time order, as a trace holds them) left one end and never reached
// the other, by their indexes in events: the segments a ladder marks
// "✗ lost", found the same way (see the ladder's rows). Packets captured
// at one point only (At empty: loopback, or a file of one interface)
// give none. The HTML page's time–sequence graph (tracer/page) marks
// the same segments.
func LostCopies(events []tracer.Event, id int) map[int]bool {
	return lostCopies(events, id)
}
