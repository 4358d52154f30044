//go:build unix

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// Each "Try this" of the lesson, done as it says, checking what it
// promises.

// Try this 1: the held lesson's first command, nc in its lab, pasted
// into three terminals: the third connects but hears nothing until one
// of the first two ends; meanwhile its next two commands, ss, show the
// third's line in the server's Recv-Q and Recv-Q 1 on the listener.
func TestTryThisThreeNC(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t))
	cmds := h.Commands(4)
	if h.Join() != nil {
		lessontest.Tool(t, "nsenter")
	}
	port := h.Port()
	session := func() *lessontest.Proc { return lessontest.StartInteractive(t, terminal(t, h.Paste(cmds[0]))) }

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
		conns = ssRows(t, h.Paste(cmds[1]))
		listener = ssRows(t, h.Paste(cmds[2]))
		return recvQ(conns, "127.0.0.1:"+port, 6) && recvQ(listener, "127.0.0.1:"+port, 1)
	})
	if !recvQ(conns, "127.0.0.1:"+port, 6) {
		t.Errorf("%s shows no connection holding the 6 bytes of \"three\\n\": %v", cmds[1], conns)
	}
	if !recvQ(listener, "127.0.0.1:"+port, 1) {
		t.Errorf("%s shows no Recv-Q 1 on the listener on port %s: %v", cmds[2], port, listener)
	}
	if got := third.Output(); got != "" {
		t.Errorf("the third nc heard %q before a slot freed", got)
	}

	ctrlC(t, first)
	third.WaitFor(regexp.MustCompile(`You said "three`))
	ctrlC(t, second)
	ctrlC(t, third)
	h.Stop()
}

// terminal makes cmd, a command line pasted into a terminal, a process
// group of its own, as a shell makes each job: Ctrl-C stops the whole
// line (ctrlC).
func terminal(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // NOTE: gone already when the test went well
		}
	})
	return cmd
}

// ctrlC stops p, started with terminal, as Ctrl-C does: SIGINT to its
// process group. It waits for p to exit.
func ctrlC(t *testing.T, p *lessontest.Proc) {
	t.Helper()
	if err := syscall.Kill(-p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.Wait() // NOTE: it ends by the signal; its exit status says so
}

// ssRows runs cmd, an ss command the held lesson printed, and returns
// the rows it shows.
func ssRows(t *testing.T, cmd *exec.Cmd) []lessontest.SSRow {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return lessontest.SSRows(string(out))
}

// The held lesson's last command lists the run's TIME_WAITs, which go
// with the lab when the lesson ends (docs/lessons/07.md): the clients'
// ends of #1 and #2, the server's end of #3, nothing of #4 after its
// RST; on the second server's port the clients' ends of #5, #6 and #7,
// which closed first.
func TestHeldTimeWait(t *testing.T) {
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--json")
	cmds := h.Commands(4)
	// The commands from the events: --json prints them in its "text".
	out := h.Output()
	var tw string
	for _, e := range lessontest.Events(t, out[:strings.LastIndexByte(out, '\n')+1]) {
		if c, ok := strings.CutPrefix(e.Text, "in another terminal: "); ok && strings.HasSuffix(c, "ss -tan state time-wait") {
			tw = c
		}
	}
	if tw == "" {
		t.Fatalf("no ss -tan state time-wait among the held lesson's commands: %q", cmds)
	}
	if h.Join() != nil {
		lessontest.Tool(t, "nsenter")
	}
	rows := ssRows(t, h.Paste(tw))
	stdout, _ := h.Stop()

	// Each connection's two ends, from the server's accepts.
	ends := map[int][2]string{} // conn: server's end, client's end
	for _, e := range lessontest.Events(t, stdout) {
		if e.Actor == "server" && e.Phase == tracer.PhaseAccept {
			ends[e.Conn] = [2]string{e.Local.String(), e.Remote.String()}
		}
	}
	inTW := func(local, peer string) bool {
		return slices.ContainsFunc(rows, func(r lessontest.SSRow) bool { return r.Local == local && r.Peer == peer })
	}
	for conn, want := range map[int]string{1: "client", 2: "client", 3: "server", 4: "", 5: "client", 6: "client", 7: "client"} {
		e, ok := ends[conn]
		if !ok {
			t.Fatalf("no accept of connection #%d", conn)
		}
		server, client := inTW(e[0], e[1]), inTW(e[1], e[0])
		if server != (want == "server") || client != (want == "client") {
			t.Errorf("connection #%d: in TIME_WAIT, the server's end %v, the client's %v; want %q's only:\n%v", conn, server, client, want, rows)
		}
	}
	if len(rows) != 6 {
		t.Errorf("%s lists %d sockets, want the 6 of the run:\n%v", tw, len(rows), rows)
	}
}

// recvQ reports whether ss shows a socket whose local address is local
// and whose Recv-Q is q.
func recvQ(rows []lessontest.SSRow, local string, q int) bool {
	return slices.ContainsFunc(rows, func(r lessontest.SSRow) bool { return r.Local == local && r.RecvQ == q })
}

// Try this 2: client #3 writes too; closing it now sends RST, and the
// lesson stops in step 4, where client #3's Read got a reset. Run as it
// is: in its lab, with the packets, root or not.
func TestTryThisClientThreeWrites(t *testing.T) {
	bin := lessontest.Build(t, lessontest.InsertAfter(
		"\tif _, err := io.WriteString(clients[3], \"hello?\"); err != nil {\n\t\treturn err\n\t}\n",
		"\tio.WriteString(clients[2], \"hi\")\n"))
	r := lessontest.RunBinary(t, bin, "--json")
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
	if !captured(t, ev) {
		t.Log("no lab and no capture here: the RST itself is not checked")
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

// captured reports whether a lesson's trace shows packets. A lesson in
// a lab of its own captures for any user: there, no packets fail the
// test.
func captured(t *testing.T, ev []tracer.Event) bool {
	t.Helper()
	lab, packets := false, false
	for _, e := range ev {
		lab = lab || e.Actor == "lab" && e.Text == "a network of the lesson's own"
		packets = packets || e.Phase == tracer.PhasePacket
	}
	if lab && !packets {
		t.Errorf("the lesson ran in a lab, where it captures for any user, and shows no packets")
	}
	return packets
}

// Try this 3: tshark picks the FINs and RSTs out of the lesson's pcap:
// the same segments as the trace, one RST among them (connection #4's).
func TestTryThisTsharkFINsAndRSTs(t *testing.T) {
	lessontest.Tool(t, "tshark")
	pcap := filepath.Join(t.TempDir(), "07.pcapng")
	ev := lessontest.RunJSON(t, lessontest.Build(t), "--pcap", pcap)
	if !captured(t, ev) {
		t.Skip("no lab and no capture here: no pcap file for tshark")
	}
	var fins, rsts int
	for _, e := range ev {
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
