//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// Try this: at the pause before step 4, in another terminal, ss started
// with the join command the lesson printed shows the server's socket in
// CLOSE-WAIT and the client's in FIN-WAIT-2 with its timer, counting
// down from the lab's net.ipv4.tcp_fin_timeout (60 s); step 4 then goes
// as the lesson tells it, FIN, ACK and TIME_WAIT.
func TestTryThisPauseBeforeStep4(t *testing.T) {
	lessontest.Tool(t, "ss")
	p := lessontest.StartStepped(t, lessontest.Build(t))
	for step := 1; step < 4; step++ {
		p.WaitPrompt(step)
		p.Enter()
	}
	p.WaitPrompt(4)
	port := p.WaitFor(regexp.MustCompile(`LISTEN     tcp 127\.0\.0\.1:(\d+)`))[1]
	// The learner's other terminal, as the Try this says: each
	// command started with the lesson's join command (on the host, when
	// the system refuses the lab, as it is: the lesson's port then
	// tells its sockets from others).
	ss := func(state string) []string {
		t.Helper()
		out, err := p.Command("ss", "-tano", "state", state).Output()
		if err != nil {
			t.Fatalf("ss -tano state %s: %v", state, err)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "127.0.0.1:"+port+" ") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("ss -tano state %s: want one socket on port %s:\n%s", state, port, out)
		}
		return lines
	}
	if p.Join() == nil {
		t.Log("no lab here: ss ran on the host")
	}
	ss("close-wait") // the server's
	// The client's socket, orphaned: its timer is tcp_fin_timeout's.
	timer := regexp.MustCompile(`timer:\(timewait,(\d+)sec,0\)`)
	if l := ss("fin-wait-2")[0]; !slices.Contains([]string{"58", "59", "60"}, submatch(timer, l)) {
		t.Errorf("ss -tano state fin-wait-2: want the client's socket with its timer near 60 s:\n%s", l)
	}
	stdout := p.Finish()
	step4 := lessontest.Section(t, stdout, "Step 4 of 7", "Step 5 of 7")
	lessontest.InOrder(t, step4,
		"server #1  CLOSE",
		"kernel #1  NOTE       the server's socket: gone",
		"kernel #1  NOTE       the client's socket: TIME_WAIT")
	if strings.Contains(stdout, "The lesson expected") {
		t.Errorf("a kernel line does not fit this run:\n%s", stdout)
	}
}

// submatch is re's first submatch in s, or "".
func submatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// Try this: wait longer than net.ipv4.tcp_fin_timeout at the pause
// before step 4: ss shows the client's socket gone, the server's still
// in CLOSE-WAIT, and step 4 says the server's FIN got RST.
//
// So that the test waits 2 s, not 60, the lesson runs with --host in a
// network namespace of the test's own, with tcp_fin_timeout at 2 s
// (the setting is per network namespace), and a terminal presses Enter
// when the lesson asks. In its lab the lesson would have the kernel's
// default, 60 s.
func TestTryThisPauseOutlastsFinTimeout(t *testing.T) {
	t.Parallel()
	stdout := pauseBeforeStep4(t, func(ns *lessontest.Netns) {
		// Wait past tcp_fin_timeout, for the kernel to drop the client's
		// socket: ask ss until it is gone.
		if !noSocketIn(ns, "fin-wait-2", 30*time.Second, 100*time.Millisecond) {
			t.Fatal("the client's FIN-WAIT-2 socket is still there 30 s after tcp_fin_timeout (2 s)")
		}
		// The server's socket, held by its program, stays.
		if n := strings.Count(ns.Run("ss", "-Htan", "state", "close-wait"), "\n"); n != 1 {
			t.Errorf("the server's socket left CLOSE-WAIT with no Close")
		}
	})
	step4 := lessontest.Section(t, stdout, "Step 4 of 7", "Step 5 of 7")
	lessontest.InOrder(t, step4,
		"kernel #1  NOTE       the client's socket: gone",
		"net.ipv4.tcp_fin_timeout (2 s here)",
		"it will answer\nthe server's FIN with RST",
		"server #1  CLOSE",
		"kernel #1  NOTE       the server's socket: gone",
		"answers the FIN with RST",
	)
	if strings.Contains(stdout, "wire   #1") {
		// Captured: the RST is on the wire, right after the FIN.
		lessontest.InOrder(t, step4,
			"wire   #1  FIN ACK    server → client",
			"wire   #1  RST        client → server",
			"kernel #1  NOTE       the server's socket: gone")
	} else {
		t.Log("no capture here: the RST was checked through the kernel's answers only")
	}
	step5 := lessontest.Section(t, stdout, "Step 5 of 7", "Step 6 of 7")
	if !strings.Contains(step5, "the client's old socket: gone") || strings.Contains(step5, "CONNECT") {
		t.Errorf("step 5 should say the old socket is gone and not dial:\n%s", step5)
	}
	if !strings.Contains(stdout, "connection #1's client socket: gone") {
		t.Errorf("step 7 should say connection #1's client socket is gone")
	}
}

