package tracer

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"
)

// SortEvents orders by time, then by Seq, keeping the order of equal
// events, as a stable sort does, whatever the batch's disorder.
func TestSortEvents(t *testing.T) {
	base := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 20, 257, 3000} {
		for round := range 5 {
			ev := make([]Event, n)
			for i := range ev {
				// Few distinct times: many ties, ordered by Seq; some
				// events with the same time and Seq, told apart by
				// Text, to show the sort is stable.
				ev[i] = Event{Time: base.Add(time.Duration(r.IntN(50)) * time.Microsecond), Seq: int64(r.IntN(n + 1)), Text: string(rune('a' + i%26)), Conn: i}
			}
			if round == 0 {
				// Sorted already: left as it is.
				sort.SliceStable(ev, func(i, j int) bool { return before(ev[i], ev[j]) })
			}
			want := slices.Clone(ev)
			sort.SliceStable(want, func(i, j int) bool { return before(want[i], want[j]) })
			SortEvents(ev)
			for i := range ev {
				if ev[i].Conn != want[i].Conn {
					t.Fatalf("%d events, round %d: at %d, event %d; want %d", n, round, i, ev[i].Conn, want[i].Conn)
				}
			}
		}
	}
}

func before(a, b Event) bool {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}

// A Recycler keeps a big buffer while batches take turns, big and
// small, and lets it go after a run of small batches; a small buffer
// is always kept.
func TestRecycler(t *testing.T) {
	var r Recycler
	big := make([]Event, 3000, 4096)
	small := big[:5]
	for turn := range 10 {
		if got := r.Reuse(big); cap(got) != 4096 || len(got) != 0 {
			t.Fatalf("turn %d, big batch: cap %d len %d, want 4096 and 0", turn, cap(got), len(got))
		}
		if got := r.Reuse(small); cap(got) != 4096 {
			t.Fatalf("turn %d, small batch after a big one: cap %d, want the buffer kept", turn, cap(got))
		}
	}
	kept := 0
	for r.Reuse(small) != nil {
		kept++
		if kept > smallBatches {
			break
		}
	}
	if kept != smallBatches-2 {
		t.Errorf("a big buffer kept for %d more small batches in a row, want %d (%d in all)", kept, smallBatches-2, smallBatches)
	}
	few := make([]Event, 3, keepEvents)
	for range 3 * smallBatches {
		if got := r.Reuse(few); got == nil {
			t.Fatal("a buffer of keepEvents let go")
		}
	}
	ev := []Event{{Text: "x"}}
	if got := r.Reuse(ev); len(got) != 0 || ev[0].Text != "" {
		t.Errorf("Reuse kept the events: %v", ev)
	}
}

// NotifyPending's channel receives one value when the n-th event comes
// to wait, none for the events after it, and one again once a flush has
// taken them and n more wait.
func TestNotifyPending(t *testing.T) {
	tr := New(Options{History: NoHistory})
	const n = 5
	full := tr.NotifyPending(n)
	ready := func() bool {
		select {
		case <-full:
			return true
		default:
			return false
		}
	}
	for round := range 2 {
		for i := 1; i <= 2*n; i++ {
			tr.Note("test", "an event")
			if got := ready(); got != (i == n) {
				t.Fatalf("round %d: a value after event %d is %v, want %v", round, i, got, i == n)
			}
		}
		if err := tr.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// RecordFor gives a connection's events the ids Record gives them, and
// finds each connection's id once: after its first event, the ConnRef
// holds it for that trace, and a ConnRef used with another trace finds
// that trace's id.
func TestRecordFor(t *testing.T) {
	ap := netip.MustParseAddrPort
	tuples := [][2]netip.AddrPort{
		{ap("127.0.0.1:40000"), ap("127.0.0.1:7000")},
		{ap("127.0.0.1:40001"), ap("127.0.0.1:7000")},
		{ap("[::1]:40000"), ap("[::1]:7000")},
	}
	plain, cached := New(Options{History: NoHistory}), New(Options{History: NoHistory})
	refs := make([]ConnRef, len(tuples))
	first := make([]*connIDs, len(tuples)) // what each ConnRef held after its first event
	for i := range 12 {
		n := (i * 7) % len(tuples)
		src, dst := tuples[n][0], tuples[n][1]
		if i%2 == 1 {
			src, dst = dst, src // either direction: the same connection
		}
		e := Event{Actor: "wire", Phase: PhasePacket, Proto: "tcp", Local: src, Remote: dst}
		f := e
		plain.Record(&e)
		cached.RecordFor(&f, &refs[n])
		if f.Conn != e.Conn || f.Conn == 0 {
			t.Fatalf("event %d of %v: RecordFor gave id %d, Record %d", i, tuples[n], f.Conn, e.Conn)
		}
		ids := refs[n].cached()
		if ids == nil || ids.t != cached || ids.id != f.Conn {
			t.Fatalf("event %d: the ConnRef holds %+v, want id %d of its trace", i, ids, f.Conn)
		}
		if first[n] == nil {
			first[n] = ids
		} else if ids != first[n] {
			t.Fatalf("event %d: the id of %v was found again, not taken from its ConnRef", i, tuples[n])
		}
	}
	// The same ConnRefs with a trace that has seen none of them, in
	// another order: that trace's ids.
	other := New(Options{History: NoHistory})
	for n := len(tuples) - 1; n >= 0; n-- {
		e := Event{Actor: "wire", Phase: PhasePacket, Proto: "tcp", Local: tuples[n][0], Remote: tuples[n][1]}
		other.RecordFor(&e, &refs[n])
		if want := len(tuples) - n; e.Conn != want {
			t.Errorf("with another trace, %v got id %d, want %d", tuples[n], e.Conn, want)
		}
	}
}
