package wire

import (
	"bytes"
	"encoding/binary"
	"iter"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"tcptour/tracer/capture"
)

// sackOpt is a SACK option with blocks of raw sequence numbers [l, r).
func sackOpt(blocks ...uint32) []layers.TCPOption {
	data := make([]byte, 0, 4*len(blocks))
	for _, b := range blocks {
		data = binary.BigEndian.AppendUint32(data, b)
	}
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(data)), OptionData: data},
	}
}

// timed is a scenario's segment with the time since the one before it.
type timed struct {
	after time.Duration
	seg
	want Analysis // what the analysis must find
}

// data from the client: its n bytes at relative sequence number rel
// (ISN 1000), acknowledging the server's SYN (ISN 7000).
func cdata(rel uint32, n int) seg {
	return seg{by: "a", flags: pshF | ackF, seq: 1000 + rel, ack: 7001, win: 512, n: n, from: "client", rseq: rel, rack: 1, rwin: 65536}
}

// sack is the server's ACK of the client's relative ack, with a window
// of win<<7 bytes and SACK blocks of relative numbers.
func sack(ack uint32, win uint16, blocks ...uint32) seg {
	var raw []uint32
	for _, b := range blocks {
		raw = append(raw, 1000+b)
	}
	s := seg{by: "b", flags: ackF, seq: 7001, ack: 1000 + ack, win: win, from: "server", rseq: 1, rack: ack, rwin: int(win) << 7}
	if len(raw) > 0 {
		s.opts = sackOpt(raw...)
	}
	return s
}

// hs10 is the handshake with a round trip of 10 ms.
func hs10() []timed {
	t := hs()
	t[1].after = 10 * time.Millisecond
	return t
}

// timerAlone is the client's second segment sent again and again with
// nothing coming back, after hs10: a first copy 246 ms after it (a tail
// loss probe, by its wait), then one after each of waits (the
// retransmission timer's).
func timerAlone(waits ...time.Duration) []timed {
	t := append(hs10(),
		timed{seg: cdata(1, 100)},
		timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
		timed{seg: cdata(101, 100)},
		timed{after: 246 * time.Millisecond, seg: cdata(101, 100), want: Retransmission | TailLossProbe},
	)
	for _, w := range waits {
		t = append(t, timed{after: w, seg: cdata(101, 100), want: Retransmission | RTO})
	}
	return t
}

func hs() []timed {
	var t []timed
	for _, s := range handshake(7) {
		t = append(t, timed{seg: s})
	}
	return t
}

