package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/wire"
)

// The lesson's link is made in a network namespace of the test's own.
// The tests that run the lesson (five runs of about 7 s, TestLesson's
// two among them) mostly wait on the kernel's timers (idle times,
// keepalive probes, retransmissions), not on a CPU (a run takes half a
// second of it): they all run at once (InLab: up to 10).
func TestMain(m *testing.M) { lessontest.InLab(m) }

// TestLesson runs the lesson twice, in process, and checks that no
// goroutine is left behind: a check that other tests' goroutines would
// fail. It runs alone, before the tests that run in parallel (14 s of
// the package's time): its golden trace orders notes of the same moment,
// and beside the others, as nobody in CI, two came the other way round.
func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	lessontest.Order(t, res.Events,
		"server listen",
		"client note Go's keepalive at both ends: SO_KEEPALIVE 1, TCP_KEEPIDLE 15 s, TCP_KEEPINTVL 15 s, TCP_KEEPCNT 9",
		"client note SetKeepAlive(false) at both ends: SO_KEEPALIVE 0 and 0",
		"client note idle: 0 segments sent or received at either end; ESTABLISHED at the client, ESTABLISHED at the server",
		"client note SO_KEEPALIVE 1, TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 2",
		"client note a keepalive probe sent and answered",
		"link note rule: drop every segment, retransmissions too",
		"client error connection timed out",
		"client note connection timed out: errors.Is(err, syscall.ETIMEDOUT) is true",
		"server note the server's socket: ESTABLISHED",
		"client note TCP_USER_TIMEOUT 1500 ms",
		"client note Write returned 14, nil",
		"client error connection timed out",
		"client note without TCP_USER_TIMEOUT: net.ipv4.tcp_retries2 = 15 here, about 924.6 s",
		"server note closed with SO_LINGER 0: the server's kernel holds no socket for it; the client's is ESTABLISHED",
		"client error connection reset by peer",
		"client note connection reset by peer: errors.Is(err, syscall.ECONNRESET) is true",
		"client error broken pipe",
		"client note broken pipe: errors.Is(err, syscall.EPIPE) is true",
		"server note the server's ends of the connections of steps 3 and 4: ESTABLISHED, ESTABLISHED",
	)
	for _, e := range res.Events {
		if e.Actor == "client" && e.Phase == tracer.PhaseNote && strings.Contains(e.Text, "connection timed out") &&
			!strings.Contains(e.Note, `*net.OpError{Op: "read", Net: "tcp4", Err: &os.SyscallError{Syscall: "read", Err: syscall.ETIMEDOUT}}`) {
			t.Errorf("the timeout's note does not name the *net.OpError: %s", e.Note)
		}
	}
}

// seg is a TCP segment of the capture, with its event.
type seg struct {
	e tracer.Event
	p *tracer.Packet
}

// segments lists the TCP segments of connection conn seen at end at.
func segments(ev []tracer.Event, conn int, at string) []seg {
	var out []seg
	for _, e := range ev {
		if p := e.Packet; p != nil && p.Proto == "tcp" && e.Conn == conn && p.At == at {
			out = append(out, seg{e, p})
		}
	}
	return out
}

func has(p *tracer.Packet, tag string) bool {
	for _, a := range p.Analysis {
		if a == tag {
			return true
		}
	}
	return false
}

