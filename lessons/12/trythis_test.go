package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The held lesson's nc command, pasted in another terminal as printed
// (joined to the client's end): each line comes back, the 5th after the
// link lost it and the client's kernel sent it again (a tail loss
// probe: nothing came after it).
func TestTryThisHoldNC(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "nsenter")
	h := lessontest.Hold(t, lessontest.Build(t), "--json")
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
	// One line at a time, each once the one before has come back: each
	// is a segment of its own.
	echoed := bufio.NewScanner(out)
	for i := 1; i <= 6; i++ {
		line := fmt.Sprintf("line %d", i)
		if _, err := fmt.Fprintln(in, line); err != nil {
			t.Fatal(err)
		}
		if !echoed.Scan() || echoed.Text() != line {
			t.Fatalf("sent %q, got back %q (%v)", line, echoed.Text(), echoed.Err())
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
	var dropped, copies int
	for _, e := range lessontest.OfConns(ev, conn) {
		if e.Actor == "link" && strings.HasPrefix(e.Text, "dropped on purpose: the 5th data segment") {
			dropped++
		}
		if p := e.Packet; p != nil && p.At == "client" && p.From == "client" && p.Seq == 4*uint32(len("line 1\n"))+1 && p.Len > 0 {
			copies++
		}
	}
	if dropped != 1 || copies != 2 {
		t.Errorf("nc's connection: %d drops of its 5th line, which left the client %d times; want 1 and 2", dropped, copies)
	}
	// Each kernel sent its last segment again by a tail loss probe, as
	// its counters say (the packets alone cannot always tell: the
	// server's probe may reach the client just before the client's
	// goes).
	var counted []string
	for _, e := range ev {
		if e.Phase == tracer.PhaseCounter && e.Step == info.Steps {
			counted = append(counted, tracer.Detail(e))
		}
	}
	for _, want := range []string{"client's TcpExtTCPLossProbes +1", "server's TcpExtTCPLossProbes +1"} {
		if !slices.Contains(counted, want) {
			t.Errorf("no %q among the counters after the hold: %q", want, counted)
		}
	}
}