// pauseBeforeStep4 runs the lesson with --host on a terminal in a
// network namespace of the test's own, with net.ipv4.tcp_fin_timeout at
// 2 s, calls at with the namespace at the pause before step 4, and
// returns what the lesson printed; every kernel line must fit the run.
func pauseBeforeStep4(t *testing.T, at func(ns *lessontest.Netns)) string {
	t.Helper()
	lessontest.Tool(t, "ss")
	ns := lessontest.NewNetns(t)
	ns.Sysctl("net.ipv4.tcp_fin_timeout", "2")
	bin := lessontest.Build(t)
	stdout, _ := lessontest.RunStepped(t, ns.Command(bin, "--step", "--no-color", "--host"), func(step int, _ string) {
		if step == 4 {
			at(ns)
		}
	})
	if strings.Contains(stdout, "The lesson expected") {
		t.Errorf("a kernel line does not fit this run:\n%s", stdout)
	}
	if strings.Contains(stdout, "a network of the lesson's own") {
		t.Errorf("--host: the lesson ran in a lab of its own, where the test's tcp_fin_timeout does not reach")
	}
	return stdout
}

// noSocketIn asks ss in ns every interval, for within at the most,
// until it lists no socket in state, and reports whether it did.
func noSocketIn(ns *lessontest.Netns, state string, within, every time.Duration) bool {
	return lessontest.Poll(within, every, func() bool { return strings.TrimSpace(ns.Run("ss", "-Htan", "state", state)) == "" })
}

// A pause before step 4 that outlasts the client's FIN_WAIT_2 socket and
// then the server's first keepalive probe (15 s: Go's default): the
// probe is answered with RST, the server's socket is reset before its
// program closes it, and step 4 says so, and that Close sends no FIN.
// (With --host in a namespace of the test's own, as above.)
func TestPauseOutlastsKeepalive(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits 15 s for a keepalive probe")
	}
	stdout := pauseBeforeStep4(t, func(ns *lessontest.Netns) {
		// Wait for the kernel to reset the server's socket: it leaves
		// CLOSE-WAIT without its program's Close.
		if !noSocketIn(ns, "close-wait", 60*time.Second, 250*time.Millisecond) {
			t.Fatal("the server's socket is still in CLOSE-WAIT after 60 s")
		}
	})
	step4 := lessontest.Section(t, stdout, "Step 4 of 7", "Step 5 of 7")
	lessontest.InOrder(t, step4,
		"kernel #1  NOTE       the server's socket: 1 keepalive probe sent, 1 segment received while the lesson paused",
		"Go turns TCP keepalive on",
		"kernel #1  NOTE       the client's socket: gone",
		"TCP_INFO says CLOSE",
		"answered a keepalive probe with RST",
		"server #1  CLOSE",
		"kernel #1  NOTE       the server's socket: gone",
		"Close sent nothing",
	)
	if strings.Contains(stdout, "wire   #1") {
		// The reset came during the pause, before the heading of step 4.
		pause := lessontest.Section(t, stdout, "Step 3 of 7", "Step 4 of 7")
		lessontest.InOrder(t, pause, "wire   #1  RST        client → server")
		if strings.Contains(step4, "FIN ACK    server → client") {
			t.Errorf("the server sent a FIN after the reset:\n%s", step4)
		}
	}
}

// timeWaits returns the lines of ss -tano output that show a socket
// in TIME-WAIT with about 60 s left on its timer: this run's, not an
// earlier run's that the kernel may have given the same port.
func timeWaits(out string) []string {
	var lines []string
	timer := regexp.MustCompile(`timer:\(timewait,(\d+)sec,0\)`)
	for _, l := range strings.Split(out, "\n") {
		if m := timer.FindStringSubmatch(l); m != nil && (m[1] == "58" || m[1] == "59" || m[1] == "60") {
			lines = append(lines, l)
		}
	}
	return lines
}

