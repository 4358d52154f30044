package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The lesson's link is made in a network namespace of the test's own.
func TestMain(m *testing.M) { lessontest.InLab(m) }

// sentAgain is what a step's note adds when a segment of the message
// was sent again: the count with and without it.
var sentAgain = regexp.MustCompile(`TCP_INFO data_segs_out \+(\d+), less (\d+) sent again: total_retrans \+\d+`)

// normalize leaves out the resends of a loaded machine (the lesson
// resends nothing by design, but its link may forward late enough for a
// probe): their counters (lessontest.DropResends), and from a step's
// note, the segments sent again, counting those sent once as a run
// without them does.
func normalize(s string) string {
	return sentAgain.ReplaceAllStringFunc(lessontest.DropResends(s), func(m string) string {
		g := sentAgain.FindStringSubmatch(m)
		all, _ := strconv.Atoi(g[1])
		again, _ := strconv.Atoi(g[2])
		return "TCP_INFO data_segs_out +" + strconv.Itoa(all-again)
	})
}

func TestLesson(t *testing.T) {
	res := lessontest.RunGoldenWith(t, info, run, "trace.golden", normalize)
	lessontest.Order(t, res.Events,
		"server listen",
		"client connect-done",
		"client note TCP_NODELAY 1, then 0",
		"client write 4 bytes",
		"client write 18 bytes",
		"server read 4 bytes",
		"server read 18 bytes",
		"client read 18 bytes",
		"client note it waited for the ACK",
		"client write 4 bytes",
		"client write 18 bytes",
		"client read 18 bytes",
		"client note it waited for a delayed ACK",
		"client write 4 bytes",
		"client write 18 bytes",
		"client read 18 bytes",
		"client note it waited for a delayed ACK",
		"client connect-done",
		"client note after its length: no wait",
		"client note after its length: no wait",
		"client connect-done",
		"client write 22 bytes",
		"client note in one segment: no wait",
		"client write 22 bytes",
		"client note in one segment: no wait",
	)
}

// sent is a data segment of the client's, seen at both ends, and the
// server's ACK of it, seen at both ends.
type sent struct {
	len              int
	left, arrived    time.Time // the segment at the client's end, at the server's
	ackLeft, ackCame time.Time // its ACK at the server's end, at the client's
	acked, nextLeft  bool      // an ACK was seen; a data segment followed
	ackedBeforeNext  bool      // the ACK reached the client before the next segment left
	wantAck          uint32    // the ACK number that acknowledges it
	conn, step       int
}

// dataSegments lists the client's data segments of a run, in the order
// they left, with when each reached the server, and when the server's
// ACK of it (the first segment from the server that acknowledges it)
// left the server and reached the client.
func dataSegments(ev []tracer.Event) []*sent {
	var out []*sent
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		switch {
		case p.From == "client" && p.Len > 0 && p.At == "client" && resent(p):
			// A copy sent again (a tail loss probe, on a slow
			// machine whose link forwards late) is not a write's.
			continue
		case p.From == "client" && p.Len > 0 && p.At == "client":
			s := &sent{len: p.Len, left: e.Time, wantAck: p.Seq + uint32(p.Len), conn: e.Conn, step: e.Step}
			for _, o := range out {
				if o.conn == s.conn && !o.nextLeft {
					o.nextLeft = true
					o.ackedBeforeNext = !o.ackCame.IsZero()
				}
			}
			out = append(out, s)
		case p.From == "client" && p.Len > 0 && p.At == "server":
			for _, o := range out {
				if o.conn == e.Conn && o.wantAck == p.Seq+uint32(p.Len) && o.arrived.IsZero() {
					o.arrived = e.Time
				}
			}
		case p.From == "server" && strings.Contains(p.Flags, "ACK"):
			for _, o := range out {
				if o.conn != e.Conn || p.Ack < o.wantAck {
					continue
				}
				if p.At == "server" && o.ackLeft.IsZero() {
					o.ackLeft, o.acked = e.Time, true
				}
				if p.At == "client" && o.ackCame.IsZero() {
					o.ackCame = e.Time
				}
			}
		}
	}
	return out
}

