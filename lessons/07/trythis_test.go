package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
)

// Each "Try this" of the lesson, done as it says, checking what it
// promises.

// nc is an nc session a test types into, as in a terminal.
type nc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out lessontest.Buffer
}

func startNC(t *testing.T, h *lessontest.Held, path string) *nc {
	t.Helper()
	n := &nc{cmd: h.Command(path, "127.0.0.1", h.Port())}
	n.cmd.Stdout = &n.out
	var err error
	if n.in, err = n.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		n.cmd.Wait()
	})
	return n
}

func (n *nc) typeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(n.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// Ctrl-C.
func (n *nc) interrupt(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	n.cmd.Wait() // NOTE: ended by the signal; its exit status says so
}

// Try this 1: three nc sessions against the held LimitListener server:
// the third connects but hears nothing until one of the first two ends;
// meanwhile ss shows its line in the server's Recv-Q and Recv-Q 1 on the
// listener.
func TestTryThisThreeNC(t *testing.T) {
	ncPath := lessontest.Tool(t, "nc")
	ss := lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t))
	port := h.Port()

	first, second := startNC(t, h, ncPath), startNC(t, h, ncPath)
	first.typeLine(t, "one")
	first.out.WaitFor(t, `You said "one`)
	second.typeLine(t, "two")
	second.out.WaitFor(t, `You said "two`)
	third := startNC(t, h, ncPath)
	third.typeLine(t, "three")

	// What ss shows while the third waits (asked until the line has
	// arrived, as a learner would look a moment later).
	var conns, listener string
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); <-tick.C {
		conns = runCmd(t, ss, "-tn", "( sport = :"+port+" )")
		listener = runCmd(t, ss, "-ltn")
		if recvQ(conns, "127.0.0.1:"+port, "6") && recvQ(listener, "127.0.0.1:"+port, "1") {
			break
		}
	}
	if !recvQ(conns, "127.0.0.1:"+port, "6") {
		t.Errorf("ss -tn '( sport = :%s )' shows no connection holding the 6 bytes of \"three\\n\":\n%s", port, conns)
	}
	if !recvQ(listener, "127.0.0.1:"+port, "1") {
		t.Errorf("ss -ltn shows no Recv-Q 1 on the listener on port %s:\n%s", port, listener)
	}
	if got := third.out.String(); got != "" {
		t.Errorf("the third nc heard %q before a slot freed", got)
	}

	first.interrupt(t)
	third.out.WaitFor(t, `You said "three`)
	second.interrupt(t)
	third.interrupt(t)
	h.Stop()
}

func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// recvQ reports whether ss's output has a line whose local address is
// local and whose Recv-Q is q.
func recvQ(ss, local, q string) bool {
	for _, line := range strings.Split(ss, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == q && f[3] == local {
			return true
		}
	}
	return false
}

// Try this 2: client #3 writes too; closing it now sends RST, and the
// lesson stops in step 4, where client #3's Read got a reset.
func TestTryThisClientThreeWrites(t *testing.T) {
	bin := lessontest.Build(t, lessontest.Edit{
		Old: "\tif _, err := io.WriteString(clients[3], \"hello?\"); err != nil {\n\t\treturn err\n\t}\n",
		New: "\tif _, err := io.WriteString(clients[3], \"hello?\"); err != nil {\n\t\treturn err\n\t}\n" +
			"\tio.WriteString(clients[2], \"hi\")\n",
	})
	args := []string{"--json", "--capture=off"}
	captured := lessontest.CapturePermitted()
	if captured {
		args = []string{"--json", "--capture=on"}
	}
	r := lessontest.RunBinary(t, bin, args...)
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
	tshark := lessontest.Tool(t, "tshark")
	if !lessontest.CapturePermitted() {
		t.Skip("this Try this says sudo: capture needs root or CAP_NET_RAW")
	}
	pcap := filepath.Join(t.TempDir(), "07.pcapng")
	r := lessontest.RunBinary(t, lessontest.Build(t), "--json", "--pcap", pcap)
	if r.Code != 0 {
		t.Fatalf("the lesson: exit %d\n%s", r.Code, r.Stderr)
	}
	var fins, rsts int
	for _, e := range lessontest.Events(t, r.Stdout) {
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
	out := runCmd(t, tshark, "-r", pcap, "-Y", "tcp.flags.reset == 1 || tcp.flags.fin == 1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := len(lines); got != fins+rsts || rsts != 1 {
		t.Errorf("tshark lists %d segments, the trace has %d FINs and %d RSTs (want 1):\n%s", got, fins, rsts, out)
	}
	if n := bytes.Count([]byte(out), []byte("[RST")); n != 1 {
		t.Errorf("tshark lists %d RSTs, want 1:\n%s", n, out)
	}
}
