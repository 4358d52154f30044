package wire

import (
	"path/filepath"
	"strings"
	"testing"

	"tcptour/tracer/capture"
)

// TestNotesOfCaptures checks the names and notes of segments in the
// captures of testdata (made by testdata/makecaps; README.md there says
// what each holds): packet number in its interface (1-based), its
// analysis names, phrases its note must hold, phrases it must not.
func TestNotesOfCaptures(t *testing.T) {
	type want struct {
		names     string
		notes     []string
		falseNote []string
	}
	for _, tc := range []struct {
		file, at string // at: " at client", " at server", or "" for one interface
		want     map[int]want
	}{
		{"tfo.pcapng", "", map[int]want{
			// The second connection: 18 bytes in the SYN, taken.
			11: {"", []string{"The SYN carries 18 bytes of data (bytes 1 to 18 of its stream): TCP Fast Open"}, []string{"sends 18 bytes"}},
			12: {"", []string{"acknowledges the SYN and the 18 bytes of data it carried (ack 19)"}, []string{"(ack 1)"}},
			13: {"", []string{"completes the three-way handshake"}, nil},
		}},
		{"simclose.pcapng", " at client", map[int]want{
			9:  {"", []string{"does not cover the client's FIN", "The two FINs crossed", "simultaneous close"}, nil},
			10: {"", []string{"acknowledges the server's FIN (ack 23)"}, []string{"Both FINs"}},
			11: {"", []string{"Both FINs are now acknowledged. The FINs crossed, so both ends closed first"}, []string{"sent the first FIN"}},
		}},
		{"simclose.pcapng", " at server", map[int]want{
			9:  {"", []string{"does not cover the server's FIN", "The two FINs crossed"}, nil},
			10: {"", []string{"acknowledges the client's FIN (ack 20)"}, []string{"Both FINs"}},
			11: {"", []string{"Both FINs are now acknowledged. The FINs crossed"}, nil},
		}},
		{"finlost.pcapng", "", map[int]want{
			// rto_min 5 ms on the client's route: the FIN comes again
			// after 52.559 ms, then 72 ms.
			10: {"retransmission tail-loss-probe", []string{"sends its FIN again", "52.559 ms after the last copy", "less than the 200 ms that Linux waits at least by default", "rto_min"},
				[]string{"about 200 ms more"}},
			11: {"retransmission rto", []string{"72.000 ms after the last copy", "less than the 200 ms"}, nil},
		}},
		{"synack.pcapng", " at client", map[int]want{
			6: {"retransmission", []string{"sends its SYN-ACK again", "though the client's ACK of it was captured 4.937 ms before"}, []string{"answers SYN-ACK"}},
			7: {"duplicate-ack", []string{"in answer to the server's last segment, its SYN-ACK sent again: nothing is missing"}, []string{"has not arrived"}},
		}},
		{"synack.pcapng", " at server", map[int]want{
			3:  {"retransmission rto", []string{"sends its SYN-ACK again", "1.006 s after the last copy", "SYN-ACK timer"}, nil},
			4:  {"retransmission rto", []string{"sends its SYN again", "no SYN-ACK had reached the client, though the server's was captured 6.048 ms before"}, []string{"no SYN-ACK had come back"}},
			5:  {"retransmission", []string{"after the client's SYN came again"}, nil},
			10: {"duplicate-ack", []string{"without a SACK block", "Nothing is missing"}, []string{"has not arrived"}},
		}},
		{"keepalive.pcapng", "", map[int]want{
			6: {"keep-alive", []string{"sends a keep-alive", "after 1.010 s without a segment either way"}, nil},
			7: {"keep-alive-ack", []string{"answers the keep-alive"}, nil},
			8: {"keep-alive", []string{"sends a keep-alive"}, nil},
		}},
		{"zerowindow.pcapng", "", map[int]want{
			7:  {"window-full", []string{"fills the server's window to its last byte"}, nil},
			11: {"zero-window", []string{"Window 0"}, nil},
			13: {"zero-window-probe keep-alive", []string{"sends a zero-window probe"}, nil},
			16: {"window-update", []string{"the window opens again (1464 bytes)"}, nil},
		}},
		{"gap.pcapng", "", map[int]want{
			13: {"previous-segment-not-captured", []string{"The 376 bytes before them (from byte 1693) were not seen in this capture"}, nil},
			21: {"ack-of-unseen-segment", []string{"never saw sent"}, nil},
		}},
		{"tbf.pcap", "", map[int]want{
			// Frames the qdisc dropped before the capture point.
			16: {"previous-segment-not-captured", []string{"The 2896 bytes before them (from byte 8689) were not seen in this capture"}, nil},
			26: {"retransmission fast-retransmission", []string{"sends bytes 8689 to 10136 of its stream again", "4 duplicate ACKs"}, nil},
			28: {"retransmission", []string{"sends bytes 10137 to 11584 of its stream again", "the server's last ACK (ack 10137) showed missing"}, []string{"sends 1448 bytes"}},
		}},
		{"lossy.pcapng", " at client", map[int]want{
			101: {"retransmission fast-retransmission", []string{"sends bytes 6957 to 7144 of its stream again", "4 duplicate ACKs"}, []string{"sends 188 bytes"}},
			103: {"out-of-order", []string{"sends bytes 7709 to 7896 of its stream again, 15.782 ms after the first copy", "its first copy is in this capture"}, []string{"arrive out of order"}},
		}},
		{"lossy.pcapng", " at server", map[int]want{
			15: {"previous-segment-not-captured", []string{"The 188 bytes before them (from byte 1317) were not seen"}, nil},
			17: {"out-of-order", []string{"out of order", "reordered on the way"}, nil},
			// The link's copy: the same IPv4 ID (TestNetworkCopyAndResent).
			31: {"retransmission spurious-retransmission", []string{"with the same IPv4 ID (0xe61b)", "the network duplicated that packet"}, []string{"did not see them sent before", "sends bytes 2633 to 2820 of its stream again"}},
			32: {"duplicate-ack", []string{"D-SACK", "nothing is missing"}, nil},
		}},
	} {
		t.Run(tc.file+tc.at, func(t *testing.T) {
			found := false
			for at, part := range byInterface(t, filepath.Join("testdata", tc.file)) {
				if at != tc.at {
					continue
				}
				found = true
				a := NewAnnotator()
				for i, p := range part {
					d := decoded(t, p)
					e := a.Event(d)
					w, ok := tc.want[i+1]
					if !ok {
						continue
					}
					if got := strings.Join(e.Packet.Analysis, " "); got != w.names {
						t.Errorf("packet %d: %q, want %q", i+1, got, w.names)
					}
					for _, n := range w.notes {
						if !strings.Contains(e.Note, n) {
							t.Errorf("packet %d: note lacks %q:\n%s", i+1, n, e.Note)
						}
					}
					for _, n := range w.falseNote {
						if strings.Contains(e.Note, n) {
							t.Errorf("packet %d: note says %q:\n%s", i+1, n, e.Note)
						}
					}
				}
			}
			if !found {
				t.Fatalf("no packets%s", tc.at)
			}
		})
	}
}

// decoded decodes a captured packet.
func decoded(t *testing.T, p capture.Packet) capture.Decoded {
	t.Helper()
	d, err := capture.Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
