package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/wire"
)

// The lesson's link is made in a network namespace of the test's own.
func TestMain(m *testing.M) { lessontest.InLab(m) }

func TestLesson(t *testing.T) {
	if lessontest.Alone(t) {
		return
	}
	res := lessontest.Run(t, info, run)
	lessontest.Order(t, res.Events,
		"server listen",
		"client connect-done",
		"server accept",
		"client write",
		"server read",
		"client read ok",
		"link note rule: drop the 5th data segment from the client",
		"link note dropped on purpose: the 5th data segment from the client",
		"client note TCP_INFO: total_retrans 1, total_rto 0",
		"link note rule: drop the 3rd data segment from the client",
		"link note dropped on purpose: the 3rd data segment from the client",
		"client note TCP_INFO: total_retrans 1, total_rto 0",
		"lab note at both ends: net.ipv4.tcp_early_retrans = 0",
		"link note dropped on purpose: the 3rd data segment from the client",
		"link note dropped on purpose: the 3rd data segment from the client, sent for the 2nd time",
		"link note dropped on purpose: the 3rd data segment from the client, sent for the 3rd time",
		"client note TCP_INFO: total_retrans 3, total_rto 3",
		"link note dropped on purpose: the 1st SYN from the client",
		"client connect-done",
		"link note delayed by 50ms on purpose: the 1st SYN from the client",
		"link note dropped on purpose: the 1st SYN-ACK from the server",
		"client connect-done",
		"link note rule: hold back the 3rd data segment from the client",
		"link note rule: duplicate the 8th data segment from the client",
		"client connect-done",
		"client note TCP_INFO: total_retrans 0, total_rto 0, reord_seen 1, dsack_dups 1",
	)
	// A lost SYN or SYN-ACK costs the initial timer, 1 s, in Dial.
	var dials []tracer.Event
	for _, e := range res.Events {
		if e.Actor == "client" && e.Phase == tracer.PhaseConnectDone {
			dials = append(dials, e)
		}
	}
	if len(dials) != 7 {
		t.Fatalf("%d dials, want 7", len(dials))
	}
	for i, d := range dials {
		slow := i == 4 || i == 5
		if got := d.Duration.Seconds() >= 1; got != slow {
			t.Errorf("dial %d took %v: want over 1 s only for the lost SYN and SYN-ACK", i+1, d.Duration)
		}
	}
}

// segment is what the determinism check compares: where a segment was
// seen, its direction, flags, relative sequence number and length.
type segment struct {
	Conn          int
	At, From      string
	Flags         string
	Seq           uint32
	Len           int
	Analysis      string
	Retransmitted bool
}

// segments lists the packets of a run seen at the client's end, by
// connection, each in its order.
func segments(ev []tracer.Event) []segment {
	var out []segment
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" || p.At != "client" {
			continue
		}
		out = append(out, segment{Conn: e.Conn, At: p.At, From: p.From, Flags: p.Flags, Seq: p.Seq, Len: p.Len})
	}
	slices.SortStableFunc(out, func(a, b segment) int { return a.Conn - b.Conn })
	return out
}

