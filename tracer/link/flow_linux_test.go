//go:build linux

package link

import (
	"testing"
	"time"
)

// The data segments of a flow keep their index when sent again, new
// ones take the next, in or out of order, across the wrap of the
// sequence numbers.
func TestDataSeen(t *testing.T) {
	var isn uint32 = 1<<32 - 3000 // wraps after two segments
	var d dataSeen
	var count int
	see := func(seq uint32, n uint32, wantIndex, wantCount int) {
		t.Helper()
		got := d.see(seq, n, &count)
		if got.index != wantIndex || got.count != wantCount {
			t.Errorf("seq %d: index %d transmission %d, want %d and %d", seq, got.index, got.count, wantIndex, wantCount)
		}
	}
	see(isn, 1448, 1, 1)
	see(isn+1448, 1448, 2, 1)
	see(isn+2896, 1448, 3, 1) // past 2³²
	see(isn+1448, 1448, 2, 2)
	see(isn+5792, 1448, 4, 1) // one skipped: it comes next
	see(isn+4344, 1448, 5, 1)
	see(isn+4344, 1448, 5, 2)
	see(isn+5792, 1448, 4, 2)
	see(isn, 1448, 1, 2)
	see(isn-1448, 1448, 6, 1) // before all the others
	see(isn-1448, 1448, 6, 2)
	see(isn+2896, 1448, 3, 2)
	if d.len() != 6 {
		t.Errorf("%d segments remembered, want 6", d.len())
	}
}

// Acknowledged data segments are forgotten forgetAfter after the
// acknowledgment reached the sender, not before; those not acknowledged
// are kept, with their index.
func TestFlowForgets(t *testing.T) {
	f := &flow{}
	start := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
	const isn = 1000
	for i := range 100 {
		f.data.see(isn+uint32(i)*1000, 1000, &f.counts[Data])
	}
	f.forget(start) // the first sample: nothing acknowledged yet
	f.acked(isn + 60*1000)
	f.acked(isn + 50*1000) // an older acknowledgment changes nothing
	f.forget(start.Add(forgetAfter / 2))
	f.forget(start.Add(forgetAfter)) // samples 60 segments acknowledged
	if n := f.data.len(); n != 100 {
		t.Fatalf("%d segments remembered when the acknowledgment is new, want 100", n)
	}
	f.forget(start.Add(2*forgetAfter - 1))
	if n := f.data.len(); n != 100 {
		t.Fatalf("%d segments remembered before forgetAfter, want 100", n)
	}
	f.forget(start.Add(2 * forgetAfter))
	if n := f.data.len(); n != 40 {
		t.Fatalf("%d segments remembered, want the 40 not acknowledged", n)
	}
	if got := f.data.see(isn+70*1000, 1000, &f.counts[Data]); got.index != 71 || got.count != 2 {
		t.Errorf("a segment not acknowledged, sent again: index %d transmission %d, want 71 and 2", got.index, got.count)
	}
	if got := f.data.see(isn+100*1000, 1000, &f.counts[Data]); got.index != 101 || got.count != 1 {
		t.Errorf("a new segment: index %d transmission %d, want 101 and 1", got.index, got.count)
	}
	// An acknowledgment of what was never sent forgets nothing.
	f.acked(isn + 500*1000)
	f.forget(start.Add(3 * forgetAfter))
	f.forget(start.Add(4 * forgetAfter))
	if n := f.data.len(); n != 41 {
		t.Errorf("%d segments remembered after an acknowledgment beyond them, want 41", n)
	}
	// A new connection starts again.
	f.restart()
	if n := f.data.len(); n != 0 || f.ack.Load() != 0 {
		t.Errorf("after a SYN: %d segments, acknowledgment %#x; want none", n, f.ack.Load())
	}
	if got := f.data.see(7, 1000, &f.counts[Data]); got.index != 102 || got.count != 1 {
		t.Errorf("the first segment of the next connection: index %d transmission %d, want 102 and 1", got.index, got.count)
	}
}

// Forgetting in a long transfer keeps the list short, and reuses its
// room: 10 s of segments, one every 10 µs.
func TestFlowForgetsLongTransfer(t *testing.T) {
	f := &flow{}
	now := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
	const every = 10 * time.Microsecond
	const perForget = int(forgetAfter / every)
	seq := uint32(1<<32 - 100000)
	for range 10 * perForget {
		f.data.see(seq, 1448, &f.counts[Data])
		f.forget(now)
		seq += 1448
		f.acked(seq - 100*1448) // 100 segments in flight
		now = now.Add(every)
	}
	// What was acknowledged more than 2 forgetAfter ago is gone.
	if n := f.data.len(); n > 2*perForget+200 || n < perForget {
		t.Errorf("%d segments remembered, want %d to %d", n, perForget, 2*perForget+200)
	}
	if c := cap(f.data.e); c > 5*perForget {
		t.Errorf("room for %d segments, want at most %d", c, 5*perForget)
	}
}