// resent reports whether the annotator found p sent again.
func resent(p *tracer.Packet) bool {
	for _, a := range p.Analysis {
		if strings.Contains(a, "retransmission") || a == "tail-loss-probe" || a == "rto" {
			return true
		}
	}
	return false
}

// On the wire, at both ends: with Nagle on, the message's text leaves
// the client only when the ACK of its length comes back, one round trip
// after the length on a new connection (the server's kernel ACKs at
// once) and a delayed-ACK timeout more on the next message (the
// server's kernel holds its ACK until its timer runs out). With
// TCP_NODELAY the text follows the length at once; in one write, there
// is one segment.
func TestLessonOnTheWire(t *testing.T) {
	ev, pcap := lessontest.RunCaptureFile(t, info, run)
	tsharkAgrees(t, pcap)
	rtt := 2 * oneWay
	const slack = 5 * time.Millisecond
	var lens []string
	segs := dataSegments(ev)
	for _, s := range segs {
		lens = append(lens, fmt.Sprintf("%d:%d", s.step, s.len))
	}
	want := "1:4 1:18 2:4 2:18 2:4 2:18 3:4 3:18 3:4 3:18 4:22 4:22"
	if got := strings.Join(lens, " "); got != want {
		t.Fatalf("the client's data segments (step:length): %s, want %s", got, want)
	}
	for i, s := range segs {
		if s.arrived.IsZero() || !s.acked || s.ackCame.IsZero() {
			t.Fatalf("segment %d (step %d, %d bytes): seen at the server %v, its ACK seen at both ends %v %v", i+1, s.step, s.len, !s.arrived.IsZero(), s.acked, !s.ackCame.IsZero())
		}
		if s.len != 4 {
			continue
		}
		text := segs[i+1]
		gap := text.left.Sub(s.left)        // between the two writes' segments, as they left
		ackWait := s.ackLeft.Sub(s.arrived) // the length's ACK, held at the server
		released := text.left.Sub(s.ackCame)
		t.Logf("step %d: the text left %v after the length; the server held the length's ACK %v; the text left %v after that ACK came", s.step, gap, ackWait, released)
		switch s.step {
		case 1, 2:
			// Nagle: the text waits for the ACK of the length, and
			// leaves as it comes.
			if !s.ackedBeforeNext || released < 0 || released > slack {
				t.Errorf("step %d: the text left %v after the length's ACK came back: want it released by that ACK", s.step, released)
			}
		case 3:
			// TCP_NODELAY: the text leaves before any ACK.
			if s.ackedBeforeNext || gap >= rtt {
				t.Errorf("step 3: the text left %v after the length (an ACK came between: %v): want it at once", gap, s.ackedBeforeNext)
			}
		}
		switch s.step {
		case 1:
			// Quick-ACK at a connection's start: no delay at the
			// server, one round trip in all (less than a
			// delayed-ACK timeout and a round trip).
			if ackWait > slack || gap < rtt-slack || gap >= delayedACK+rtt-slack {
				t.Errorf("step 1: the server held the length's ACK %v and the text left %v after the length: want at once and one round trip (%v)", ackWait, gap, rtt)
			}
		case 2:
			// Delayed ACK: the server holds it until its timer runs
			// out, and the text waits that long and a round trip.
			if ackWait < delayedACK-slack || gap < delayedACK+rtt-slack {
				t.Errorf("step 2: the server held the length's ACK %v and the text left %v after the length: want at least a delayed-ACK timeout (%v) and that and a round trip", ackWait, gap, delayedACK)
			}
		}
	}
	// The read's wait, from the second write's return to the echo.
	waits := map[int][]time.Duration{}
	var written time.Time
	for _, e := range ev {
		switch {
		case e.Actor == "client" && e.Phase == tracer.PhaseWrite:
			written = e.Time
		case e.Actor == "client" && e.Phase == tracer.PhaseRead:
			waits[e.Step] = append(waits[e.Step], e.Time.Sub(written))
		}
	}
	t.Logf("the reads' waits by step: %v", waits)
	// Step 2's stalls are each at least a delayed-ACK timeout and two
	// round trips (the length's, the text's and its echo's); every
	// other wait is shorter than the shortest of them.
	if len(waits[2]) != 2 {
		t.Fatalf("step 2: %d reads, want 2", len(waits[2]))
	}
	stall := min(waits[2][0], waits[2][1])
	if stall < delayedACK+2*rtt-slack {
		t.Fatalf("step 2: the client's Reads waited %v for the echo: want a delayed-ACK timeout and two round trips (%v)", waits[2], delayedACK+2*rtt)
	}
	for _, step := range []int{1, 3, 4} {
		for _, w := range waits[step] {
			if w >= stall {
				t.Errorf("step %d: the client's Read waited %v for the echo, no less than step 2's stall (%v)", step, w, stall)
			}
		}
	}
}

