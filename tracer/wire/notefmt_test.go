package wire

import (
	"fmt"
	"net/netip"
	"testing"

	"tcptour/tracer/capture"
)

// TestAppendfAsSprintf checks that appendf writes what fmt.Sprintf
// does for the verbs and types the notes use.
func TestAppendfAsSprintf(t *testing.T) {
	ap := netip.MustParseAddrPort("[::1]:7000")
	for _, tc := range []struct {
		format string
		args   []any
	}{
		{"no verb", nil},
		{"%s's kernel", []any{"client"}},
		{"on %s (or", []any{ap}},
		{"on %s", []any{netip.MustParseAddrPort("127.0.0.1:53")}},
		{"%d %d %d %d %d", []any{-3, uint32(4294967295), uint16(65535), uint8(7), int64(-9)}},
		{"100%% of %d", []any{5}},
		{"%s and %s", []any{byteSpan{7, 1}, byteSpan{4294967290, 10}}},
		{"held %s.", []any{[]byte("bytes 1 to 2, byte 5")}},
	} {
		got := string(appendf([]byte("x "), tc.format, tc.args...))
		if want := "x " + fmt.Sprintf(tc.format, tc.args...); got != want {
			t.Errorf("appendf(%q) = %q, want %q", tc.format, got, want)
		}
	}
	// What fmt would print as a bad verb, without fmt.
	for _, tc := range []struct {
		format string
		args   []any
		want   string
	}{
		{"%d", []any{"s"}, "%!d(?)"},
		{"%s", []any{1.5}, "%!s(?)"},
		{"%s", nil, "%!s(MISSING)"},
	} {
		if got := string(appendf(nil, tc.format, tc.args...)); got != tc.want {
			t.Errorf("appendf(%q, %v) = %q, want %q", tc.format, tc.args, got, tc.want)
		}
	}
}

// TestOrdinal checks the ordinal numbers of duplicate ACKs.
func TestOrdinal(t *testing.T) {
	for i, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 22: "22nd", 111: "111th", 123: "123rd"} {
		if got := ordinal(i); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", i, got, want)
		}
		if got := string(appendf(nil, "the %s", nth(i))); got != "the "+want {
			t.Errorf("appendf of nth(%d) = %q", i, got)
		}
	}
}

// TestOptionWords checks the words for SYN options.
func TestOptionWords(t *testing.T) {
	o := capture.TCPOptions{MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true, HasTimestamps: true}
	want := "the largest segment its sender can receive, 1460 bytes of payload (MSS); window values scaled by 2^7 (window scale); " +
		"selective acknowledgements allowed (SACK); timestamps on every segment, to measure round trips"
	if got := string(optionWords(o).appendTo(nil)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := string(optionWords(capture.TCPOptions{SACKPermitted: true}).appendTo([]byte("x: "))); got != "x: selective acknowledgements allowed (SACK)" {
		t.Errorf("got %q", got)
	}
}

// TestAnnotatorAllocs checks that annotating a data segment and its ACK
// costs few allocations (the Packet, the note, the Mark, a resend's
// durations): fmt's cost about 17.
func TestAnnotatorAllocs(t *testing.T) {
	files := []string{"testdata/lossy.pcapng"}
	var ds []capture.Decoded
	for _, f := range files {
		pkts, err := capture.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			if d, err := capture.Decode(p); err == nil && d.TCP != nil {
				ds = append(ds, d)
			}
		}
	}
	a := NewAnnotator()
	for _, d := range ds[:len(ds)/2] {
		a.Event(d)
	}
	i := len(ds) / 2
	allocs := testing.AllocsPerRun(len(ds)-i-1, func() {
		a.Event(ds[i])
		i++
	})
	t.Logf("%.2f allocations per segment", allocs)
	if allocs > 7 {
		t.Errorf("%.1f allocations per segment, want at most 7", allocs)
	}
}
