package wire

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// compareGolden compares got with the file testdata/name, or rewrites
// the file when UPDATE_GOLDEN is set, as the lessons' golden tests do:
//
//	UPDATE_GOLDEN=1 go test ./tracer/wire/
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test ./tracer/wire/ creates it)", err)
	}
	if got == string(want) {
		return
	}
	w, g := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			t.Fatalf("output differs from %s at line %d (UPDATE_GOLDEN=1 go test ./tracer/wire/ rewrites it):\nwant %q\n got %q", path, i+1, wl, gl)
		}
	}
}

func baseName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// tcpPackets returns the TCP packet events of connection id, in order.
func tcpPackets(events []tracer.Event, id int) []*tracer.Packet {
	var ps []*tracer.Packet
	for _, e := range events {
		if e.Conn == id && e.Phase == tracer.PhasePacket && e.Packet != nil && e.Packet.Proto == "tcp" {
			ps = append(ps, e.Packet)
		}
	}
	return ps
}

// TestLadderGolden draws the ladder of each connection of lesson 03, and
// the Mermaid diagram of both, and compares them with golden files.
func TestLadderGolden(t *testing.T) {
	for _, path := range lesson03Files {
		t.Run(baseName(path), func(t *testing.T) {
			events := traceOf(t, path)
			ids := Conns(events, true)
			if !slices.Equal(ids, []int{1, 2}) {
				t.Fatalf("Conns = %v, want [1 2]", ids)
			}
			var b strings.Builder
			for _, id := range ids {
				if err := Ladder(&b, events, id); err != nil {
					t.Fatal(err)
				}
			}
			compareGolden(t, baseName(path)+".ladder.golden", b.String())
			b.Reset()
			if err := Mermaid(&b, events, ids); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, baseName(path)+".mermaid.golden", b.String())
		})
	}
}

// TestLadderShape checks what the golden files show without reading
// them: one arrow per segment, in order, pointing the right way, every
// line of a ladder as wide as the others, the ends named in the header.
func TestLadderShape(t *testing.T) {
	for _, path := range lesson03Files {
		t.Run(baseName(path), func(t *testing.T) {
			events := traceOf(t, path)
			for _, id := range Conns(events, true) {
				var b strings.Builder
				if err := Ladder(&b, events, id); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
				ps := tcpPackets(events, id)
				if len(lines) != 2+len(ps) {
					t.Fatalf("connection %d: %d lines, want a title, a header and %d arrows:\n%s", id, len(lines), len(ps), b.String())
				}
				if want := "Connection #" + string(rune('0'+id)); lines[0] != want {
					t.Errorf("title %q, want %q", lines[0], want)
				}
				var client, server netip.AddrPort
				if ps[0].From == "client" {
					client, server = ps[0].Src, ps[0].Dst
				}
				if !strings.Contains(lines[1], "client "+client.String()) || !strings.Contains(lines[1], "server "+server.String()) {
					t.Errorf("header %q does not name client %v and server %v", lines[1], client, server)
				}
				width := len([]rune(lines[2]))
				for i, p := range ps {
					l := lines[2+i]
					if !strings.Contains(l, " "+SegmentLabel(p)+" ") {
						t.Errorf("line %d %q lacks the label %q", i+3, l, SegmentLabel(p))
					}
					right := strings.Contains(l, "▶")
					if right == strings.Contains(l, "◀") || right != (p.From == "client") {
						t.Errorf("line %d %q points the wrong way for a segment from the %s", i+3, l, p.From)
					}
					if n := len([]rune(l)); n != width {
						t.Errorf("line %d is %d runes wide, line 3 is %d:\n%s", i+3, n, width, b.String())
					}
				}
			}
		})
	}
}

