package main

import (
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The tests that run the lesson mostly wait (SYNs into a full queue,
// retransmitted SYNs): they run side by side, up to 10 at once.
func TestMain(m *testing.M) { lessontest.Main(m) }

func TestLesson(t *testing.T) {
	if lessontest.Alone(t) {
		return
	}
	res := lessontest.Run(t, info, run)
	for _, e := range res.Events {
		if e.Actor == "client" && e.Phase == tracer.PhaseWrite {
			t.Errorf("a WRITE of %d bytes in the trace: the lesson's only Write fails with EPIPE", e.Bytes)
		}
	}
	// Each failure with the error the program got and what it checked.
	lessontest.Order(t, res.Events,
		// 1: refused
		"server listen",
		"server close listener",
		"client connect-start",
		"client error connect: dial tcp4 127.0.0.1:",
		"client note errors.Is(err, syscall.ECONNREFUSED) is true",
		// 2: reset by the peer
		"server listen",
		"client connect-done",
		"server accept",
		"server note SetLinger(0)",
		"server close",
		"client error read: read tcp4",
		"client note errors.Is(err, syscall.ECONNRESET) is true",
		// The failed Write is no WRITE event: only its error.
		"client error write: write tcp4",
		"client note errors.Is(err, syscall.EPIPE) is true",
		"client close",
		// 3: no such name
		"client dns-start nobody.tcptour.test.",
		"client dns-done nobody.tcptour.test.: lookup nobody.tcptour.test. on 127.0.0.1:",
		"client note dnsErr.IsNotFound is true",
		// 4: a full queue, a timeout
		"server listen",
		"client connect-done",
		"client connect-start",
		"client error connect: dial tcp4 127.0.0.1:",
		"client note netErr.Timeout() is true",
		"client close",
		"server close listener",
		// 5: EMFILE, then the same connection accepted
		"client connect-done",
		"server error accept: accept tcp4 127.0.0.1:",
		"server note errors.Is(err, syscall.EMFILE) is true",
		"server accept",
		"server eof",
		"server close",
		// 6: Accept on a closed listener
		"server close listener",
		"server note errors.Is(err, net.ErrClosed) is true",
	)
	for _, e := range res.Events {
		if e.Phase == tracer.PhaseError && e.Op == "connect" && e.Step == 4 && !strings.Contains(e.Err, "i/o timeout") {
			t.Errorf("step 4's dial failed with %q, want an i/o timeout", e.Err)
		}
	}
}

// On the wire: the refused SYN answered by RST, the RST of SetLinger(0),
// the DNS query and its NXDOMAIN answer with no SYN after it, a SYN
// sent twice into a full queue with no answer, and, in the lab, a dial
// without a deadline that the kernel gives up.
func TestLessonOnTheWire(t *testing.T) {
	t.Parallel()
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, ev,
		"client connect-start",
		"wire packet SYN client→server",
		"wire packet RST ACK server→client len 0",
		"client error connect",
		"server note SetLinger(0)",
		"server close",
		"wire packet RST ACK server→client",
		"client error read",
		"client dns-start",
		"wire packet  resolver→dns len",
		"wire packet answer NXDOMAIN nobody.tcptour.test",
		"client dns-done",
		"client connect-start",
		"wire packet SYN client→server",
		"wire packet SYN client→server",
		"client error connect",
		// In the lab, net.ipv4.tcp_syn_retries = 1: a dial without a
		// deadline fails with ETIMEDOUT once its SYNs go unanswered.
		"client connect-start",
		"wire packet SYN client→server",
		"wire packet SYN client→server",
		"client error connect: dial tcp4 127.0.0.1:",
		"client note errors.Is(err, syscall.ETIMEDOUT) is true",
	)
	type conn struct{ syns, synAcks, rsts, fromClientAfterRST int }
	conns := map[int]*conn{}
	byStep := map[int]int{}
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		byStep[e.Step]++
		c := conns[e.Conn]
		if c == nil {
			c = &conn{}
			conns[e.Conn] = c
		}
		switch {
		case p.Flags == "SYN":
			c.syns++
		case p.Flags == "SYN ACK":
			c.synAcks++
		case strings.Contains(p.Flags, "RST"):
			c.rsts++
		case p.From == "client" && c.rsts > 0:
			c.fromClientAfterRST++
		}
	}
	if byStep[3] != 0 {
		t.Errorf("%d TCP packets in step 3: a name that does not resolve should send no SYN", byStep[3])
	}
	var refused, reset, timedOut bool
	for id, c := range conns {
		switch {
		case c.syns == 1 && c.synAcks == 0 && c.rsts == 1:
			refused = true
		case c.syns == 1 && c.synAcks == 1 && c.rsts == 1 && c.fromClientAfterRST == 0:
			reset = true
		case c.syns >= 2 && c.synAcks == 0 && c.rsts == 0:
			timedOut = true
		}
		if c.fromClientAfterRST > 0 {
			t.Errorf("connection #%d: the client sent %d packets after the RST; a Write after a reset sends nothing", id, c.fromClientAfterRST)
		}
	}
	if !refused || !reset || !timedOut {
		t.Errorf("a refused connection (SYN, RST): %v; a reset one (handshake, RST): %v; a dial into a full queue (SYN twice, no answer): %v",
			refused, reset, timedOut)
	}
}

// Without CAP_NET_RAW the lesson says why in one line and goes on.
func TestLessonWithoutCapturePermission(t *testing.T) {
	t.Parallel()
	lessontest.RunUnprivileged(t, info)
}

// Ctrl-C ends a held lesson cleanly, with a complete pcap file.
func TestLessonInterrupted(t *testing.T) {
	t.Parallel()
	lessontest.RunInterrupted(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	t.Parallel()
	lessontest.RunNarrow(t, 60)
}
