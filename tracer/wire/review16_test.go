package wire

import (
	"strconv"
	"strings"
	"testing"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// atEnds annotates a capture as tracer/inspect does: the packets of
// each interface by an Annotator of their own, told with AtEnd which
// end it sees when the file holds several interfaces. The events are
// those of the file's frames, in order (frame n at index n-1).
func atEnds(t *testing.T, path string) []tracer.Event {
	t.Helper()
	pkts, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	multi := false
	for _, p := range pkts {
		multi = multi || p.Interface != pkts[0].Interface
	}
	anns := map[string]*Annotator{}
	events := make([]tracer.Event, len(pkts))
	for i, p := range pkts {
		a := anns[p.Interface]
		if a == nil {
			a = NewAnnotator()
			if multi {
				a.AtEnd(p.Interface)
			}
			anns[p.Interface] = a
		}
		events[i] = a.Event(decoded(t, p))
		if multi && events[i].Packet != nil {
			events[i].Packet.At = p.Interface
		}
	}
	return events
}

// frameNote is what a frame's note must say, and must not.
type frameNote struct {
	frame int    // as tshark numbers it, in the whole file
	at    string // the interface it was captured at ("" for any)
	notes []string
	not   []string
}

// checkNotes checks the notes of frames of a capture annotated by atEnds.
func checkNotes(t *testing.T, events []tracer.Event, want []frameNote) {
	t.Helper()
	for _, w := range want {
		e := events[w.frame-1]
		if w.at != "" && (e.Packet == nil || e.Packet.At != "" && e.Packet.At != w.at) {
			t.Errorf("frame %d: at %q, want %q", w.frame, e.Packet.At, w.at)
		}
		for _, s := range w.notes {
			if !strings.Contains(e.Note, s) {
				t.Errorf("frame %d: note lacks %q:\n%s", w.frame, s, e.Note)
			}
		}
		for _, s := range w.not {
			if strings.Contains(e.Note, s) {
				t.Errorf("frame %d: note says %q:\n%s", w.frame, s, e.Note)
			}
		}
	}
}

// TestResetOfAResetConnection checks the notes of the RSTs of
// lesson15-both.pcapng (tracer/inspect/testdata): in connection #2 the
// client reset the connection itself (frame 41, lost on the cut link)
// before the server's RST (frame 79 at the server) reached it (frame
// 81): no program hears of that RST. The RSTs of #3 and #4 reach a
// client that still holds its connection.
func TestResetOfAResetConnection(t *testing.T) {
	events := atEnds(t, "../inspect/testdata/lesson15-both.pcapng")
	econn := "kernel drops the connection too: its program's next Read returns any data that had already arrived, then fails with ECONNRESET"
	resetHeld := "it drops it too: its program's next Read returns any data that had already arrived, then fails with ECONNRESET"
	checkNotes(t, events, []frameNote{
		{frame: 41, notes: []string{"If it arrives, and the server's kernel still holds the connection (this end cannot see whether it does", "it drops it too"}},
		{frame: 81, notes: []string{"The client had reset this connection itself 1.758 s before (its RST, seen here): its kernel no longer holds the connection and discards this RST; no program hears of it (no ECONNRESET)."},
			not: []string{econn}},
		{frame: 79, notes: []string{"If it arrives, and the client's kernel still holds the connection, it drops it",
			"This end cannot see whether it does: the client's last segment here was a keep-alive, 4.827 s before"},
			not: []string{econn}},
		// #3 and #4: the client still held them, which the server's end
		// cannot see (what the client sent may have been lost), and the
		// client's end can.
		{frame: 80, notes: []string{"If it arrives, and the client's kernel still holds the connection (this end cannot see whether it does", resetHeld}},
		{frame: 82, notes: []string{"The client's " + econn}, not: []string{"If it arrives"}},
		{frame: 74, notes: []string{"If it arrives, and the client's kernel still holds the connection (this end cannot see whether it does", resetHeld}},
		{frame: 78, notes: []string{"The client's " + econn}, not: []string{"If it arrives"}},
	})
}

// TestNotesAtTheReceiversEnd checks, on lossy.pcapng, that at the
// server's end the notes say what that end saw: the client's resend of
// byte 6957 (its first copy at the client's interface, frame 114) after
// the client's 4th duplicate ACK, arrives after the server had sent 8,
// and the 188 bytes from 6017 (frame 98 at the client) arrive 7 µs after
// frame 145.
func TestNotesAtTheReceiversEnd(t *testing.T) {
	events := atEnds(t, "testdata/lossy.pcapng")
	checkNotes(t, events, []frameNote{
		{frame: 212, at: "server", notes: []string{
			"This segment brings bytes 6957 to 7144 of the client's stream to this end, which had not received them before, though later bytes had arrived; Wireshark calls this a fast retransmission.",
			"Before they came, the server had sent 8 duplicate ACKs in a row asking for byte 6957",
			"Why the client sent them when it did (duplicate ACKs, SACK blocks, a timer), and which of the server's ACKs had reached it by then, is seen at the client's own end, not here."},
			not: []string{"the capture did not see them sent before", "on the duplicate ACKs' word", "right after 8 duplicate ACKs"}},
		{frame: 214, at: "server", notes: []string{"This segment brings bytes 7709 to 7896 of the client's stream to this end, which had not received them before", "Wireshark calls this out of order"},
			not: []string{"whose first copy this capture did not see"}},
		{frame: 145, at: "server", notes: []string{"The 188 bytes before them (from byte 6017) had not arrived at this end: lost on the way, still on the way (reordered), or not captured."},
			not: []string{"were not seen in this capture", "lost before the point of capture"}},
		// The IPv4 ID tells a resend (an ID above all the later bytes')
		// from the first copy reordered (below one received before).
		{frame: 212, at: "server", notes: []string{"Its IPv4 ID (0xe64d) is above every one this end had received from the client", "so it is a resend, its first copy lost on the way here."}},
		{frame: 214, at: "server", notes: []string{"Its IPv4 ID (0xe64e) is above every one this end had received from the client"}},
		{frame: 30, at: "server", notes: []string{"Its IPv4 ID (0xe614) is below that of a packet the client sent after it, which this end received before (0xe615)", "this is the first copy, reordered on the way, not a resend."},
			not: []string{"Why the client sent them", "this end cannot tell", "1 duplicate ACKs"}},
		{frame: 147, at: "server", notes: []string{"Its IPv4 ID (0xe62d) is below that of a packet the client sent after it"}, not: []string{"Why the client sent them"}},
		// At the client's end, the sender's: as before.
		{frame: 201, at: "client", notes: []string{"right after 4 duplicate ACKs from the server, each asking for byte 6957: a fast retransmission"}},
		{frame: 206, at: "client", notes: []string{"sends bytes 7709 to 7896 of its stream again, 15.782 ms after the first copy"}},
	})
	for _, f := range []int{212, 214, 145} {
		if at := events[f-1].Packet; at == nil || at.To != "server" {
			t.Errorf("frame %d: not a segment to the server", f)
		}
	}
}

// resent lists the segments of a capture annotated by atEnds that are
// Resent, as "at from seq len flags".
func resent(events []tracer.Event) []string {
	var out []string
	for _, e := range events {
		if p := e.Packet; p != nil && p.Resent {
			out = append(out, p.At+" "+p.From+" "+strconv.Itoa(int(p.Seq))+" "+strconv.Itoa(p.Len)+" "+p.Flags)
		}
	}
	return out
}

// TestNetworkCopyAndResent checks, on lossy.pcapng, that the segment the
// link duplicated (frames 68 and 70 at the server, one IPv4 ID, sent
// once: frame 44 at the client) is said to be the network's copy and is
// not Resent, and that Resent marks just what the senders sent again:
// the client's 6957 and 7709 (tshark calls the second out of order),
// seen leaving the client and arriving at the server; and, in
// synack.pcapng, the SYN and SYN-ACK sent again.
func TestNetworkCopyAndResent(t *testing.T) {
	events := atEnds(t, "testdata/lossy.pcapng")
	checkNotes(t, events, []frameNote{
		{frame: 70, at: "server", notes: []string{"A second copy of bytes 2633 to 2820 of the client's stream, with the same IPv4 ID (0xe61b) as the copy seen before: the network duplicated that packet; the client did not send it again",
			"Wireshark calls it a spurious retransmission."},
			not: []string{"The client's kernel sends bytes 2633 to 2820 of its stream again"}},
		{frame: 68, at: "server", notes: []string{"The client's kernel sends 188 bytes of data (bytes 2633 to 2820 of its stream)"}},
	})
	if e := events[70-1]; e.Packet.Resent || strings.Join(e.Packet.Analysis, " ") != "retransmission spurious-retransmission" {
		t.Errorf("frame 70: Resent %v, analysis %q", e.Packet.Resent, e.Packet.Analysis)
	}
	if e := events[206-1]; !e.Packet.Resent || strings.Join(e.Packet.Analysis, " ") != "out-of-order" {
		t.Errorf("frame 206: Resent %v, analysis %q", e.Packet.Resent, e.Packet.Analysis)
	}
	got := strings.Join(resent(events), "\n")
	want := strings.Join([]string{
		"client client 6957 188 ACK",
		"client client 7709 188 ACK",
		// At the server, 7709 (frame 214) is out of order and its
		// first copy never arrived: not shown resent there.
		"server client 6957 188 ACK",
	}, "\n")
	if got != want {
		t.Errorf("lossy.pcapng: Resent:\n%s\nwant:\n%s", got, want)
	}
	got = strings.Join(resent(atEnds(t, "testdata/synack.pcapng")), "\n")
	// Frames 4 and 7 at the server, 5 and 11 at the client (the
	// SYN-ACKs have IPv4 ID 0: not telling), 6 at the server.
	want = strings.Join([]string{
		"server server 0 0 SYN ACK",
		"client client 0 0 SYN",
		"server client 0 0 SYN",
		"server server 0 0 SYN ACK",
		"client server 0 0 SYN ACK",
	}, "\n")
	if got != want {
		t.Errorf("synack.pcapng: Resent:\n%s\nwant:\n%s", got, want)
	}
}

// TestFastOpenNotes checks the SYNs of tfo.pcapng: the Fast Open option
// shown in the options and explained (tshark: tcp.options.tfo.request in
// frame 1, tcp.options.tfo.cookie a8a404207f16b00a in frames 2 and 11).
func TestFastOpenNotes(t *testing.T) {
	events := atEnds(t, "testdata/tfo.pcapng")
	for f, want := range map[int]string{
		1:  "mss 1460 sack ts ws 10 tfo cookie-request",
		2:  "mss 1460 sack ws 10 tfo cookie a8a404207f16b00a",
		11: "mss 1460 sack ts ws 10 tfo cookie a8a404207f16b00a",
		12: "mss 1460 sack ts ws 10",
	} {
		if got := events[f-1].Packet.Options; got != want {
			t.Errorf("frame %d: options %q, want %q", f, got, want)
		}
	}
	checkNotes(t, events, []frameNote{
		{frame: 1, notes: []string{"a TCP Fast Open cookie request (TFO).", "Its Fast Open option is empty: a cookie request: the client's kernel asks the server's for a TCP Fast Open cookie (RFC 7413)"}},
		{frame: 2, notes: []string{"Its Fast Open option gives the client the cookie a8a404207f16b00a (RFC 7413)"}},
		{frame: 11, notes: []string{"The SYN carries 18 bytes of data", "Its Fast Open option holds the cookie a8a404207f16b00a, the one the server's SYN-ACK gave this client 24.184 ms before"},
			not: []string{"This SYN carries no data"}},
		{frame: 12, notes: []string{"the 18 bytes of data it carried (ack 19)"}, not: []string{"Fast Open option"}},
	})
}

// TestSYNOnATimeWaitFiveTuple checks, on reuse.pcapng, that the SYN of
// connection #2 (frame 21 at the client, 22 at the server), on the
// five-tuple of #1, which the server closed first, says so, with the
// numbers tshark shows (tcp.seq_raw 544621668 against the client's FIN
// at 544398017; TSval 204825696 against 204825691); the first SYN has
// no such word.
func TestSYNOnATimeWaitFiveTuple(t *testing.T) {
	events := atEnds(t, "testdata/reuse.pcapng")
	same := []string{
		"It opens a new connection on the five-tuple of the connection before, which ended ",
		"The server closed first, so the server's socket still holds this five-tuple in TIME_WAIT (60 s on Linux)",
		"a SYN whose timestamp is older is refused whatever its sequence number (PAWS; RFC 6191)",
		"Here the new initial sequence number (raw 544621668) is 223650 above the client's last in the old connection (raw 544398018, after its FIN), and its timestamp (204825696) is newer than the client's last there (204825691).",
	}
	checkNotes(t, events, []frameNote{
		{frame: 21, at: "client", notes: append([]string{"which ended 0.914 ms before in this capture"}, same...)},
		{frame: 22, at: "server", notes: append([]string{"which ended 4.965 ms before in this capture"}, same...)},
		{frame: 1, at: "client", not: []string{"five-tuple"}},
	})
	n := 0
	for _, e := range events {
		if strings.Contains(e.Note, "It opens a new connection on the five-tuple of") {
			n++
		}
	}
	if n != 22 { // 11 SYNs after the first, seen at both ends
		t.Errorf("%d SYNs said to reuse a five-tuple, want 22", n)
	}
}

// TestWindowUpdateWithSACKAndProbeWait checks two notes' figures: tbf.pcap
// frames 17 and 67, window updates whose SACK blocks newly hold bytes
// (tshark: tcp.options.sack_le 11585 and 68057, the ACK before without
// one), and finlost.pcapng frame 11, the timer's 72.000 ms after a probe
// that waited 52.559 ms.
func TestWindowUpdateWithSACKAndProbeWait(t *testing.T) {
	checkNotes(t, atEnds(t, "testdata/tbf.pcap"), []frameNote{
		{frame: 17, notes: []string{"A window update: the window grows from 78848 to 81920 bytes", "Its cumulative ACK did not move (ack 8689), but its SACK blocks add bytes 11585 to 13032 of the client's stream, which the server's last ACK did not hold."},
			not: []string{"nothing new acknowledged"}},
		{frame: 67, notes: []string{"Its cumulative ACK did not move (ack 62265), but its SACK blocks add bytes 68057 to 69504 of the client's stream"},
			not: []string{"nothing new acknowledged"}},
	})
	checkNotes(t, atEnds(t, "testdata/finlost.pcapng"), []frameNote{
		{frame: 11, notes: []string{"72.000 ms after the tail loss probe, which had waited 52.559 ms: 1.4 times as long, not twice"},
			not: []string{"about as long as the probe had waited"}},
	})
}
