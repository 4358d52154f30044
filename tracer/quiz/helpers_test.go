package quiz

import (
	"testing"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/wire"
)

// eventsOf reads a capture as tracer/inspect does: an annotator for
// each interface, the connections numbered across them, each packet
// marked with the interface it was captured at when there are several.
func eventsOf(t testing.TB, path string) []tracer.Event {
	t.Helper()
	pkts, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ifaces := map[string]bool{}
	for _, p := range pkts {
		ifaces[p.Interface] = true
	}
	multi := len(ifaces) > 1
	dec := capture.NewDecoder()
	numbers := wire.NewConnNumbers()
	anns := map[string]*wire.Annotator{}
	tr := tracer.NewAt(pkts[0].Time, tracer.Options{})
	for _, p := range pkts {
		d, err := dec.Decode(p)
		if err != nil || d.TCP == nil && d.UDP == nil {
			continue
		}
		a := anns[p.Interface]
		if a == nil {
			a = wire.NewAnnotator()
			a.NumberConns(numbers)
			if multi {
				a.AtEnd(p.Interface)
			}
			anns[p.Interface] = a
		}
		e := a.Event(d)
		if multi && e.Packet != nil {
			e.Packet.At, e.Packet.IPID = p.Interface, d.IPID
		}
		tr.Add(e)
	}
	return tr.Events()
}