// bothEnds checks that lines, ss's TIME-WAIT lines for the server's
// port, are the client's end of connection #1 (the port second) and the
// server's end of connection #2 (the port first).
func bothEnds(t *testing.T, lines []string, port string) {
	t.Helper()
	client := regexp.MustCompile(`127\.0\.0\.1:\d+\s+127\.0\.0\.1:` + port + `\s`)
	server := regexp.MustCompile(`127\.0\.0\.1:` + port + `\s+127\.0\.0\.1:\d+\s`)
	if len(lines) != 2 || !slices.ContainsFunc(lines, client.MatchString) || !slices.ContainsFunc(lines, server.MatchString) {
		t.Errorf("want 2 sockets in TIME_WAIT on port %s, about 60 s left on their timers, the client's end and the server's:\n%s",
			port, strings.Join(lines, "\n"))
	}
}

// Try this: held, the lesson prints the ss command that lists its two
// sockets in TIME_WAIT, ready to paste; pasted, it shows them, their
// timers counting down from 60 s.
func TestTryThisTimeWaitHeld(t *testing.T) {
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(3)
	port := h.Port()
	want := "ss -tano state time-wait '( sport = :" + port + " or dport = :" + port + " )'"
	if join := h.Join(); join != nil {
		want = strings.Join(join, " ") + " " + want
	}
	if cmds[2] != want {
		t.Errorf("the last command printed: %q, want %q", cmds[2], want)
	}
	out, err := h.Paste(cmds[2]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[2], err)
	}
	bothEnds(t, timeWaits(string(out)), port)
	h.Stop()
}

// Try this: with --host, on this machine's loopback, the two sockets in
// TIME_WAIT are still there right after the lesson, with about 60 s on
// their timers, and ss, as the Try this gives it, lists them.
func TestTryThisTimeWaitAfterTheLessonOnTheHost(t *testing.T) {
	ss := lessontest.Tool(t, "ss")
	out := lessontest.RunOK(t, lessontest.Build(t), "--host", "--no-color", "--capture=off").Stdout
	if strings.Contains(out, "a network of the lesson's own") {
		t.Fatalf("--host: the lesson ran in a lab:\n%s", out)
	}
	// "the server's port from the last step": its listener's CLOSE line.
	m := regexp.MustCompile(`CLOSE      listener 127\.0\.0\.1:(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no listener CLOSE line:\n%s", out)
	}
	port := m[1]
	got, err := exec.Command("sh", "-c", "\"$0\" -tano state time-wait '( sport = :"+port+" or dport = :"+port+" )'", ss).Output()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel may have given this port to an earlier run whose
	// TIME_WAIT sockets are still there, with less time left: this
	// run's are those with about 60 s.
	bothEnds(t, timeWaits(string(got)), port)
	// Step 7: with connection #2's server end in TIME_WAIT on the
	// port, a Go server can listen there again (SO_REUSEADDR).
	ln, err := net.Listen("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Errorf("listen on the port with a TIME_WAIT socket on it: %v", err)
	} else {
		ln.Close()
	}
	// Step 7 says so.
	lessontest.InOrder(t, out, "Step 7 of 7", "They outlive the lesson itself too")
}

// Try this: held, the lesson prints nc -N and ss for its port, ready to
// paste; nc sends a line and, at Ctrl-D, its FIN first: nc's end is the
// one in TIME-WAIT.
func TestTryThisHoldWithNc(t *testing.T) {
	lessontest.Tool(t, "ss")
	lessontest.Tool(t, "nc")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(3)
	port := h.Port()
	if !strings.HasSuffix(cmds[0], "nc -N 127.0.0.1 "+port) || !strings.HasSuffix(cmds[1], "ss -tan '( sport = :"+port+" or dport = :"+port+" )'") {
		t.Errorf("the commands printed: %q", cmds)
	}
	nc := h.Paste(cmds[0])
	nc.Stdin = strings.NewReader("I am Chuck Norris!\n") // a line, then Ctrl-D
	var answer bytes.Buffer
	nc.Stdout = &answer
	if err := nc.Run(); err != nil {
		t.Fatalf("%s: %v", cmds[0], err)
	}
	if !strings.Contains(answer.String(), `You said "I am Chuck Norris!`) {
		t.Errorf("nc got %q", answer.String())
	}
	// nc's port, from the server's ACCEPT after the lesson held.
	ncPort := h.WaitFor(regexp.MustCompile(`(?s)holding:.*ACCEPT\s+tcp 127\.0\.0\.1:` + port + ` ↔ 127\.0\.0\.1:(\d+)`))[1]
	got, err := h.Paste(cmds[1]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[1], err)
	}
	ncEnd := regexp.MustCompile(`(?m)^TIME-WAIT\s+0\s+0\s+127\.0\.0\.1:` + ncPort + `\s+127\.0\.0\.1:` + port + `\s*$`)
	serverEnd := regexp.MustCompile(`(?m)^\S+\s+0\s+0\s+127\.0\.0\.1:` + port + `\s+127\.0\.0\.1:` + ncPort + `\s*$`)
	if !ncEnd.Match(got) || serverEnd.Match(got) {
		t.Errorf("want nc's end (port %s) in TIME-WAIT and the server's end gone:\n%s", ncPort, got)
	}
	h.Stop()
}