// On the wire, at both ends: step 1's connection is silent for a
// second; step 2's keepalive probe carries no data and the sequence
// number one below the client's next byte, and the server's ACK
// answers it; in step 3 Count probes leave the client unanswered and
// the client's kernel gives up (a RST, the Read's ETIMEDOUT); in step 4
// the data is sent again with the gaps doubling until the client gives
// up; in step 5 the server's RST answers the client's data.
func TestLessonOnTheWire(t *testing.T) {
	t.Parallel()
	ev, pcap := lessontest.RunCaptureFile(t, info, run)

	// Step 1: nothing on the wire for the idle second.
	var last, next time.Time
	for _, s := range segments(ev, 1, "client") {
		if s.p.Flags != "" && strings.Contains(s.p.Flags, "FIN") {
			next = s.e.Time
			break
		}
		last = s.e.Time
	}
	if gap := next.Sub(last); gap < quiet {
		t.Errorf("step 1: %v between the last segment and the FIN, want at least the idle %v", gap, quiet)
	}

	// Steps 2 and 3: connection #2's keepalive probes.
	var probes, acks, unanswered int
	var nextSeq uint32
	var gaveUp bool
	for _, s := range segments(ev, 2, "client") {
		p := s.p
		switch {
		case p.From == "client" && p.Len > 0:
			nextSeq = p.Seq + uint32(p.Len)
		case has(p, "keep-alive"):
			probes++
			if p.Len != 0 || p.Seq != nextSeq-1 || p.Flags != "ACK" {
				t.Errorf("step %d: a keepalive probe %s seq %d len %d, want ACK seq %d (the next byte, %d, less one) and no data", s.e.Step, p.Flags, p.Seq, p.Len, nextSeq-1, nextSeq)
			}
			if s.e.Step == 3 {
				unanswered++
			}
		case has(p, "keep-alive-ack"):
			acks++
			if s.e.Step != 2 || p.Ack != nextSeq {
				t.Errorf("step %d: a keepalive probe's ACK ack %d, want it in step 2 and ack %d", s.e.Step, p.Ack, nextSeq)
			}
		case p.From == "client" && strings.Contains(p.Flags, "RST"):
			gaveUp = s.e.Step == 3 && unanswered == keepAlive.Count
		}
	}
	if probes != 1+keepAlive.Count || acks != 1 || unanswered != keepAlive.Count || !gaveUp {
		t.Errorf("connection #2: %d probes, %d answered at the client, %d in step 3, a RST after them %v: want %d, 1, %d, true",
			probes, acks, unanswered, gaveUp, 1+keepAlive.Count, keepAlive.Count)
	}
	for _, s := range segments(ev, 2, "server") {
		if s.e.Step == 3 && s.p.From == "client" {
			t.Errorf("step 3: a segment of the client's reached the server through the cut link: %+v", s.p)
		}
	}
	timedOut := func(step int) bool {
		for _, e := range ev {
			if e.Step == step && e.Actor == "client" && e.Phase == tracer.PhaseError && strings.Contains(e.Err, "connection timed out") {
				return true
			}
		}
		return false
	}
	if !timedOut(3) || !timedOut(4) {
		t.Errorf("the trace shows ETIMEDOUT in step 3 %v, in step 4 %v: want both", timedOut(3), timedOut(4))
	}

	// Step 4: the unanswered data, sent again with the timer doubling.
	var sent []time.Time
	var rtoGivenUp time.Time
	for _, s := range segments(ev, 3, "client") {
		if s.e.Step == 4 && s.p.From == "client" && s.p.Len == 14 {
			sent = append(sent, s.e.Time)
		}
	}
	for _, e := range ev {
		if e.Step == 4 && e.Actor == "client" && e.Phase == tracer.PhaseError {
			rtoGivenUp = e.Time
		}
	}
	if len(sent) != 4 {
		t.Fatalf("step 4: the data left the client %d times, want 4 (once and 3 retransmissions)", len(sent))
	}
	const slack = 20 * time.Millisecond
	for i := 2; i < len(sent); i++ {
		a, b := sent[i-1].Sub(sent[i-2]), sent[i].Sub(sent[i-1])
		t.Logf("step 4: gaps %v then %v", a, b)
		if r := float64(b) / float64(a); r < 1.8 || r > 2.2 {
			t.Errorf("step 4: the gaps between transmissions %v then %v: want the second twice the first", a, b)
		}
	}
	if first := sent[0].Sub(sent[0]); first != 0 || sent[1].Sub(sent[0]) < minRTO-slack {
		t.Errorf("step 4: the first retransmission %v after the data: want at least %v", sent[1].Sub(sent[0]), minRTO)
	}
	// TCP_USER_TIMEOUT runs from the first retransmission: the Read
	// fails no sooner than that, and before the next retransmission
	// would have left (the Read's return may come late on a loaded
	// machine, the kernel's timer not early).
	if d := rtoGivenUp.Sub(sent[1]); d < userTimeout-5*time.Millisecond || d >= sent[3].Sub(sent[1])+2*sent[3].Sub(sent[2]) {
		t.Errorf("step 4: the Read failed %v after the first retransmission, want TCP_USER_TIMEOUT, %v, and before a 4th retransmission", d, userTimeout)
	}

	// Step 5: the server's RST answers the client's data.
	var data *tracer.Packet
	answered := false
	for _, s := range segments(ev, 4, "server") {
		p := s.p
		switch {
		case s.e.Step == 5 && p.From == "client" && p.Len == len("still there?"):
			data = p
		case data != nil && p.From == "server":
			answered = p.Flags == "RST" && p.Seq == data.Ack
			data = nil
		}
		if answered {
			break
		}
	}
	if !answered {
		t.Errorf("step 5: the server's next segment after the client's data is not a RST with seq = the data's ack")
	}
	reset := false
	for _, s := range segments(ev, 4, "client") {
		if strings.Contains(s.p.Flags, "RST") && s.p.Flags != "RST" {
			t.Errorf("step 5: the server's first RST (%s) reached the client: the link should have dropped it", s.p.Flags)
		}
		if reset && s.p.From == "client" {
			t.Errorf("step 5: the client sent %s after the RST: the Write that failed with EPIPE sends nothing", s.p.Flags)
		}
		reset = reset || s.p.Flags == "RST"
	}
	// The RSTs of the stale connections, closed at the end, reach a
	// client that has no socket for them: it answers nothing.
	for _, conn := range []int{2, 3} {
		for _, s := range segments(ev, conn, "client") {
			if s.e.Step == 5 && s.p.From == "client" {
				t.Errorf("step 5: the client answered connection #%d's RST: %s", conn, s.p.Flags)
			}
		}
	}
	// Each end's kernel counted it: step 3's probes and the connection
	// given up; step 4's retransmissions and the connection given up;
	// step 5's RSTs (the one the link dropped, the answer to the data,
	// and one each for the two stale connections at the end) and the
	// client's connection reset.
	counted := map[string]int64{}
	for _, e := range ev {
		if c := e.Counter; c != nil {
			counted[fmt.Sprintf("%d %s %s", e.Step, c.At, c.Name)] += c.Delta
		}
	}
	for k, want := range map[string]int64{
		"3 client TcpExtTCPKeepAlive":      int64(keepAlive.Count),
		"3 client TcpExtTCPAbortOnTimeout": 1,
		"3 server TcpEstabResets":          0,
		"4 client TcpRetransSegs":          3,
		"4 client TcpExtTCPAbortOnTimeout": 1,
		"5 server TcpOutRsts":              4,
		"5 client TcpEstabResets":          1,
	} {
		if counted[k] != want {
			t.Errorf("step %s: +%d, want +%d", k, counted[k], want)
		}
	}
	// The ladders mark what the link dropped: step 3's probes and the
	// client's RST; step 4's data, each time it was sent; step 5's first
	// RST from the server.
	for id, want := range map[int]int{1: 0, 2: keepAlive.Count + 1, 3: 4, 4: 1} {
		var b strings.Builder
		if err := wire.Ladder(&b, ev, id); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(b.String(), "✗ lost"); n != want {
			t.Errorf("connection #%d's ladder marks %d segments lost, want %d:\n%s", id, n, want, b.String())
		}
	}
	tsharkKeepAlive(t, pcap)
}