// TestMermaidShape checks the Mermaid diagram of lesson 03: the header,
// a pair of participants per connection, one message per TCP packet in
// order, and message text free of the characters that end a Mermaid
// message.
func TestMermaidShape(t *testing.T) {
	for _, path := range lesson03Files {
		t.Run(baseName(path), func(t *testing.T) {
			events := traceOf(t, path)
			ids := Conns(events, true)
			var b strings.Builder
			if err := Mermaid(&b, events, ids); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.HasPrefix(out, "sequenceDiagram\n") {
				t.Fatalf("Mermaid output starts %q, want sequenceDiagram", out[:min(len(out), 40)])
			}
			var want []string
			for _, id := range ids {
				c, s := "C"+string(rune('0'+id)), "S"+string(rune('0'+id))
				for _, p := range tcpPackets(events, id) {
					from, to := c, s
					if p.From == "server" {
						from, to = s, c
					}
					want = append(want, from+"->>"+to+": "+SegmentLabel(p))
				}
			}
			if len(want) != 16 {
				t.Fatalf("%d TCP packets, want 16", len(want))
			}
			var got []string
			participants := 0
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:] {
				l = strings.TrimSpace(l)
				switch {
				case strings.HasPrefix(l, "participant "):
					participants++
				case strings.Contains(l, "->>"):
					got = append(got, l)
					text := l[strings.Index(l, ": ")+2:]
					if strings.ContainsAny(strings.ReplaceAll(text, "#58;", ""), ";#:\n") {
						t.Errorf("message text %q holds a character Mermaid reads as syntax", text)
					}
				default:
					t.Errorf("unexpected line %q", l)
				}
			}
			if participants != 2*len(ids) {
				t.Errorf("%d participants, want %d", participants, 2*len(ids))
			}
			if !slices.Equal(got, want) {
				t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestLadderAppEvents mixes a program's events with the segments: the
// client's go on the left of the ladder, the server's on the right,
// and in Mermaid as notes beside each participant. Events of another
// connection, and labels longer than the arrow, do not disturb it.
func TestLadderAppEvents(t *testing.T) {
	c, s := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("[::1]:5000")
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	pkt := func(i int, from string, flags string, seq, ack uint32, n int) tracer.Event {
		p := &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: flags, Seq: seq, Ack: ack, Len: n, Window: 65536}
		if from == "server" {
			p.Src, p.Dst, p.From, p.To = s, c, "server", "client"
		}
		return tracer.Event{Time: at(i), Actor: "wire", Phase: tracer.PhasePacket, Conn: 1, Proto: "tcp", Local: p.Src, Remote: p.Dst, Packet: p}
	}
	app := func(i int, actor string, ph tracer.Phase, n int) tracer.Event {
		e := tracer.Event{Time: at(i), Actor: actor, Phase: ph, Conn: 1, Proto: "tcp", Local: c, Remote: s, Bytes: n, Op: "read"}
		if actor == "server" {
			e.Local, e.Remote = s, c
		}
		return e
	}
	events := []tracer.Event{
		pkt(0, "client", "SYN", 0, 0, 0),
		pkt(1, "server", "SYN ACK", 0, 1, 0),
		pkt(2, "client", "ACK", 1, 1, 0),
		app(3, "client", tracer.PhaseConnectDone, 0),
		app(4, "server", tracer.PhaseAccept, 0),
		app(5, "client", tracer.PhaseWrite, 18),
		pkt(6, "client", "PSH ACK", 1, 1, 18),
		app(7, "server", tracer.PhaseRead, 18),
		{Time: at(8), Actor: "client", Phase: tracer.PhaseWrite, Conn: 2, Bytes: 99},
		pkt(9, "client", "PSH ACK URG ECE CWR", 4294967295, 4294967295, 65535),
		app(10, "server", tracer.PhaseError, 0),
	}
	if got := Conns(events, true); !slices.Equal(got, []int{1}) {
		t.Errorf("Conns(events, true) = %v, want [1]: connection 2 has no packet", got)
	}
	if got := Conns(events, false); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Conns(events, false) = %v, want [1 2]", got)
	}
	var b strings.Builder
	if err := Ladder(&b, events, 1); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i, l := range lines {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d %q ends with spaces", i+1, l)
		}
	}
	want := []struct{ left, right, arrow string }{
		{arrow: "SYN seq 0"}, {arrow: "SYN ACK seq 0 ack 1"}, {arrow: "ACK seq 1 ack 1"},
		{left: "Dial returns"}, {right: "Accept returns"}, {left: "Write 18 B"},
		{arrow: "PSH ACK seq 1 ack 1 len 18"}, {right: "Read 18 B"},
		{arrow: "PSH ACK URG ECE CWR seq 4294967295 ack 4294967295 len 65535"},
		{right: "error: read"},
	}
	if len(lines) != 2+len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), 2+len(want), b.String())
	}
	if !strings.Contains(lines[1], "client 127.0.0.1:40000") || !strings.Contains(lines[1], "server [::1]:5000") {
		t.Errorf("header %q", lines[1])
	}
	for i, w := range want {
		l := lines[2+i]
		left, rest, _ := strings.Cut(l, "│")
		mid, right, _ := strings.Cut(rest, "│")
		if strings.TrimSpace(left) != w.left || strings.TrimSpace(right) != w.right || !strings.Contains(mid, w.arrow) {
			t.Errorf("line %d = %q, want left %q arrow %q right %q", i+3, l, w.left, w.arrow, w.right)
		}
	}

	b.Reset()
	if err := Mermaid(&b, events, []int{1}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"participant C1 as client 127.0.0.1#58;40000",
		"participant S1 as server [#58;#58;1]#58;5000",
		"Note left of C1: Dial returns",
		"Note right of S1: Accept returns",
		"C1->>S1: PSH ACK seq 1 ack 1 len 18",
		"S1->>C1: SYN ACK seq 0 ack 1",
		"Note right of S1: error#58; read",
	} {
		if !strings.Contains(b.String(), "    "+l+"\n") {
			t.Errorf("Mermaid output lacks %q:\n%s", l, b.String())
		}
	}
	if strings.Contains(b.String(), "99") {
		t.Errorf("an event of connection 2 is in the diagram of connection 1:\n%s", b.String())
	}
}