// Try this: with the server's Close moved into step 3, right after its
// io.EOF, connection #1 closes with three segments.
func TestTryThisCloseInStep3(t *testing.T) {
	t.Parallel()
	bin := lessontest.Build(t,
		lessontest.InsertAfter("\t\treturn fmt.Errorf(\"the server's Read after the client's FIN: %v, want io.EOF\", err)\n\t}\n",
			"\tif err := server.Close(); err != nil {\n\t\treturn err\n\t}\n"),
		lessontest.Edit{
			Old: "\tif err := server.Close(); err != nil {\n\t\treturn err\n\t}\n\tvar timeWait1",
			New: "\tvar timeWait1",
		})
	var closing, unexpected []string
	for _, e := range lessontest.RunJSON(t, bin) {
		if e.Actor == "kernel" && e.Phase == tracer.PhaseNote && strings.Contains(e.Note, "The lesson expected") {
			unexpected = append(unexpected, e.Text)
		}
		if p := e.Packet; p != nil && e.Conn == 1 && p.Proto == "tcp" && (strings.Contains(p.Flags, "FIN") || len(closing) > 0) {
			closing = append(closing, fmt.Sprintf("%s %s→%s", p.Flags, p.From, p.To))
		}
	}
	// "The kernel lines then say which states the lesson no longer
	// finds": CLOSE_WAIT in step 3, FIN_WAIT_2 at once.
	if len(unexpected) == 0 {
		t.Errorf("no kernel line says the lesson did not find what it expected")
	}
	t.Logf("kernel lines that do not fit: %q", unexpected)
	if len(closing) == 0 {
		t.Log("no capture here: the segments were not counted")
		return
	}
	want := "FIN ACK client→server, FIN ACK server→client, ACK client→server"
	if got := strings.Join(closing, ", "); got != want {
		t.Errorf("connection #1 closed with\n\t%s\nwant three segments\n\t%s", got, want)
	}
}

// A program joined to a held lesson's lab from another terminal keeps
// the lab after the lesson: the end note says so, naming it, and its
// TIME_WAIT sockets are still there, as ss run beside it shows.
func TestJoinedProgramKeepsTheLab(t *testing.T) {
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	join := h.Join()
	if join == nil {
		t.Skip("the lesson ran on the host here: no lab to keep")
	}
	port := h.Port()
	// A shell in the lab, which says so once there and waits for a
	// line.
	keeper := h.Command("sh", "-c", "echo in; read line")
	in, err := keeper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := keeper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := keeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		keeper.Wait()
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "in\n" {
		t.Fatalf("the shell joined to the lab said %q (%v)", line, err)
	}
	pid := strconv.Itoa(keeper.Process.Pid)
	via := slices.Clone(join)
	via[slices.Index(via, "-t")+1] = pid
	ss := func(args ...string) string {
		out, err := exec.Command(via[0], append(append(via[1:], "ss"), args...)...).Output()
		if err != nil {
			t.Fatalf("%s ss %s: %v", strings.Join(via, " "), strings.Join(args, " "), err)
		}
		return string(out)
	}
	if out := ss("-tan"); !strings.Contains(out, ":"+port) {
		t.Fatalf("joined through the shell (pid %s), ss does not see the lesson's sockets:\n%s", pid, out)
	}
	stdout, _ := h.Stop()
	if want := "the lesson ends, but its lab stays while sh (pid " + pid + ") runs in it"; !strings.Contains(stdout, want) {
		t.Errorf("no %q in:\n%s", want, stdout)
	}
	bothEnds(t, timeWaits(ss("-tano", "state", "time-wait")), port)
}