// On the wire, at both ends: each loss, what the receiving end saw, how
// the sender recovered, and what the two kernels counted.
// It runs alone, not beside the parallel tests: it checks that two more
// runs give the same segments, which a busy machine's timers change (a
// CI run saw it).
func TestLessonOnTheWire(t *testing.T) {
	ev, pcap := lessontest.RunCaptureFile(t, info, run)
	at := func(end string) []tracer.Event {
		var out []tracer.Event
		for _, e := range ev {
			if e.Packet == nil || e.Packet.At == end {
				out = append(out, e)
			}
		}
		return out
	}
	client, server := at("client"), at("server")
	// Step 2, connection #2: the server's end sees the gap, then five
	// duplicate ACKs go out; at the client's end the fast retransmit
	// follows the third.
	lessontest.Order(t, lessontest.OfConns(server, 2),
		"wire packet ACK client→server len 1448 at server",
		"wire packet ACK server→client len 0 at server",
	)
	steps := byStep(ev)
	var dups, fast, gap int
	for _, e := range steps[2] {
		p := e.Packet
		if p == nil {
			continue
		}
		switch {
		case p.At == "server" && slices.Contains(p.Analysis, "duplicate-ack"):
			dups++
		case p.At == "client" && slices.Contains(p.Analysis, "fast-retransmission"):
			fast++
			if dups < 3 {
				t.Errorf("the fast retransmit went out after %d duplicate ACKs, want 3", dups)
			}
		case p.At == "server" && slices.Contains(p.Analysis, "previous-segment-not-captured"):
			gap++
		}
	}
	if dups != 5 || fast != 1 || gap != 1 {
		t.Errorf("step 2: %d duplicate ACKs, %d fast retransmissions, %d gaps seen at the server; want 5, 1, 1", dups, fast, gap)
	}
	// Step 7: at the server's end the held segment arrives out of order
	// and the duplicate as a copy already acknowledged; the client sends
	// nothing again.
	var ooo, twice int
	for _, e := range steps[7] {
		if p := e.Packet; p != nil && p.At == "server" && p.From == "client" {
			if slices.Contains(p.Analysis, "out-of-order") {
				ooo++
			}
			if slices.Contains(p.Analysis, "spurious-retransmission") {
				twice++
			}
		}
	}
	if ooo != 1 || twice != 1 {
		t.Errorf("step 7 at the server's end: %d segments out of order and %d twice, want 1 and 1", ooo, twice)
	}
	// What each step's recovery was, by the tags of the resent segment
	// at the client's end and the client's kernel's counters.
	for _, c := range []struct {
		step     int
		tag      string
		n        int
		counters []string
	}{
		{2, "fast-retransmission", 1, []string{"client's TcpExtTCPFastRetrans +1", "client's TcpExtTCPSackRecovery +1"}},
		{3, "tail-loss-probe", 1, []string{"client's TcpExtTCPLossProbes +1"}},
		{4, "rto", 3, []string{"client's TcpExtTCPTimeouts +3"}},
		{5, "rto", 1, []string{"client's TcpExtTCPSynRetrans +1"}},
		{6, "rto", 1, []string{"client's TcpExtTCPSynRetrans +1", "server's TcpExtTCPSynRetrans +1"}},
		{7, "retransmission", 0, []string{"client's TcpExtTCPDSACKRecv +1"}},
	} {
		n := 0
		var counted []string
		for _, e := range steps[c.step] {
			if p := e.Packet; p != nil && p.At == "client" && p.From == "client" && slices.Contains(p.Analysis, c.tag) {
				n++
			}
			if e.Phase == tracer.PhaseCounter {
				counted = append(counted, tracer.Detail(e))
			}
		}
		// Step 6's resent SYN-ACK leaves the server: its tag is at the
		// server's end.
		if n != c.n {
			t.Errorf("step %d: %d segments from the client tagged %s, want %d", c.step, n, c.tag, c.n)
		}
		for _, want := range c.counters {
			if !slices.Contains(counted, want) {
				t.Errorf("step %d: no counter %q among %q", c.step, want, counted)
			}
		}
	}
	// The lost segments never reach the other end: the client's end
	// has more packets than the server's, by the SYN-ACK the server
	// sent that the client never saw, and the other way round.
	if len(client) == len(ev) || len(server) == len(ev) {
		t.Errorf("the packets were not seen at both ends")
	}
	tsharkAgrees(t, pcap)
	arrivalsAgree(t, ev)

	// Two more runs give the same segments at the client's end.
	want := segments(ev)
	for range 2 {
		got := segments(runJSON(t))
		if !slices.Equal(got, want) {
			t.Errorf("another run gave other segments at the client's end:\n%v\nwant\n%v", got, want)
		}
	}
}

