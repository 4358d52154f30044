package tracer

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// connEvents are the events of one traced connection, both ends, with a
// packet after both closes (the last ACK), as a lesson records them.
func connEvents(port uint16, at time.Time) []Event {
	client := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	server := netip.MustParseAddrPort("127.0.0.1:6969")
	ev := func(actor string, phase Phase, local, remote netip.AddrPort) Event {
		at = at.Add(time.Microsecond)
		return Event{Time: at, Actor: actor, Phase: phase, Proto: "tcp", Local: local, Remote: remote}
	}
	return []Event{
		ev("wire", PhasePacket, client, server), // the SYN, before either end has it
		ev("client", PhaseConnectDone, client, server),
		ev("server", PhaseAccept, server, client),
		ev("client", PhaseWrite, client, server),
		ev("server", PhaseRead, server, client),
		ev("client", PhaseClose, client, server),
		ev("server", PhaseEOF, server, client),
		ev("server", PhaseClose, server, client),
		ev("wire", PhasePacket, client, server), // the last ACK, after both closes
	}
}

func TestHistory(t *testing.T) {
	start := time.Unix(1000, 0)
	var all []Event
	for i := range 5 {
		all = append(all, connEvents(uint16(50000+i), start.Add(time.Duration(i)*time.Second))...)
	}
	for _, tc := range []struct {
		history int
		want    int // events Events returns
	}{{0, len(all)}, {1, 1}, {7, 7}, {len(all) + 3, len(all)}, {NoHistory, 0}, {-5, 0}} {
		t.Run(fmt.Sprint(tc.history), func(t *testing.T) {
			var printed []Event
			tr := NewAt(start, Options{History: tc.history, Live: true, Printers: []Printer{PrinterFunc(func(e Event) error {
				printed = append(printed, e)
				return nil
			})}})
			for _, e := range all {
				tr.Add(e)
			}
			if len(printed) != len(all) {
				t.Fatalf("printed %d events, want all %d", len(printed), len(all))
			}
			got := tr.Events()
			if len(got) != tc.want {
				t.Fatalf("Events returned %d, want %d", len(got), tc.want)
			}
			// The latest ones, in time order, as recorded.
			if want := printed[len(printed)-tc.want:]; !slices.EqualFunc(got, want, func(a, b Event) bool { return a.Seq == b.Seq && a.Note == b.Note }) {
				t.Errorf("Events returned %v, want the latest %d", seqs(got), tc.want)
			}
		})
	}
}

func seqs(ev []Event) []int64 {
	var s []int64
	for _, e := range ev {
		s = append(s, e.Seq)
	}
	return s
}

// With a bounded history a connection keeps its id to its last packet,
// as with the whole history, and the trace forgets ids only long after
// the connections closed.
func TestHistoryConnIDs(t *testing.T) {
	start := time.Unix(1000, 0)
	ids := func(history int, n int) ([]int, *Trace) {
		tr := NewAt(start, Options{History: history})
		var got []int
		for i := range n {
			for _, e := range connEvents(uint16(1024+i%60000), start.Add(time.Duration(i)*time.Millisecond)) {
				got = append(got, tr.Add(e).Conn)
			}
		}
		return got, tr
	}
	full, _ := ids(0, 50)
	none, _ := ids(NoHistory, 50)
	if !slices.Equal(full, none) {
		t.Errorf("connection ids differ with NoHistory:\n%v\n%v", full, none)
	}

	// Many connections: the trace's maps stay bounded.
	const n = 2*forgetAfter + 17
	got, tr := ids(NoHistory, n)
	for i := 0; i < n; i++ {
		for j, id := range got[i*9 : i*9+9] {
			if id != i+1 {
				t.Fatalf("connection %d, event %d: id %d, want %d", i, j, id, i+1)
			}
		}
	}
	remembered := len(tr.ids) + len(tr.closed[0]) + len(tr.closed[1])
	if len(tr.all) != 0 || len(tr.open) != 0 || remembered > 2*forgetAfter {
		t.Errorf("after %d connections: %d events kept, %d open, %d ids remembered", n, len(tr.all), len(tr.open), remembered)
	}

	// A connection still open keeps its id however many others close.
	tr = NewAt(start, Options{History: NoHistory})
	long := connEvents(9, start)
	first := tr.Add(long[1]).Conn // connected, never closed
	for i := range 2*forgetAfter + 5 {
		for _, e := range connEvents(uint16(10000+i%50000), start.Add(time.Second)) {
			tr.Add(e)
		}
	}
	if id := tr.Add(long[3]).Conn; id != first {
		t.Errorf("long-lived connection: id %d after many others closed, want %d", id, first)
	}
}