// tsharkKeepAlive runs the first Try this's tshark command on the
// lesson's pcapng file, where tshark is installed: tshark marks step 2's
// probe and its ACK, and step 3's probes, unanswered.
func tsharkKeepAlive(t *testing.T, pcap string) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: its keep-alive analysis is not checked")
		return
	}
	out, err := exec.Command(tshark, "-r", pcap, "-Y", `frame.interface_name == "client" && (tcp.analysis.keep_alive || tcp.analysis.keep_alive_ack)`,
		"-T", "fields", "-e", "ip.src", "-e", "tcp.analysis.keep_alive", "-e", "tcp.analysis.keep_alive_ack").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		kind := "probe"
		if len(f) == 3 && f[2] != "" {
			kind = "ack"
		}
		got = append(got, f[0]+" "+kind)
	}
	want := "192.0.2.1 probe, 192.0.2.2 ack" + strings.Repeat(", 192.0.2.1 probe", keepAlive.Count)
	if strings.Join(got, ", ") != want {
		t.Errorf("tshark's keep-alives at the client: %s, want %s", strings.Join(got, ", "), want)
	}
}

// Each line of Go that docs/lessons/15.md quotes ("The key lines") is
// in the lesson's source, as quoted.
func TestDocQuotesTheSource(t *testing.T) { lessontest.DocQuotesSource(t, "15") }

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

// giveUp turns net.ipv4.tcp_retries2 into the kernel's time, and
// retransmissions counts what a connection sends in it: the default,
// 15, is 924.6 s (ip-sysctl.rst), 15 retransmissions with a timeout of
// 204 ms; with that timeout tcp_retries2 1, 2 and 3 give 2, 3 and 4
// retransmissions, and with a timeout of 1004 ms, 3 gives 2 (as the
// kernel did when tried).
func TestGiveUp(t *testing.T) {
	for _, c := range []struct {
		retries int
		rto     time.Duration
		total   time.Duration
		n       int
	}{
		{15, 204 * time.Millisecond, 924600 * time.Millisecond, 15},
		{1, 204 * time.Millisecond, 600 * time.Millisecond, 2},
		{2, 204 * time.Millisecond, 1400 * time.Millisecond, 3},
		{3, 204 * time.Millisecond, 3 * time.Second, 4},
		{3, 1004 * time.Millisecond, 3 * time.Second, 2},
	} {
		_, _, total := giveUp(c.retries, minRTO)
		n, _ := retransmissions(total, c.rto)
		if total != c.total || n != c.n {
			t.Errorf("tcp_retries2 %d, timeout %v: %v, %d retransmissions; want %v, %d", c.retries, c.rto, total, n, c.total, c.n)
		}
	}
}
