//go:build unix

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// Each "Try this" of the lesson, done as it says, checking what it
// promises.

// Try this 1: the first command the held lesson prints, nc -N in its
// lab, gets the answer after its FIN. The second, without -N, sends no
// FIN; stopped with Ctrl-C, nc's kernel sends the FIN, the server
// answers, and nc's kernel answers that with RST. In a lab the lesson
// shows the packets, root or not.
func TestTryThisNC(t *testing.T) {
	lessontest.Tool(t, "nc")
	h := lessontest.Hold(t, lessontest.Build(t), "--json")
	cmds := printed(t, h, 2)
	if h.Join() != nil {
		lessontest.Tool(t, "nsenter")
	}

	// With -N: the answer, after nc's FIN.
	out, err := h.Paste(cmds[0]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[0], err)
	}
	if want := `You said "I am Chuck Norris!" (18 bytes)`; string(out) != want {
		t.Errorf("%s printed %q, want %q", cmds[0], out, want)
	}
	ev := h.WaitEvent("the server's close of nc's connection", isServer(3, tracer.PhaseClose))
	lessontest.Order(t, lessontest.OfConns(ev, 3),
		"server read I am Chuck Norris!",
		"server eof", // nc's FIN
		`server write You said`,
		"server close",
	)
	captured := strings.Contains(h.Output(), `"phase":"packet"`)
	if !captured && h.Join() != nil {
		t.Errorf("the lesson runs in a lab, where it captures for any user, and shows no packets")
	}
	if captured {
		lessontest.Order(t, lessontest.OfConns(ev, 3),
			"wire packet FIN ACK client→server",
			"wire packet PSH ACK server→client len 40",
			"wire packet FIN ACK server→client",
		)
	}

	// Without -N: no FIN until nc is stopped. Ctrl-C signals the
	// terminal's foreground process group: the pasted line's.
	cmd := h.Paste(cmds[1])
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // NOTE: gone already when the test went well
		cmd.Wait()
	})
	ev = h.WaitEvent("the server's read of nc's request", func(e tracer.Event) bool {
		return e.Conn == 4 && e.Actor == "server" && e.Phase == tracer.PhaseRead
	})
	stopped := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	ev = h.WaitEvent("the server's close of the second connection", isServer(4, tracer.PhaseClose))
	if captured {
		ev = h.WaitEvent("nc's RST", func(e tracer.Event) bool {
			return e.Conn == 4 && e.Packet != nil && e.Packet.From == "client" && strings.Contains(e.Packet.Flags, "RST")
		})
	}
	h.Stop()
	lessontest.Order(t, lessontest.OfConns(ev, 4),
		"server read I am Chuck Norris!",
		"server eof",
		"server write You said",
		"server close",
	)
	for _, e := range lessontest.OfConns(ev, 4) {
		if e.Phase == tracer.PhaseEOF && e.Time.Before(stopped) {
			t.Errorf("the server read io.EOF before nc was stopped: nc without -N sent FIN")
		}
	}
	if !captured {
		t.Log("no lab and no capture here: the FIN and RST of nc's kernel are not checked")
		return
	}
	lessontest.Order(t, lessontest.OfConns(ev, 4),
		"wire packet FIN ACK client→server",
		"wire packet PSH ACK server→client len 40",
		"wire packet RST client→server",
	)
	var rst bool
	for _, e := range lessontest.OfConns(ev, 4) {
		p := e.Packet
		switch {
		case p == nil:
		case p.From == "client" && strings.Contains(p.Flags, "FIN") && e.Time.Before(stopped):
			t.Errorf("nc sent FIN before it was stopped")
		case p.From == "client" && strings.Contains(p.Flags, "RST"):
			rst = true
		case p.From == "server" && rst:
			t.Errorf("the server sent %s after nc's RST; after a reset its Close sends nothing", p.Flags)
		}
	}
}

