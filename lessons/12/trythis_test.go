package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The held lesson's nc command, pasted in another terminal as printed
// (joined to the client's end): each line comes back, the 5th after the
// link lost it and the client's kernel sent it again (a tail loss
// probe: nothing came after it). Typed as a script types, each line at
// once after the echo of the one before; typed by hand, the 5th line
// only after the client's kernel has acknowledged the 4th echo on its
// own (a delayed ACK).
func TestTryThisHoldNC(t *testing.T) {
	t.Parallel()
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "nsenter")
	bin := lessontest.Build(t)
	t.Run("script", func(t *testing.T) { holdNC(t, bin, false) })
	t.Run("by-hand", func(t *testing.T) { holdNC(t, bin, true) })
}

func holdNC(t *testing.T, bin string, byHand bool) {
	h := lessontest.Hold(t, bin, "--json")
	cmds := h.Commands(2)
	if !strings.Contains(cmds[0], "nc -N 192.0.2.2 "+h.Port()) || !strings.HasPrefix(cmds[0], "nsenter -t ") {
		t.Fatalf("the nc command %q does not join the client's end", cmds[0])
	}
	nc := h.Paste(cmds[0])
	in, err := nc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := nc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Start(); err != nil {
		t.Fatal(err)
	}
	line := uint32(len("line 1\n"))
	// One line at a time, each once the one before has come back: each
	// is a segment of its own.
	echoed := bufio.NewScanner(out)
	for i := 1; i <= 6; i++ {
		if i == 5 && byHand {
			conn := 0 // nc's connection: the one the server read "line 1" on
			h.WaitEvent("the server reading nc's first line", func(e tracer.Event) bool {
				if e.Actor == "server" && e.Data == `"line 1\n"` {
					conn = e.Conn
				}
				return conn != 0
			})
			h.WaitEvent("the client's ACK of the 4th echo on its own", func(e tracer.Event) bool {
				p := e.Packet
				return e.Conn == conn && p != nil && p.At == "client" && p.From == "client" && p.Len == 0 && p.Ack == 4*line+1
			})
		}
		text := fmt.Sprintf("line %d", i)
		if _, err := fmt.Fprintln(in, text); err != nil {
			t.Fatal(err)
		}
		if !echoed.Scan() || echoed.Text() != text {
			t.Fatalf("sent %q, got back %q (%v)", text, echoed.Text(), echoed.Err())
		}
	}
	in.Close()
	if err := nc.Wait(); err != nil {
		t.Errorf("nc: %v", err)
	}
	stdout, _ := h.Stop()
	ev := lessontest.Events(t, stdout)
	conn := 0 // nc's connection: the one the server read "line 1" on
	for _, e := range ev {
		if e.Actor == "server" && e.Data == `"line 1\n"` {
			conn = e.Conn
		}
	}
	// The link drops the 5th line; the client's end sees it leave twice.
	// Whether the 4th line's echo was acknowledged on its own (a delayed
	// ACK, when the 5th line came late) or by the lost 5th line decides
	// whether the server's kernel has anything to probe for.
	var dropped, copies int
	ackedAlone := false
	// When the server's kernel sent its 4th echo again, and when the
	// first word that the client had it (an ACK of it, alone or on the
	// 5th line) reached the server.
	var resent, acked time.Time
	for _, e := range lessontest.OfConns(ev, conn) {
		if e.Actor == "link" && strings.HasPrefix(e.Text, "dropped on purpose: the 5th data segment") {
			dropped++
		}
		p := e.Packet
		switch {
		case p == nil:
		case p.At == "server" && p.From == "server" && p.Seq == 3*line+1 && p.Len > 0 && slices.Contains(p.Analysis, "retransmission"):
			resent = e.Time
		case p.At == "server" && p.From == "client" && p.Ack >= 4*line+1 && acked.IsZero():
			acked = e.Time
		case p.At == "client" && p.From == "client":
			if p.Seq == 4*line+1 && p.Len > 0 {
				copies++
			}
			if copies == 0 && p.Len == 0 && p.Ack == 4*line+1 {
				ackedAlone = true
			}
		}
	}
	if dropped != 1 || copies != 2 {
		t.Errorf("nc's connection: %d drops of its 5th line, which left the client %d times; want 1 and 2", dropped, copies)
	}
	// The client's kernel sent the 5th line again by a tail loss probe,
	// as its counters say (the packets alone cannot always tell: the
	// server's probe may reach the client just before the client's
	// goes). The server's kernel probes when its 4th echo has gone
	// unacknowledged for its probe timeout: when the lost 5th line
	// carried the ACK for it, as a script sends it; typed by hand, the
	// echo is acknowledged on its own first (a delayed ACK), unless the
	// machine is so busy that the probe timer fires first. Either way,
	// the copy leaves before the server has heard that the client has
	// the echo.
	var counted []string
	for _, e := range ev {
		if e.Phase == tracer.PhaseCounter && e.Step == info.Steps {
			counted = append(counted, tracer.Detail(e))
		}
	}
	if want := "client's TcpExtTCPLossProbes +1"; !slices.Contains(counted, want) {
		t.Errorf("no %q among the counters after the hold: %q", want, counted)
	}
	probed := slices.Contains(counted, "server's TcpExtTCPLossProbes +1")
	switch {
	case probed && resent.IsZero():
		t.Errorf("the server's counters say it sent a tail loss probe, but its 4th echo did not leave twice: %q", counted)
	case probed && !acked.IsZero() && !resent.Before(acked):
		t.Errorf("the server sent its 4th echo again at %s, after the client's ACK of it reached it at %s", resent.Format("15:04:05.000000"), acked.Format("15:04:05.000000"))
	case !probed && !resent.IsZero():
		t.Errorf("the server sent its 4th echo again, but its counters say no tail loss probe: %q", counted)
	}
	if byHand && !ackedAlone {
		t.Errorf("the 5th line was typed after the client's ACK of the 4th echo, yet the trace shows no such ACK before it")
	}
	t.Logf("4th echo acknowledged on its own: %v; the server probed: %v; counters: %q", ackedAlone, probed, counted)
}
