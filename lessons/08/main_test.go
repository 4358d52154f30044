package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The tests that run the lesson's program mostly wait: they run side
// by side, up to 10 at once.
func TestMain(m *testing.M) { lessontest.Main(m) }

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	// The server accepts and does not read; the small writes return; the
	// big one does not until the server reads.
	lessontest.Order(t, res.Events,
		"server listen",
		"server note SO_RCVBUF on the listener: 16384. The lesson asks for 8192",
		"server accept",
		"kernel note holds 3000 bytes that its program has not read",
		"client note Write(32768 bytes) has not returned",
		"server read 3000 bytes",
		"server note read the other 32768 bytes",
		"client note Write(32768 bytes) returned",
		"server eof",
		"server close",
		"server close listener",
	)
	lessontest.Order(t, res.Events,
		"client connect-done",
		"client write 1000 bytes",
		"client write 1000 bytes",
		"client write 1000 bytes",
		"kernel note holds 3000 bytes that its program has not read",
		"client write 32768 bytes",
		"client note Write(32768 bytes) has not returned",
		"server read 3000 bytes",
		"client note Write(32768 bytes) returned",
		"client close",
		"server eof",
	)
	for _, e := range res.Events {
		if e.Actor == "server" && e.Phase == tracer.PhaseRead && e.Step < 5 {
			t.Errorf("the server read in step %d, before it resumed: %s", e.Step, tracer.Detail(e))
		}
	}
}

// On the wire: the small window in the SYN-ACK, the window shrinking in
// the server's ACKs, window 0, the client's zero-window probe and its
// answer while the Write is blocked, then the window update after the
// server reads.
func TestLessonOnTheWire(t *testing.T) {
	t.Parallel()
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, ev,
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"client write 1000 bytes",
		"wire packet PSH ACK client→server len 1000",
		"wire packet ACK server→client len 0",
		"client write 32768 bytes",
		"client note has not returned",
		"server read 3000 bytes",
		"client note returned",
		"wire packet FIN ACK client→server",
	)
	var (
		step                                  = 0
		synAckWin, lastWin                    = -1, -1
		shrinks                               int
		zero, probe, answer, update, blocked  bool
		next                                  uint32 // the client's next sequence number
		probeNote, zeroNote, updateNote, seen string
		rightEdge                             uint32 // the server's ack + window, the most it has offered
	)
	for _, e := range ev {
		if e.Phase == tracer.PhaseStep {
			step = e.Step
		}
		if e.Actor == "client" && e.Phase == tracer.PhaseNote && strings.Contains(e.Text, "has not returned") {
			blocked = true
		}
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		seen += "\n" + p.Flags + " " + p.From + "→" + p.To
		// Linux never takes back room it has offered: the right edge of
		// the server's window never moves left.
		if p.From == "server" && strings.Contains(p.Flags, "ACK") {
			edge := p.Ack + uint32(p.Window)
			if edge < rightEdge {
				t.Errorf("the server's window moved its right edge left: ack %d + win %d = %d, after %d", p.Ack, p.Window, edge, rightEdge)
			}
			rightEdge = max(rightEdge, edge)
		}
		switch {
		case p.From == "server" && p.Flags == "SYN ACK":
			synAckWin, lastWin = p.Window, p.Window
		case p.From == "server" && p.Len == 0 && p.Flags == "ACK":
			if p.Window < lastWin && p.Window > 0 {
				shrinks++
			}
			if p.Window == 0 && !zero {
				zero, zeroNote = true, e.Note
			}
			if probe && !answer && p.Window == 0 {
				answer = true
			}
			if zero && lastWin == 0 && p.Window > 0 && !update {
				update, updateNote = true, e.Note
				if step != 5 {
					t.Errorf("window update in step %d, want 5 (after the server resumes reading)", step)
				}
			}
			lastWin = p.Window
		case p.From == "client" && zero && !probe && p.Len == 0 && p.Seq == next-1 && !strings.Contains(p.Flags, "FIN"):
			probe, probeNote = true, e.Note
			if blocked {
				t.Errorf("the probe came after the lesson said Write was blocked: it should be in the step before")
			}
		}
		if p.From == "client" && p.Seq+uint32(p.Len) > next {
			next = p.Seq + uint32(p.Len)
		}
	}
	if synAckWin != rcvBuf {
		t.Errorf("the SYN-ACK advertises window %d, want %d (SO_RCVBUF on the listener)", synAckWin, rcvBuf)
	}
	if shrinks < 2 || !zero || !probe || !answer || !update {
		t.Fatalf("shrinking ACKs %d (want ≥ 2), zero window %v, probe %v, its answer %v, window update %v; packets:%s",
			shrinks, zero, probe, answer, update, seen)
	}
	for _, c := range []struct{ note, want string }{
		{zeroNote, "Window 0: the server's receive buffer is full"},
		{probeNote, "sends a zero-window probe"},
		{updateNote, "A window update: the window opens again"},
	} {
		if !strings.Contains(c.note, c.want) {
			t.Errorf("note %q lacks %q", c.note, c.want)
		}
	}
}

// Without CAP_NET_RAW the lesson says why in one line and goes on.
func TestLessonWithoutCapturePermission(t *testing.T) {
	lessontest.RunUnprivileged(t, info)
}

// With --hold, Ctrl-C ends the lesson cleanly: exit status 130, the
// output finished, the pcap complete, nothing left listening.
func TestLessonInterrupted(t *testing.T) {
	lessontest.RunInterrupted(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}

// The lab's counters, the lesson's alone, as docs/lessons/08.md says:
// in step 4 the window goes to 0 and one probe goes out; in step 5 the
// window opens again.
func TestLabCounters(t *testing.T) {
	labCounters(t, lessontest.RunJSON(t, lessontest.Build(t)), map[int]string{
		4: "TcpExtTCPWinProbe +1, TcpExtTCPToZeroWindowAdv +1",
		5: "TcpExtTCPFromZeroWindowAdv +1",
	})
}

// labCounters checks the lab's COUNTER events of a lesson's run, step
// by step: want[step] lists them in order, as "Name +delta". Without a
// lab, which the run says at its start, it skips: the host's counters
// are everyone's.
func labCounters(t *testing.T, ev []tracer.Event, want map[int]string) {
	t.Helper()
	if !slices.ContainsFunc(ev, func(e tracer.Event) bool { return e.Actor == "lab" && e.Text == "a network of the lesson's own" }) {
		t.Skip("no lab here: only a lab's counters are the lesson's alone")
	}
	got := map[int][]string{}
	for _, e := range ev {
		if e.Phase == tracer.PhaseCounter {
			got[e.Step] = append(got[e.Step], fmt.Sprintf("%s +%d", e.Counter.Name, e.Counter.Delta))
		}
	}
	steps := map[int]bool{}
	for step := range got {
		steps[step] = true
	}
	for step := range want {
		steps[step] = true
	}
	for step := range steps {
		if g := strings.Join(got[step], ", "); g != want[step] {
			t.Errorf("step %d: the lab's kernel counted %q, want %q", step, g, want[step])
		}
	}
}