// printed waits until the held lesson, run with --json, has printed n
// commands for another terminal, and returns them as printed: the
// texts of its events, ready to paste.
func printed(t *testing.T, h *lessontest.Held, n int) []string {
	t.Helper()
	h.Commands(n) // waits for them
	out := h.Output()
	var cmds []string
	for _, e := range lessontest.Events(t, out[:strings.LastIndexByte(out, '\n')+1]) {
		if c, ok := strings.CutPrefix(e.Text, "in another terminal: "); ok {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) != n {
		t.Fatalf("the held lesson printed %d commands for another terminal, want %d:\n%s", len(cmds), n, out)
	}
	return cmds
}

func isServer(conn int, phase tracer.Phase) func(tracer.Event) bool {
	return func(e tracer.Event) bool { return e.Conn == conn && e.Actor == "server" && e.Phase == phase }
}

// Try this 2: at the pause before step 3, ss, started with the join
// command the lesson printed, shows the client's socket in FIN-WAIT-2
// and the server's in CLOSE-WAIT. The packets, saved too, show who
// acknowledged the client's FIN.
func TestTryThisStepSS(t *testing.T) {
	lessontest.Tool(t, "ss")
	pcap := filepath.Join(t.TempDir(), "06.pcapng")
	s := lessontest.StartStepped(t, lessontest.Build(t), "--pcap", pcap)
	s.WaitPrompt(1)
	if s.Join() != nil {
		lessontest.Tool(t, "nsenter")
	}
	s.Enter()
	s.WaitPrompt(2)
	port := s.WaitFor(regexp.MustCompile(`LISTEN +tcp 127\.0\.0\.1:(\d+)`))
	s.Enter()
	s.WaitPrompt(3)
	// A learner types the command some time after the pause; the server's
	// kernel acknowledges the FIN on its own within a few tens of ms.
	server := "127.0.0.1:" + port[1]
	var got []lessontest.SSRow
	var clientEnd, serverEnd bool
	lessontest.Poll(5*time.Second, 20*time.Millisecond, func() bool {
		ss := s.Command("ss", "-tn", "state", "fin-wait-2", "state", "close-wait")
		out, err := ss.Output()
		if err != nil {
			t.Fatalf("%s: %v", ss, err)
		}
		got = lessontest.SSRows(string(out))
		clientEnd = slices.ContainsFunc(got, func(r lessontest.SSRow) bool {
			return r.State == "FIN-WAIT-2" && r.Peer == server // its peer is the server's port
		})
		serverEnd = slices.ContainsFunc(got, func(r lessontest.SSRow) bool { return r.State == "CLOSE-WAIT" && r.Local == server })
		return clientEnd && serverEnd
	})
	if !clientEnd || !serverEnd {
		t.Errorf("ss at the pause before step 3 shows %v; want, for port %s, the client in FIN-WAIT-2 and the server in CLOSE-WAIT", got, port[1])
	}
	s.Finish()
	if _, err := os.Stat(pcap); err != nil {
		if s.Join() != nil {
			t.Fatalf("the lesson runs in a lab, where it captures for any user, and saved no packets: %v", err)
		}
		t.Log("no lab and no capture here: the ACK of the client's FIN is not checked")
		return
	}
	// The ACK that moved the client to FIN_WAIT_2 was the server's
	// kernel's own, a bare ACK before the answer (docs/lessons/06.md
	// says about 40 ms after the FIN).
	pkts, err := capture.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	segs := lessontest.SegmentsOf(pkts)
	var finAt time.Time
	for _, g := range segs {
		switch {
		case g.Src.Port() != uint16(mustAtoi(t, port[1])) && g.Has(capture.FIN) && finAt.IsZero():
			finAt = g.Time
		case !finAt.IsZero() && g.Src.Port() == uint16(mustAtoi(t, port[1])) && g.Ack == 20:
			if g.Len != 0 {
				t.Errorf("the client's FIN was first acknowledged with the answer, not by a bare ACK:%s", lessontest.Dump(segs))
			} else if d := g.Time.Sub(finAt); d < 10*time.Millisecond || d > 500*time.Millisecond {
				t.Errorf("the bare ACK of the client's FIN came %v after it, want about 40 ms", d)
			}
			return
		}
	}
	t.Errorf("no ACK of the client's FIN:%s", lessontest.Dump(segs))
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