// tsharkAgrees runs the first Try this's tshark command on the
// lesson's pcapng file (less any segment tshark finds sent again: a
// loaded machine's link may forward late enough for a tail loss probe)
// and checks what it says: each 18-byte text
// leaves the client one round trip after its length in step 1, a
// delayed-ACK timeout and a round trip after it in step 2, with it in
// step 3; step 4's segments carry 22 bytes.
func tsharkAgrees(t *testing.T, pcap string) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: the Try this's command is not checked")
		return
	}
	out, err := exec.Command(tshark, "-r", pcap, "-Y", `frame.interface_name == "client" && ip.src == 192.0.2.1 && tcp.len > 0 && !tcp.analysis.retransmission`,
		"-T", "fields", "-e", "frame.time_delta_displayed", "-e", "tcp.len").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var lens []string
	var texts []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("tshark printed %q", line)
		}
		lens = append(lens, f[1])
		if f[1] == "18" {
			d, err := time.ParseDuration(f[0] + "s")
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, d)
		}
	}
	if got, want := strings.Join(lens, " "), "4 18 4 18 4 18 4 18 4 18 22 22"; got != want {
		t.Fatalf("tshark: the client's data segments' lengths %s, want %s", got, want)
	}
	rtt, slack := 2*oneWay, 5*time.Millisecond
	for i, d := range texts {
		var ok bool
		switch i {
		case 0:
			ok = d >= rtt-slack && d < delayedACK+rtt-slack
		case 1, 2:
			ok = d >= delayedACK+rtt-slack
		default:
			ok = d < slack
		}
		if !ok {
			t.Errorf("tshark: text %d left %v after its length", i+1, d)
		}
	}
	t.Logf("tshark: the texts left %v after their lengths", texts)
}

// Each line of Go that docs/lessons/14.md quotes ("The key lines") is
// in the lesson's source, as quoted.
func TestDocQuotesTheSource(t *testing.T) { lessontest.DocQuotesSource(t, "14") }

// Without CAP_NET_RAW on the host, the lab gives the lesson its packets;
// without a lab it stops, saying why in one line.
func TestLessonWithoutCapturePermission(t *testing.T) {
	lessontest.RunUnprivileged(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}

// normalize makes a run with a segment sent again read as one without.
func TestNormalize(t *testing.T) {
	again := "2 client -   note          the text reached the server T after its length: it waited for the ACK\n" +
		"      The message took 2 data segments (TCP_INFO data_segs_out +3, less 1 sent again: total_retrans +1). The server's Reads got it.\n" +
		"2 kernel -   counter       client's TcpRetransSegs +1\n" +
		"      The client's kernel counts segments sent again: 1 more during this step.\n"
	once := "2 client -   note          the text reached the server T after its length: it waited for the ACK\n" +
		"      The message took 2 data segments (TCP_INFO data_segs_out +2). The server's Reads got it.\n"
	if got := normalize(again); got != once {
		t.Errorf("normalize gave\n%s\nwant\n%s", got, once)
	}
	if got := normalize(once); got != once {
		t.Errorf("normalize changed a run without resends:\n%s", got)
	}
}
