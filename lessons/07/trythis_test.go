package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
)

// Each "Try this" of the lesson, done as it says, checking what it
// promises.

// Try this 1: three nc sessions against the held LimitListener server:
// the third connects but hears nothing until one of the first two ends;
// meanwhile ss shows its line in the server's Recv-Q and Recv-Q 1 on the
// listener.
func TestTryThisThreeNC(t *testing.T) {
	nc := lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t))
	port := h.Port()
	session := func() *lessontest.Proc { return lessontest.StartInteractive(t, h.Command(nc, "127.0.0.1", port)) }

	first, second := session(), session()
	first.Send("one")
	first.WaitFor(regexp.MustCompile(`You said "one`))
	second.Send("two")
	second.WaitFor(regexp.MustCompile(`You said "two`))
	third := session()
	third.Send("three")

	// What ss shows while the third waits (asked until the line has
	// arrived, as a learner would look a moment later).
	var conns, listener []lessontest.SSRow
	lessontest.Poll(5*time.Second, 10*time.Millisecond, func() bool {
		conns = lessontest.SS(t, "-tn", "( sport = :"+port+" )")
		listener = lessontest.SS(t, "-ltn")
		return recvQ(conns, "127.0.0.1:"+port, 6) && recvQ(listener, "127.0.0.1:"+port, 1)
	})
	if !recvQ(conns, "127.0.0.1:"+port, 6) {
		t.Errorf("ss -tn '( sport = :%s )' shows no connection holding the 6 bytes of \"three\\n\": %v", port, conns)
	}
	if !recvQ(listener, "127.0.0.1:"+port, 1) {
		t.Errorf("ss -ltn shows no Recv-Q 1 on the listener on port %s: %v", port, listener)
	}
	if got := third.Output(); got != "" {
		t.Errorf("the third nc heard %q before a slot freed", got)
	}

	first.Stop()
	third.WaitFor(regexp.MustCompile(`You said "three`))
	second.Stop()
	third.Stop()
	h.Stop()
}

// recvQ reports whether ss shows a socket whose local address is local
// and whose Recv-Q is q.
func recvQ(rows []lessontest.SSRow, local string, q int) bool {
	return slices.ContainsFunc(rows, func(r lessontest.SSRow) bool { return r.Local == local && r.RecvQ == q })
}

// Try this 2: client #3 writes too; closing it now sends RST, and the
// lesson stops in step 4, where client #3's Read got a reset.
func TestTryThisClientThreeWrites(t *testing.T) {
	bin := lessontest.Build(t, lessontest.InsertAfter(
		"\tif _, err := io.WriteString(clients[3], \"hello?\"); err != nil {\n\t\treturn err\n\t}\n",
		"\tio.WriteString(clients[2], \"hi\")\n"))
	captureFlag, captured := lessontest.CaptureIfPermitted()
	r := lessontest.RunBinary(t, bin, "--json", captureFlag)
	if r.Code != 1 || !strings.Contains(r.Stderr, "client #3 read: ") || !strings.Contains(r.Stderr, "connection reset by peer, want io.EOF") {
		t.Fatalf("exit %d, stderr %q: want the lesson to stop in step 4 on client #3's reset", r.Code, r.Stderr)
	}
	ev := lessontest.Events(t, r.Stdout)
	lessontest.Order(t, ev,
		"client write hi",
		"server note the limit: close this one at once",
		"server close",
		"client error connection reset by peer",
	)
	if !captured {
		t.Log("no capture here: the RST itself is not checked")
		return
	}
	var rst, fin bool
	for _, e := range ev {
		if p := e.Packet; p != nil && e.Conn == 3 && p.From == "server" {
			rst = rst || strings.Contains(p.Flags, "RST")
			fin = fin || strings.Contains(p.Flags, "FIN")
		}
	}
	if !rst || fin {
		t.Errorf("connection #3: the server sent RST %v, FIN %v; want RST and no FIN", rst, fin)
	}
}

// Try this 3: tshark picks the FINs and RSTs out of the lesson's pcap:
// the same segments as the trace, one RST among them (connection #4's).
func TestTryThisTsharkFINsAndRSTs(t *testing.T) {
	lessontest.Tool(t, "tshark")
	lessontest.SkipWithoutCapture(t)
	pcap := filepath.Join(t.TempDir(), "07.pcapng")
	var fins, rsts int
	for _, e := range lessontest.RunJSON(t, lessontest.Build(t), "--pcap", pcap) {
		p := e.Packet
		switch {
		case p == nil:
		case strings.Contains(p.Flags, "RST"):
			rsts++
			if e.Conn != 4 {
				t.Errorf("RST on connection #%d", e.Conn)
			}
		case strings.Contains(p.Flags, "FIN"):
			fins++
		}
	}
	out := lessontest.Tshark(t, pcap, "tcp.flags.reset == 1 || tcp.flags.fin == 1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := len(lines); got != fins+rsts || rsts != 1 {
		t.Errorf("tshark lists %d segments, the trace has %d FINs and %d RSTs (want 1):\n%s", got, fins, rsts, out)
	}
	if n := bytes.Count([]byte(out), []byte("[RST")); n != 1 {
		t.Errorf("tshark lists %d RSTs, want 1:\n%s", n, out)
	}
}