// analysisScenarios are the findings of loss, recovery and the window's
// story, in segments built by hand as a capture at the sender (or at the
// receiver) would hold them.
var analysisScenarios = []struct {
	name string
	segs []timed
	// notes: for segment i (1-based), phrases its note must hold
	notes map[int][]string
}{
	{
		name: "fast retransmission after three duplicate ACKs with SACK",
		segs: append(hs(),
			timed{seg: cdata(1, 100)},
			timed{seg: cdata(101, 100)}, // lost after the capture point
			timed{seg: cdata(201, 100)},
			timed{seg: cdata(301, 100)},
			timed{seg: cdata(401, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
			timed{seg: sack(101, 512, 201, 301), want: DuplicateAck},
			timed{seg: sack(101, 512, 201, 401), want: DuplicateAck},
			timed{seg: sack(101, 512, 201, 501), want: DuplicateAck},
			timed{after: time.Millisecond, seg: cdata(101, 100), want: Retransmission | FastRetransmission},
			timed{after: 10 * time.Millisecond, seg: sack(501, 512)},
		),
		notes: map[int][]string{
			10: {"The 1st duplicate ACK in a row", "byte 101 of the client's stream", "the server has bytes 201 to 300 of the client's stream already but not bytes 101 to 200"},
			12: {"The 3rd duplicate ACK in a row", "has bytes 201 to 500", "but not bytes 101 to 200"},
			13: {"sends bytes 101 to 200 of its stream again", "after 3 duplicate ACKs", "fast retransmission"},
		},
	},
	{
		name: "retransmission after a silence, then a spurious one",
		segs: append(hs(),
			timed{seg: cdata(1, 100)},
			timed{after: 206 * time.Millisecond, seg: cdata(1, 100), want: Retransmission | TailLossProbe},
			timed{after: 5 * time.Millisecond, seg: sack(101, 512)},
			timed{after: 5 * time.Millisecond, seg: cdata(1, 100), want: Retransmission | SpuriousRetransmission},
			timed{after: 5 * time.Millisecond, seg: sack(101, 512, 1, 101), want: DuplicateAck},
		),
		notes: map[int][]string{
			5: {"sends bytes 1 to 100 of its stream again, 206.000 ms after the first copy", "tail loss probe", "last segment the client had sent"},
			7: {"had already acknowledged them (ack 101)", "spurious"},
			8: {"The 1st duplicate ACK in a row", "because a segment it already had came again; nothing is missing", "first SACK block, bytes 1 to 100 of the client's stream, lies below its ACK", "D-SACK", "arrived twice"},
		},
	},
	{
		name: "a gap, then the missing segment out of order (a capture at the receiver)",
		segs: append(hs(),
			timed{seg: cdata(1, 100)},
			timed{after: 50 * time.Microsecond, seg: cdata(201, 100), want: LostSegment},
			timed{seg: cdata(101, 100), want: OutOfOrder},
		),
		notes: map[int][]string{
			5: {"The 100 bytes before them (from byte 101) were not seen in this capture"},
			6: {"out of order"},
		},
	},
	{
		name: "keep-alive and its answer",
		segs: append(hs(),
			timed{seg: cdata(1, 10)},
			timed{seg: sack(11, 512)},
			timed{after: time.Second, seg: seg{by: "a", flags: ackF, seq: 1010, ack: 7001, win: 512, from: "client", rseq: 10, rack: 1, rwin: 65536}, want: KeepAlive},
			timed{seg: sack(11, 512), want: KeepAliveAck},
		),
		notes: map[int][]string{
			6: {"keep-alive", "seq 10"},
			7: {"answers the keep-alive"},
		},
	},
	{
		name: "zero window, Linux's probe and its answer, a window update",
		segs: append(hs(),
			timed{seg: cdata(1, 100)},
			timed{seg: sack(101, 0), want: ZeroWindow},
			timed{after: 200 * time.Millisecond, seg: seg{by: "a", flags: ackF, seq: 1100, ack: 7001, win: 512, from: "client", rseq: 100, rack: 1, rwin: 65536}, want: KeepAlive | ZeroWindowProbe},
			timed{seg: sack(101, 0), want: ZeroWindow | ZeroWindowProbeAck},
			timed{after: 100 * time.Millisecond, seg: sack(101, 64), want: WindowUpdate},
		),
		notes: map[int][]string{
			5: {"Window 0"},
			6: {"zero-window probe", "one below its next byte", "tcp_invalid_ratelimit"},
			7: {"answers the client's zero-window probe"},
			8: {"A window update: the window opens again (8192 bytes)"},
		},
	},
	{
		name: "data that fills the window",
		segs: append(hs(),
			timed{seg: cdata(1, 100)},
			timed{seg: sack(101, 2)}, // 256 bytes from byte 101
			timed{seg: cdata(101, 256), want: WindowFull},
		),
		notes: map[int][]string{
			6: {"fills the server's window to its last byte"},
		},
	},
	{
		name: "FIN sent again, and the SYN",
		segs: []timed{
			{seg: handshake(7)[0]},
			{after: 1006 * time.Millisecond, seg: handshake(7)[0], want: Retransmission | RTO},
			{seg: handshake(7)[1]},
			{seg: handshake(7)[2]},
			{seg: seg{by: "a", flags: finF | ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 65536}},
			{after: 208 * time.Millisecond, seg: seg{by: "a", flags: finF | ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 65536}, want: Retransmission | TailLossProbe},
			{after: 208 * time.Millisecond, seg: seg{by: "a", flags: finF | ackF, seq: 1001, ack: 7001, win: 512, from: "client", rseq: 1, rack: 1, rwin: 65536}, want: Retransmission | RTO},
		},
		notes: map[int][]string{
			2: {"sends its SYN again", "1.006 s after the last copy"},
			6: {"sends its FIN again", "208.000 ms after the last copy", "no ACK of it had come back", "tail loss probe"},
			7: {"sends its FIN again", "retransmission timer fired (RTO", "208.000 ms after the tail loss probe", "without doubling"},
		},
	},
	{
		name: "a tail loss probe of the last of three segments, then the timer and its backoff",
		segs: append(hs10(),
			timed{seg: cdata(1, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512)}, // a round trip of 10 ms
			timed{seg: cdata(101, 100)},
			timed{seg: cdata(201, 100)},
			timed{seg: cdata(301, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(201, 512)},
			timed{after: 30 * time.Millisecond, seg: cdata(301, 100), want: Retransmission | TailLossProbe},
			timed{after: 210 * time.Millisecond, seg: cdata(201, 100), want: Retransmission | RTO},
			timed{after: 420 * time.Millisecond, seg: cdata(201, 100), want: Retransmission | RTO},
			timed{after: 840 * time.Millisecond, seg: cdata(201, 100), want: Retransmission | RTO},
		),
		notes: map[int][]string{
			10: {"bytes 301 to 400 of its stream again", "It is the last segment the client had sent, and for 30.000 ms nothing came back from the server, more than two round trips (10.001 ms here)", "tail loss probe (RFC 8985)", "but never longer than the retransmission timer would"},
			11: {"bytes 201 to 300 of its stream again", "the first segment the server has not acknowledged", "retransmission timer fired (RTO"},
			12: {"its wait doubled to 420.000 ms (from 210.000 ms)", "exponential backoff"},
			13: {"its wait doubled to 840.000 ms (from 420.000 ms)"},
		},
	},
	{
		name: "the timer alone (tcp_early_retrans=0): the wait doubles from the first copy more, then a wait further from twice than a late timer explains",
		segs: timerAlone(480*time.Millisecond, 1100*time.Millisecond),
		notes: map[int][]string{
			7: {"tail loss probe", "tcp_early_retrans=0", "a next copy tells them apart"},
			8: {"its wait about doubled, to 480.000 ms from 246.000 ms (1.95 times: the kernel doubles its timeout, but its timer fires a little late, by up to about an eighth of the wait, and not by the same each time)", "So the copy before was the timer's too, not a probe"},
			9: {"its wait grew to 1.100 s, 2.29 times the one before (480.000 ms), further from twice than a late timer explains: after each timeout the next waits twice as long (exponential backoff)."},
		},
	},
	{
		name: "a SYN sent again by its timer, and a SYN-ACK sent again in answer to it",
		segs: []timed{
			{seg: handshake(7)[0]},
			{seg: handshake(7)[1]}, // lost after the capture point
			{after: time.Second, seg: handshake(7)[0], want: Retransmission | RTO},
			{seg: handshake(7)[1], want: Retransmission},
			{seg: handshake(7)[2]},
		},
		notes: map[int][]string{
			3: {"sends its SYN again"},
			4: {"sends its SYN-ACK again", "and 0.001 ms after the client's SYN came again", "answers the repeated one with the same SYN-ACK, without waiting for its own timer"},
		},
	},
	{
		name: "data sent again and again: its wait doubles up to the ceiling, 120 s",
		segs: timerAlone(480*time.Millisecond, 960*time.Millisecond, 1920*time.Millisecond, 3960*time.Millisecond,
			7680*time.Millisecond, 15360*time.Millisecond, 30720*time.Millisecond, 63*time.Second,
			122500*time.Millisecond, 121*time.Second),
		notes: map[int][]string{
			9:  {"its wait doubled to 960.000 ms (from 480.000 ms): after each timeout the next waits twice as long (exponential backoff)."},
			11: {"its wait about doubled, to 3.960 s from 1.920 s (2.06 times: the kernel doubles its timeout, but its timer fires a little late, by up to about an eighth of the wait, and not by the same each time): after each timeout"},
			12: {"its wait about doubled, to 7.680 s from 3.960 s (1.94 times"},
			15: {"its wait about doubled, to 1m3s from 30.720 s (2.05 times"},
			16: {"its wait grew to 2m3s (from 1m3s), less than twice: after each timeout the next waits twice as long (exponential backoff), up to a ceiling, 120 s by default (TCP_RTO_MAX)."},
			17: {"after a wait of 2m1s, about as long as the one before (2m3s): the timeout has reached its ceiling, 120 s by default (TCP_RTO_MAX), and doubles no more."},
		},
	},
	{
		name: "a SYN-ACK sent again by its timer",
		segs: []timed{
			{seg: handshake(7)[0]},
			{seg: handshake(7)[1]}, // lost after the capture point
			{after: time.Second, seg: handshake(7)[1], want: Retransmission | RTO},
			{seg: handshake(7)[2]},
		},
		notes: map[int][]string{
			3: {"sends its SYN-ACK again", ", 1.000 s after the last copy: no ACK of it from the client had been captured."},
		},
	},
	{
		name: "a resend in the middle of a transfer, asked for by ACKs whose window grows: out of order to Wireshark",
		segs: append(hs10(),
			timed{seg: cdata(1, 100)},
			timed{seg: cdata(101, 100)}, // lost after the capture point
			timed{seg: cdata(201, 100)},
			timed{seg: cdata(301, 100)},
			timed{seg: cdata(401, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
			timed{seg: sack(101, 513, 201, 301), want: WindowUpdate},
			timed{seg: sack(101, 514, 201, 401), want: WindowUpdate},
			timed{seg: sack(101, 515, 201, 501), want: WindowUpdate},
			timed{seg: cdata(501, 100)},
			timed{seg: cdata(101, 100), want: OutOfOrder},
		),
		notes: map[int][]string{
			14: {"sends bytes 101 to 200 of its stream again, 10.008 ms after the first copy, after 3 ACKs in a row from the server that asked for byte 101 with SACK blocks, the last holding 300 bytes beyond it",
				"fast retransmit on the SACK blocks' word", "calls this segment out of order"},
		},
	},
	{
		// The same seen where the first copy of bytes 101 to 200 is
		// missing (lost before the point of capture): a resend, or the
		// first copy late; the capture cannot tell.
		name: "the same out of order segment, its first copy not captured",
		segs: append(hs10(),
			timed{seg: cdata(1, 100)},
			timed{seg: cdata(201, 100), want: LostSegment},
			timed{seg: cdata(301, 100)},
			timed{seg: cdata(401, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
			timed{seg: sack(101, 513, 201, 301), want: WindowUpdate},
			timed{seg: sack(101, 514, 201, 401), want: WindowUpdate},
			timed{seg: sack(101, 515, 201, 501), want: WindowUpdate},
			timed{seg: cdata(501, 100)},
			timed{seg: cdata(101, 100), want: OutOfOrder},
		),
		notes: map[int][]string{
			13: {"sent bytes 101 to 200 of its stream, after 3 ACKs in a row", "This capture did not see them before", "or their first copy, reordered on the way"},
		},
	},
	{
		name: "a resend soon after an ACK, with no SACK: too soon for a timer",
		segs: append(hs10(),
			timed{seg: cdata(1, 100)},
			timed{seg: cdata(101, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
			timed{after: 3 * time.Millisecond, seg: cdata(101, 100), want: Retransmission},
		),
		notes: map[int][]string{
			7: {"a retransmission, 3.000 ms after the last word from the server, less than two round trips (10.001 ms here): too soon for a timer"},
		},
	},
	{
		name: "a resend that ACKs led to, and a D-SACK inside a SACK block",
		segs: append(hs10(),
			timed{seg: cdata(1, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512)},
			timed{seg: cdata(101, 100)},
			timed{seg: cdata(201, 100)},
			timed{seg: cdata(301, 100)},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512, 301, 401), want: DuplicateAck},
			timed{after: 2 * time.Millisecond, seg: cdata(101, 100), want: Retransmission},
			timed{after: 10 * time.Millisecond, seg: sack(101, 512, 301, 401, 201, 401), want: DuplicateAck},
		),
		notes: map[int][]string{
			9:  {"has bytes 301 to 400 of the client's stream already but not bytes 101 to 300"},
			10: {"after an ACK from the server that asked for byte 101 with SACK blocks holding 100 bytes beyond it", "too soon for a timer", "RACK"},
			11: {"first SACK block, bytes 301 to 400 of the client's stream, lies inside its next SACK block", "D-SACK", "has bytes 201 to 400", "but not bytes 101 to 200"},
		},
	},
}

// scenarioPackets builds a scenario's capture, each segment the given
// time after the one before (a microsecond at least).
func scenarioPackets(t *testing.T, segs []timed) []capture.Packet {
	plain := make([]seg, len(segs))
	for i, s := range segs {
		plain[i] = s.seg
	}
	ps := packets(t, 40000, 5000, plain)
	at := ps[0].Time
	for i := range ps {
		at = at.Add(max(segs[i].after, time.Microsecond))
		ps[i].Time, ps[i].Info.Timestamp = at, at
	}
	return ps
}

// TestAnalysis checks the findings and the notes of each scenario, and,
// where tshark is installed, that tshark's analysis marks the same
// segments the same way.
func TestAnalysis(t *testing.T) {
	var parts [][]capture.Packet
	var gots [][]Analysis
	for _, sc := range analysisScenarios {
		ps := scenarioPackets(t, sc.segs)
		got := make([]Analysis, len(ps))
		t.Run(sc.name, func(t *testing.T) {
			a := NewAnnotator()
			for i, p := range ps {
				d, err := capture.Decode(p)
				if err != nil {
					t.Fatal(err)
				}
				e := a.Event(d)
				for _, n := range e.Packet.Analysis {
					got[i] |= Analysis(1) << slices.Index(analysisNames[:], n)
				}
				if got[i] != sc.segs[i].want {
					t.Errorf("segment %d: %q, want %q", i+1, got[i], sc.segs[i].want)
				}
				for _, w := range sc.notes[i+1] {
					if !strings.Contains(e.Note, w) {
						t.Errorf("segment %d: note lacks %q:\n%s", i+1, w, e.Note)
					}
				}
			}
		})
		parts, gots = append(parts, ps), append(gots, got)
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed: the findings were not compared with its analysis")
		return
	}
	// One run of tshark for all the scenarios.
	for k, theirs := range tsharkParts(t, tshark, parts) {
		for i := range theirs {
			// tshark has no finding for Linux's kind of zero-window
			// probe (a keep-alive to it) nor for its answer.
			// Nor for our names of a resend's timer.
			ours := gots[k][i] &^ (ZeroWindowProbe | ZeroWindowProbeAck | TailLossProbe | RTO)
			if theirs[i] != ours {
				t.Errorf("%s: segment %d: tshark finds %q, we %q", analysisScenarios[k].name, i+1, theirs[i], gots[k][i])
			}
		}
	}
}

// tsharkFields are tshark's analysis fields, in the order of the
// Analysis bits.
var tsharkFields = []string{
	"tcp.analysis.retransmission", "tcp.analysis.fast_retransmission", "tcp.analysis.spurious_retransmission",
	"tcp.analysis.out_of_order", "tcp.analysis.lost_segment", "tcp.analysis.ack_lost_segment",
	"tcp.analysis.duplicate_ack", "tcp.analysis.zero_window", "tcp.analysis.zero_window_probe",
	"tcp.analysis.zero_window_probe_ack", "tcp.analysis.keep_alive", "tcp.analysis.keep_alive_ack",
	"tcp.analysis.window_update", "tcp.analysis.window_full",
}

// tsharkAnalysis reads tshark's analysis of each frame of a capture.
func tsharkAnalysis(t *testing.T, tshark, path string, n int) []Analysis {
	t.Helper()
	a, _ := tsharkRead(t, tshark, path, n)
	return a
}

// tsharkRead reads tshark's analysis of each frame of a capture, and
// the number it gives each duplicate ACK (0 for other frames).
func tsharkRead(t *testing.T, tshark, path string, n int) ([]Analysis, []int) {
	t.Helper()
	args := []string{"-r", path, "-T", "fields", "-E", "separator=,", "-E", "occurrence=f", "-e", "frame.number"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	args = append(args, "-e", "tcp.analysis.duplicate_ack_num")
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	lines, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	out := make([]Analysis, n)
	dups := make([]int, n)
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		cols := strings.Split(l, ",")
		i, err := strconv.Atoi(cols[0])
		if err != nil || i < 1 || i > n || len(cols) != 2+len(tsharkFields) {
			t.Fatalf("tshark printed %q", l)
		}
		for bit, c := range cols[1 : 1+len(tsharkFields)] {
			if c != "" {
				out[i-1] |= 1 << bit
			}
		}
		if c := cols[1+len(tsharkFields)]; c != "" {
			if dups[i-1], err = strconv.Atoi(c); err != nil {
				t.Fatalf("tshark printed %q", l)
			}
		}
		// tshark marks a fast or a spurious retransmission as a
		// retransmission too, or not, by version; we do.
		if out[i-1].Has(FastRetransmission) || out[i-1].Has(SpuriousRetransmission) {
			out[i-1] |= Retransmission
		}
	}
	return out, dups
}

// TestAnalysisOfFiles compares the analysis of every capture in
// tracer/inspect/testdata and testdata with tshark's, segment by
// segment: each of tshark's marks (retransmission, fast and spurious,
// out of order, lost segment, ACK of an unseen segment, duplicate ACK,
// zero window, keep-alive, window update and full, and the probes') is
// ours too, and no more.
func TestAnalysisOfFiles(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: nothing to compare the analysis with")
	}
	files, _ := filepath.Glob("../inspect/testdata/*.pcap*")
	ours, _ := filepath.Glob("testdata/*.pcap*")
	files = append(files, ours...)
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	// A file captured at several interfaces (a link's two ends) holds
	// each segment once per end: tshark analyses it as one stream, so
	// each interface is compared on its own, as inspect explains it.
	var parts [][]capture.Packet
	var names []string
	for _, path := range files {
		for name, part := range byInterface(t, path) {
			parts = append(parts, part)
			names = append(names, filepath.Base(path)+name)
		}
	}
	theirs, theirDups := tsharkPartsDups(t, tshark, parts)
	// The captures hold each kind of mark the issue asks about.
	var seen Analysis
	for _, part := range theirs {
		for _, a := range part {
			seen |= a
		}
	}
	if want := Retransmission | FastRetransmission | SpuriousRetransmission | OutOfOrder | LostSegment | AckedUnseen |
		DuplicateAck | ZeroWindow | KeepAlive | KeepAliveAck | WindowUpdate | WindowFull; !seen.Has(want) {
		t.Errorf("tshark finds %q in the captures, not %q", seen, want&^seen)
	}
	for i, part := range parts {
		a := NewAnnotator()
		for j, p := range part {
			d, err := capture.Decode(p)
			if err != nil {
				t.Fatalf("%s: packet %d: %v", names[i], j+1, err)
			}
			var ours Analysis
			e := a.Event(d)
			for _, n := range e.Packet.Analysis {
				ours |= Analysis(1) << slices.Index(analysisNames[:], n)
			}
			if ours &^= ZeroWindowProbe | ZeroWindowProbeAck | TailLossProbe | RTO; ours != theirs[i][j] {
				t.Errorf("%s: packet %d: tshark finds %q, we %q", names[i], j+1, theirs[i][j], ours)
			}
			// The duplicate ACK's number, which its note gives.
			if n := theirDups[i][j]; n > 0 && !strings.Contains(e.Note, "The "+ordinal(n)+" duplicate ACK") {
				t.Errorf("%s: packet %d: tshark's duplicate ACK #%d, our note: %s", names[i], j+1, n, e.Note)
			}
		}
	}
}

// byInterface reads a capture's packets, split by the interface they
// were captured at, in the order of the interfaces' first packets:
// the keys are "" for a capture of one interface, else " at NAME".
func byInterface(t *testing.T, path string) iter.Seq2[string, []capture.Packet] {
	t.Helper()
	pkts, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	parts := map[string][]capture.Packet{}
	for _, p := range pkts {
		if _, ok := parts[p.Interface]; !ok {
			names = append(names, p.Interface)
		}
		parts[p.Interface] = append(parts[p.Interface], p)
	}
	return func(yield func(string, []capture.Packet) bool) {
		for _, name := range names {
			key := ""
			if len(names) > 1 {
				key = " at " + name
			}
			if !yield(key, parts[name]) {
				return
			}
		}
	}
}

// tsharkParts has tshark analyse several captures in one run (it takes
// half a second to start): their packets one part after the other in
// one file, each part's TCP ports moved by an amount of its own, so that
// no two parts share a five-tuple (the checksums, which tshark does not
// check by default, are left as they were). It returns tshark's
// findings of each part's packets.
func tsharkParts(t *testing.T, tshark string, parts [][]capture.Packet) [][]Analysis {
	a, _ := tsharkPartsDups(t, tshark, parts)
	return a
}

// writeParts writes the parts one after the other into one file for
// tshark, each part's ports moved apart from the others' (so that no
// two parts share a stream), on one interface; it returns the file and
// how many packets it holds.
func writeParts(t *testing.T, parts [][]capture.Packet) (path string, n int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "parts.pcapng")
	w, err := capture.NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, part := range parts {
		for _, p := range part {
			p.Data = slices.Clone(p.Data)
			p.Interface = ""
			movePorts(p, uint16(i*7))
			if err := w.Write(p); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, n
}

// tsharkPartsDups is tsharkParts, with the number tshark gives each
// duplicate ACK (0 for other packets).
func tsharkPartsDups(t *testing.T, tshark string, parts [][]capture.Packet) ([][]Analysis, [][]int) {
	t.Helper()
	path, n := writeParts(t, parts)
	all, allDups := tsharkRead(t, tshark, path, n)
	out := make([][]Analysis, len(parts))
	dups := make([][]int, len(parts))
	for i, part := range parts {
		out[i], all = all[:len(part)], all[len(part):]
		dups[i], allDups = allDups[:len(part)], allDups[len(part):]
	}
	return out, dups
}

// movePorts adds by to the TCP ports of p, in place.
func movePorts(p capture.Packet, by uint16) {
	pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.NoCopy)
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok || len(tcp.Contents) < 4 {
		return
	}
	// Contents is p.Data[off:…]: the offset from their capacities.
	off := cap(p.Data) - cap(tcp.Contents)
	b := p.Data[off:]
	binary.BigEndian.PutUint16(b[0:], uint16(tcp.SrcPort)+by)
	binary.BigEndian.PutUint16(b[2:], uint16(tcp.DstPort)+by)
}

// TestAnalysisOfLosses checks the names and notes of the resends in real
// captures of losses made on purpose (../inspect/testdata/README.md says
// how they were made): packet number (1-based), its names, phrases of
// its note.
func TestAnalysisOfLosses(t *testing.T) {
	type want struct {
		names string
		notes []string
	}
	for _, tc := range []struct {
		file string
		want map[int]want
	}{
		{"link-tlp.pcap", map[int]want{
			5: {"retransmission tail-loss-probe", []string{"244.650 ms after the first copy", "tail loss probe (RFC 8985)", "more than two round trips (21.105 ms here)"}},
			6: {"retransmission rto", []string{"retransmission timer fired (RTO", "248.026 ms after the tail loss probe", "without doubling"}},
			7: {"retransmission rto", []string{"its wait doubled to 495.985 ms (from 248.026 ms)"}},
			8: {"retransmission rto", []string{"its wait doubled to 988.000 ms (from 495.985 ms): after each timeout the next waits twice as long (exponential backoff)."}},
		}},
		{"link-rto.pcap", map[int]want{
			5: {"retransmission tail-loss-probe", []string{"tcp_early_retrans=0", "a next copy tells them apart"}},
			6: {"retransmission rto", []string{"its wait doubled to 492.022 ms (from 244.295 ms)", "So the copy before was the timer's too, not a probe"}},
			7: {"retransmission rto", []string{"its wait doubled to 991.996 ms"}},
			8: {"retransmission rto", []string{"its wait doubled to 1.984 s"}},
		}},
		{"link-sack.pcap", map[int]want{
			16: {"window-update", []string{"the server has bytes 4345 to 5792 of the client's stream already but not bytes 2897 to 4344"}},
			18: {"duplicate-ack", []string{"The 1st duplicate ACK in a row", "has bytes 4345 to 8688"}},
			19: {"retransmission", []string{"bytes 2897 to 4344 of its stream again", "after 3 ACKs in a row from the server that asked for byte 2897 with SACK blocks, the last holding 4344 bytes beyond it", "fast retransmit on the SACK blocks' word"}},
			23: {"duplicate-ack", []string{"The 5th duplicate ACK in a row"}},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ds := readPackets(t, filepath.Join("../inspect/testdata", tc.file))
			a := NewAnnotator()
			for i, d := range ds {
				e := a.Event(d)
				w, ok := tc.want[i+1]
				got := strings.Join(e.Packet.Analysis, " ")
				if !ok {
					if strings.Contains(got, "retransmission") {
						t.Errorf("packet %d: %q, want no retransmission", i+1, got)
					}
					continue
				}
				if got != w.names {
					t.Errorf("packet %d: %q, want %q", i+1, got, w.names)
				}
				for _, n := range w.notes {
					if !strings.Contains(e.Note, n) {
						t.Errorf("packet %d: note lacks %q:\n%s", i+1, n, e.Note)
					}
				}
			}
		})
	}
}
