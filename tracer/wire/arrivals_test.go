package wire

import (
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// TestArrivalsTellApartDuplicateACKs checks, on a link, that duplicate
// ACKs (the same numbers and flags, SACK blocks that differ) each
// arrive as themselves, and that of a segment sent twice the copy that
// did not arrive is the one marked lost: lesson 12 showed five
// duplicate ACKs as lost and then "delivered twice".
func TestArrivalsTellApartDuplicateACKs(t *testing.T) {
	at := time.Unix(1000, 0)
	var evs []tracer.Event
	add := func(ms int, where, from, to string, seq, ack uint32, n int, mark string) {
		evs = append(evs, tracer.Event{Time: at.Add(time.Duration(ms) * time.Millisecond), Actor: "wire", Phase: tracer.PhasePacket, Conn: 1,
			Packet: &tracer.Packet{Proto: "tcp", From: from, To: to, At: where, Flags: "ACK", RawSeq: seq, RawAck: ack, Len: n, Mark: mark}})
	}
	add(0, "client", "client", "server", 1001, 5001, 100, "ts 1 7")  // 0: lost on the way
	add(0, "client", "client", "server", 1101, 5001, 100, "ts 1 7")  // 1
	add(0, "client", "client", "server", 1201, 5001, 100, "ts 1 7")  // 2
	add(10, "server", "client", "server", 1101, 5001, 100, "ts 1 7") // 3
	add(10, "server", "server", "client", 5001, 1001, 0, "ts 9 1 sack 1101-1201")
	add(10, "server", "client", "server", 1201, 5001, 100, "ts 1 7")
	add(10, "server", "server", "client", 5001, 1001, 0, "ts 9 1 sack 1101-1301")
	add(20, "client", "server", "client", 5001, 1001, 0, "ts 9 1 sack 1101-1201") // 7
	add(20, "client", "server", "client", 5001, 1001, 0, "ts 9 1 sack 1101-1301") // 8
	add(20, "client", "client", "server", 1001, 5001, 100, "ts 21 9")             // 9: the copy sent again
	add(30, "server", "client", "server", 1001, 5001, 100, "ts 21 9")             // 10
	add(40, "client", "client", "server", 1101, 5001, 0, "ts 31 9")               // 11: still on its way when the capture stopped

	lost := lostCopies(evs, 1)
	if len(lost) != 1 || !lost[0] {
		t.Errorf("lost copies %v, want only the first copy of the segment sent twice (0), not the last segment, which nothing after it shows lost (11)", lost)
	}
	var tl Timeline
	tl.arrivals(evs)
	for _, i := range []int{3, 7, 8, 10} {
		if n := evs[i].Note; !strings.HasPrefix(n, "It reaches the ") || !strings.Contains(n, " after it left the ") || strings.Contains(n, "again") {
			t.Errorf("event %d's note %q, want when it left", i, n)
		}
	}
	if n := evs[10].Note; !strings.Contains(n, "10.000 ms after") {
		t.Errorf("the copy sent again's arrival: %q, want 10.000 ms after it left (the copy that arrived)", n)
	}
}

// TestMarkTellsApartDuplicateACKs checks that the annotator marks two
// duplicate ACKs with different SACK blocks differently.
func TestMarkTellsApartDuplicateACKs(t *testing.T) {
	segs := append(hs10(),
		timed{seg: cdata(1, 100)},
		timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
		timed{seg: cdata(101, 100)},
		timed{seg: cdata(201, 100)},
		timed{seg: cdata(301, 100)},
		timed{after: 10 * time.Millisecond, seg: sack(101, 512, 201, 301), want: DuplicateAck},
		timed{seg: sack(101, 512, 201, 401), want: DuplicateAck},
	)
	a := NewAnnotator()
	var marks []string
	for _, p := range scenarioPackets(t, segs) {
		d, err := capture.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		e := a.Event(d)
		marks = append(marks, e.Packet.Mark)
	}
	n := len(marks)
	if marks[n-1] == marks[n-2] || !strings.Contains(marks[n-1], "sack") {
		t.Errorf("the two duplicate ACKs' marks %q and %q, want different, with their SACK blocks", marks[n-2], marks[n-1])
	}
}

// TestSummarySaysWhere checks that the summary names where the packets
// were captured: on lo, or at a link's two ends.
func TestSummarySaysWhere(t *testing.T) {
	for _, tc := range []struct {
		ends []End
		want string
	}{
		{nil, "Captured 3 packets on lo (the kernel counted 3, dropped 0)."},
		{[]End{{Name: "client", Interface: "c0"}, {Name: "server", Interface: "s0"}}, "Captured 3 packets at the link's two ends, the client's c0 and the server's s0 (the kernel counted 3, dropped 0)."},
	} {
		tl := Timeline{wire: &Session{ends: tc.ends}}
		var b strings.Builder
		tl.Summary(&b, 3, capture.Stats{Packets: 3}, "")
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("summary %q, want %q", b.String(), tc.want)
		}
	}
}