// arrivalsAgree checks what the trace says of each segment's arrival:
// every segment the link passed arrives as itself, once (but the one it
// duplicates: five duplicate ACKs are five segments, told apart by their
// IP IDs), and the ladders mark as lost exactly the segments the link
// dropped.
func arrivalsAgree(t *testing.T, ev []tracer.Event) {
	t.Helper()
	twice, dups := 0, 0
	for _, e := range ev {
		if strings.Contains(e.Note, "delivered one segment twice") {
			twice++
		}
		if p := e.Packet; e.Step == 2 && p != nil && p.At == "client" && p.From == "server" &&
			slices.Contains(p.Analysis, "duplicate-ack") && strings.HasPrefix(e.Note, "It reaches the client ") {
			dups++
		}
	}
	// Once twice: step 7's 8th segment, which the link duplicates.
	if twice != 1 {
		t.Errorf("%d segments said to arrive twice: the link duplicates one", twice)
	}
	if dups != 5 {
		t.Errorf("%d duplicate ACKs said to reach the client after they left the server, want 5", dups)
	}
	// Dropped: the 5th data segment, the lost tail, the tail and its
	// first two resends, a SYN, a SYN-ACK.
	var ladders strings.Builder
	for _, id := range wire.Conns(ev, true) {
		if err := wire.Ladder(&ladders, ev, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(ladders.String(), "✗ lost"); n != 7 {
		t.Errorf("%d segments marked lost in the ladders, want the 7 the link dropped:\n%s", n, ladders.String())
	}
}

// byStep groups events by their step.
func byStep(ev []tracer.Event) map[int][]tracer.Event {
	m := map[int][]tracer.Event{}
	for _, e := range ev {
		m[e.Step] = append(m[e.Step], e)
	}
	return m
}

// runJSON runs the lesson's program with capture on and returns its
// trace.
func runJSON(t *testing.T) []tracer.Event {
	t.Helper()
	out, err := exec.Command(lessontest.Build(t), "--json", "--capture=on").Output()
	if err != nil {
		t.Fatal(err)
	}
	var ev []tracer.Event
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var e tracer.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		ev = append(ev, e)
	}
	slices.SortStableFunc(ev, func(a, b tracer.Event) int { return a.Time.Compare(b.Time) })
	return ev
}

// tsharkAgrees has tshark read the client's end of the capture (split
// off by interface, as the Try this says: tshark analyses the two ends
// as one stream otherwise) and checks that its own analysis finds the
// fast retransmission, duplicate ACKs and SACK blocks.
func tsharkAgrees(t *testing.T, pcap string) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: its analysis is not compared")
		return
	}
	client := pcap + ".client.pcapng"
	if out, err := exec.Command(tshark, "-r", pcap, "-Y", `frame.interface_name == "client"`, "-w", client).CombinedOutput(); err != nil {
		t.Fatalf("tshark -w: %v\n%s", err, out)
	}
	count := func(filter string) int {
		out, err := exec.Command(tshark, "-r", client, "-Y", filter).Output()
		if err != nil {
			t.Fatalf("tshark -Y %s: %v", filter, err)
		}
		return strings.Count(string(out), "\n")
	}
	for _, c := range []struct {
		filter string
		min    int
	}{
		{"tcp.analysis.fast_retransmission", 1},
		{"tcp.analysis.duplicate_ack", 3},
		{"tcp.options.sack_le", 3},
		{"tcp.analysis.retransmission", 6},
	} {
		if n := count(c.filter); n < c.min {
			t.Errorf("tshark -Y %s: %d packets, want at least %d", c.filter, n, c.min)
		}
	}
}

// Without CAP_NET_RAW on the host, the lab gives the lesson its packets;
// without a lab it stops, saying why in one line.
func TestLessonWithoutCapturePermission(t *testing.T) {
	t.Parallel()
	lessontest.RunUnprivileged(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	t.Parallel()
	lessontest.RunNarrow(t, 60)
}