func TestSegmentLabel(t *testing.T) {
	for _, tc := range []struct {
		p    tracer.Packet
		want string
	}{
		{tracer.Packet{Flags: "SYN", Window: 65495}, "SYN seq 0"},
		{tracer.Packet{Flags: "SYN ACK", Ack: 1, Window: 65483}, "SYN ACK seq 0 ack 1"},
		{tracer.Packet{Flags: "PSH ACK", Seq: 1, Ack: 1, Len: 18, Window: 65536}, "PSH ACK seq 1 ack 1 len 18"},
		{tracer.Packet{Flags: "FIN ACK", Seq: 19, Ack: 30, Window: 65536}, "FIN ACK seq 19 ack 30"},
		{tracer.Packet{Flags: "ACK", Seq: 1, Ack: 101, Window: 0}, "ACK seq 1 ack 101 win 0"},
		{tracer.Packet{Flags: "PSH ACK", Seq: 1, Ack: 1, Len: 5, Window: 0}, "PSH ACK seq 1 ack 1 len 5 win 0"},
		{tracer.Packet{Flags: "RST ACK", Seq: 1, Ack: 1, Window: 0}, "RST ACK seq 1 ack 1"},
		{tracer.Packet{Flags: "RST", Seq: 1, Window: 0}, "RST seq 1"},
		{tracer.Packet{Flags: "SYN", Ack: 77, Window: 0}, "SYN seq 0 win 0"}, // no ACK flag: the ack field is not shown
	} {
		if got := SegmentLabel(&tc.p); got != tc.want {
			t.Errorf("SegmentLabel(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// The kernel's changes of state stand beside their side's line, as in a
// textbook's diagram, and in Mermaid as notes; a hand-over to the
// kernel, which changes no state, is left out.
func TestLadderStates(t *testing.T) {
	c, s := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:6969")
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	state := func(i int, side string, from, to kernel.State) tracer.Event {
		e := tracer.Event{Time: at(i), Actor: "kernel", Phase: tracer.PhaseState, Conn: 1, Proto: "tcp", Local: c, Remote: s,
			State: &tracer.StateChange{Side: side, From: from, To: to}}
		if side == "server" {
			e.Local, e.Remote = s, c
		}
		return e
	}
	fin := &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: "FIN ACK", Seq: 19, Ack: 30, Window: 65536}
	events := []tracer.Event{
		{Time: at(0), Actor: "client", Phase: tracer.PhaseClose, Conn: 1, Proto: "tcp", Local: c, Remote: s},
		state(1, "client", kernel.Established, kernel.FinWait1),
		{Time: at(2), Actor: "wire", Phase: tracer.PhasePacket, Conn: 1, Proto: "tcp", Local: c, Remote: s, Packet: fin},
		state(3, "server", kernel.Established, kernel.CloseWait),
		state(4, "client", kernel.FinWait1, kernel.FinWait2),
		state(5, "client", kernel.FinWait2, kernel.FinWait2), // kept by the kernel: drawn once
		state(6, "server", kernel.LastAck, kernel.LastAck),   // found when asked, never drawn before
		state(7, "client", kernel.FinWait2, kernel.FinWait2), // found when asked, as drawn before: not again
	}
	events[6].State.Asked = true
	events[7].State.Asked = true
	var b strings.Builder
	if err := Ladder(&b, events, 1); err != nil {
		t.Fatal(err)
	}
	want := "Connection #1\n" +
		"               client 127.0.0.1:40000                         server 127.0.0.1:6969\n" +
		"         Close │                                              │\n" +
		"  [FIN_WAIT_1] │                                              │\n" +
		"               │── FIN ACK seq 19 ack 30 ────────────────────▶│\n" +
		"               │                                              │ [CLOSE_WAIT]\n" +
		"  [FIN_WAIT_2] │                                              │\n" +
		"               │                                              │ [LAST_ACK]*\n" +
		"* found when asked: the kernel did not report this change as it happened;\n" +
		"its socket diagnostics, asked at the time of the marked row, found the\n" +
		"socket in that state (for [gone], found no socket), so the change came\n" +
		"earlier.\n"
	if b.String() != want {
		t.Errorf("ladder:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := Mermaid(&b, events, []int{1}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"Note left of C1: [FIN_WAIT_1]", "Note right of S1: [CLOSE_WAIT]",
		"Note right of S1: [LAST_ACK] found when asked (the change came earlier)"} {
		if !strings.Contains(b.String(), "    "+l+"\n") {
			t.Errorf("Mermaid output lacks %q:\n%s", l, b.String())
		}
	}
	if strings.Count(b.String(), "FIN_WAIT_2") != 1 {
		t.Errorf("the hand-over is in the diagram again:\n%s", b.String())
	}
	// FitLadder draws the mark, and leaves the line that explains it to
	// AskedFootnote, once after all the ladders: only when one has it.
	b.Reset()
	if err := FitLadder(&b, events, 1, 100); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "[LAST_ACK]*\n") || strings.Contains(b.String(), "found when asked") {
		t.Errorf("FitLadder: want the mark and no footnote:\n%s", b.String())
	}
	b.Reset()
	if wrote, err := AskedFootnote(&b, events, []int{2, 1}, 100); !wrote || err != nil || b.String() != tracer.Wrap(AskedNote, 0, 100) {
		t.Errorf("AskedFootnote: wrote %v, %v, %q; want %q", wrote, err, b.String(), tracer.Wrap(AskedNote, 0, 100))
	}
	b.Reset()
	if wrote, err := AskedFootnote(&b, events[:6], []int{1}, 100); wrote || err != nil || b.Len() != 0 {
		t.Errorf("AskedFootnote with nothing found when asked: wrote %v, %v, %q; want nothing", wrote, err, b.String())
	}
}

// FitLadder narrows the arrows to the width it is given, keeping every
// label whole; where even the narrowest arrows do not fit, it says in a
// line how wide the ladder needs to be, and that --mermaid writes it.
func TestFitLadder(t *testing.T) {
	events := traceOf(t, lesson03Files[0])
	var full strings.Builder
	if err := Ladder(&full, events, 1); err != nil {
		t.Fatal(err)
	}
	natural := textWidth(full.String())
	fit := func(width int) string {
		var b strings.Builder
		if err := FitLadder(&b, events, 1, width); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, width := range []int{natural, natural + 20} {
		if got := fit(width); got != full.String() {
			t.Errorf("width %d, room for the ladder as Ladder draws it (%d columns):\n%s", width, natural, got)
		}
	}
	// The narrowest the ladder gets: one column less gives the line.
	need := 0
	for width := natural; width > 0; width-- {
		if strings.Contains(fit(width), "needs") {
			need = width + 1
			break
		}
	}
	if need == 0 || need >= natural {
		t.Fatalf("FitLadder never narrowed the ladder, or never gave up (at %d columns of %d)", need, natural)
	}
	narrow := fit(need)
	lines := strings.Split(strings.TrimSuffix(narrow, "\n"), "\n")
	ps := tcpPackets(events, 1)
	if len(lines) != 2+len(ps) {
		t.Fatalf("at %d columns: %d lines, want a title, a header and %d arrows:\n%s", need, len(lines), len(ps), narrow)
	}
	if n := textWidth(narrow); n > need {
		t.Errorf("at %d columns, the ladder is %d wide:\n%s", need, n, narrow)
	}
	if !strings.Contains(lines[1], "client "+ps[0].Src.String()+" ") || !strings.HasSuffix(lines[1], "server "+ps[0].Dst.String()) {
		t.Errorf("at %d columns, the header does not name both ends: %q", need, lines[1])
	}
	arrowEnd := -1
	for i, p := range ps {
		l := lines[2+i]
		if n := utf8.RuneCountInString(l); n > need {
			t.Errorf("at %d columns, line %d is %d wide: %q", need, i+3, n, l)
		}
		if !strings.Contains(l, " "+SegmentLabel(p)+" ") {
			t.Errorf("at %d columns, line %d %q lacks the label %q", need, i+3, l, SegmentLabel(p))
		}
		// The server's line is in the same column on every row.
		end := utf8.RuneCountInString(l[:strings.LastIndex(l, "│")])
		if arrowEnd >= 0 && end != arrowEnd {
			t.Errorf("at %d columns, line %d has the server's line at %d, not %d:\n%s", need, i+3, end, arrowEnd, narrow)
		}
		arrowEnd = end
	}
	for _, width := range []int{need - 1, 40} {
		got := fit(width)
		want := "Connection #1: its ladder needs " + strconv.Itoa(need) + " columns, more than the " + strconv.Itoa(width) + " here: widen the terminal, or write the ladders to a file with --mermaid FILE."
		if strings.Join(strings.Fields(got), " ") != want {
			t.Errorf("at %d columns:\n%s\nwant %q", width, got, want)
		}
		if textWidth(got) > width {
			t.Errorf("at %d columns the line saying so is wider:\n%s", width, got)
		}
	}
}

// A five-tuple used again by a new connection (a TIME_WAIT taken over,
// a fixed local port) is shown as a new connection: at a SYN with a new
// initial sequence number, or at a SYN_SENT after the old one closed.
// A SYN sent again keeps its number; an event of the old connection
// shown late keeps the old number; showing the events again gives the
// same numbers.
func TestShowNewConnectionOnSameTuple(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	syn := func(seq int64, ms int, isn uint32) tracer.Event {
		return tracer.Event{Seq: seq, Time: at(ms), Conn: 7, Phase: tracer.PhasePacket, Packet: &tracer.Packet{Proto: "tcp", Flags: "SYN", RawSeq: isn}}
	}
	cli, srv := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:8001")
	state := func(seq int64, ms int, from, to kernel.State) tracer.Event {
		return tracer.Event{Seq: seq, Time: at(ms), Conn: 7, Phase: tracer.PhaseState, State: &tracer.StateChange{From: from, To: to}, Local: cli, Remote: srv}
	}
	other := func(seq int64, ms int) tracer.Event {
		return tracer.Event{Seq: seq, Time: at(ms), Conn: 7, Phase: tracer.PhaseWrite}
	}
	evs := []tracer.Event{
		state(1, 1, kernel.Close, kernel.SynSent), syn(2, 2, 1000), syn(3, 3, 1000), other(4, 4),
		state(5, 5, kernel.FinWait2, kernel.TimeWait),
		state(6, 10, kernel.Close, kernel.SynSent), syn(7, 11, 5000), other(8, 12), // TIME_WAIT taken over
		syn(9, 20, 9000), other(10, 21), // a new ISN, its SYN_SENT not seen yet
		state(11, 19, kernel.Close, kernel.Close),                  // the old one's, shown late
		state(12, 22, kernel.Close, kernel.SynSent), other(13, 23), // the new one's SYN_SENT, shown late
		// A Dial returning after the other end closed is not a new
		// connection; after its own end closed, it is (no capture, no
		// SYN_SENT seen).
		{Seq: 14, Time: at(30), Conn: 7, Phase: tracer.PhaseClose, Local: srv, Remote: cli},
		{Seq: 15, Time: at(31), Conn: 7, Phase: tracer.PhaseConnectDone, Local: cli, Remote: srv},
		{Seq: 16, Time: at(32), Conn: 7, Phase: tracer.PhaseClose, Local: cli, Remote: srv},
		{Seq: 17, Time: at(40), Conn: 7, Phase: tracer.PhaseConnectDone, Local: cli, Remote: srv},
		{Seq: 18, Time: at(41), Conn: 7, Phase: tracer.PhaseAccept, Local: srv, Remote: cli},
	}
	want := []int{1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 2, 3, 3, 3, 3, 3, 4, 4}
	var tl Timeline
	for pass := 0; pass < 2; pass++ {
		got := slices.Clone(evs)
		if pass == 0 {
			// In batches, as the timeline releases them.
			tl.show(got[:5], true)
			tl.show(got[5:10], true)
			tl.show(got[10:14], true)
			tl.show(got[14:], true)
		} else {
			tl.show(got, true)
		}
		for i, e := range got {
			if e.Conn != want[i] {
				t.Errorf("pass %d: event %d shown as #%d, want #%d", pass, e.Seq, e.Conn, want[i])
			}
		}
	}
}

// On a link cut under a connection, nothing its sender sends arrives
// after the last segments: the ladder marks them lost when the link
// said it dropped them, and only then (a segment with no such word may
// have been on its way when the capture stopped).
func TestLadderLostOnCutLink(t *testing.T) {
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:5000")
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var events []tracer.Event
	seg := func(at string, seq uint32, ipid uint16) {
		p := &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: "ACK", Seq: seq, Ack: 19, RawSeq: seq, RawAck: 19, IPID: ipid, At: at}
		events = append(events, tracer.Event{Time: t0.Add(time.Duration(len(events)) * time.Millisecond), Actor: "wire", Phase: tracer.PhasePacket, Conn: 1, Proto: "tcp", Local: c, Remote: s, Packet: p})
	}
	drop := func() {
		events = append(events, tracer.Event{Time: t0.Add(time.Duration(len(events)) * time.Millisecond), Actor: "link", Phase: tracer.PhaseNote, Conn: 1, Proto: "tcp", Local: c, Remote: s, Text: "dropped on purpose: the 4th pure ACK from the client"})
	}
	seg("client", 18, 1) // a probe that arrives
	seg("server", 18, 1)
	seg("client", 18, 2) // dropped by the link
	drop()
	seg("client", 18, 3) // dropped by the link
	drop()
	seg("client", 18, 4) // no word of it: perhaps on its way
	var b strings.Builder
	Ladder(&b, events, 1)
	if got := strings.Count(b.String(), "✗ lost"); got != 2 {
		t.Errorf("%d segments marked lost, want 2:\n%s", got, b.String())
	}
}

// LadderRows gives Ladder's rows with the events they draw: on a link,
// each departure with its arrival, and the lost one marked.
func TestLadderRowsLink(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	seg := func(at string, seq uint32, ipid uint16) tracer.Event {
		return tracer.Event{Conn: 1, Phase: tracer.PhasePacket, Packet: &tracer.Packet{Proto: "tcp", Src: a, Dst: b,
			From: "client", To: "server", Flags: "PSH ACK", Seq: seq, RawSeq: seq, Ack: 1, RawAck: 1, Len: 10, Window: 100, At: at, IPID: ipid}}
	}
	events := []tracer.Event{
		{Conn: 1, Phase: tracer.PhaseWrite, Actor: "client", Local: a, Remote: b, Bytes: 20},
		seg("client", 1, 1), // lost: the next one arrived
		seg("client", 11, 2),
		seg("server", 11, 2),
	}
	client, server, rs := LadderRows(events, 1)
	if client != a || server != b || len(rs) != 3 {
		t.Fatalf("LadderRows: %v %v %+v", client, server, rs)
	}
	want := []LadderRow{
		{Event: 0, Left: "Write 20 B", Arrival: -1},
		{Event: 1, Arrow: "PSH ACK seq 1 ack 1 len 10", ToRight: true, Lost: true, Arrival: -1},
		{Event: 2, Arrow: "PSH ACK seq 11 ack 1 len 10", ToRight: true, Arrival: 3},
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rs[i], want[i])
		}
	}
}
