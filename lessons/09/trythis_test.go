//go:build linux

package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// Each "Try this" of the lesson, done as it says, checking what it
// promises.

// tryThis fails the test unless the Try this numbered i (from 0) still
// says each of says, so that a test and the exercise it runs cannot
// drift apart.
func tryThis(t *testing.T, i int, says ...string) {
	t.Helper()
	text := strings.Join(strings.Fields(info.TryThis[i]), " ")
	for _, s := range says {
		if !strings.Contains(text, s) {
			t.Fatalf("Try this %d no longer says %q:\n%s", i+1, s, text)
		}
	}
}

// Try this 1: the held lesson prints nc -v and ss ready to paste. nc
// connects, and the trace shows the RST that cuts it off; ss then shows
// the listener and step 5's TIME-WAIT, and nothing of nc's connection
// (any other row fails the test).
func TestTryThisHoldNC(t *testing.T) {
	t.Parallel()
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	tryThis(t, 0, "--hold", "the nc -v command it prints, ready to paste", "the handshake, then at once the RST",
		"Connection reset by peer", "its ss command shows the listener and one TIME-WAIT",
		"step 5's client, which closed first", "nc's connection, reset, left none")
	h := lessontest.Hold(t, lessontest.Build(t))
	cmds := h.Commands(2)
	if !strings.Contains(cmds[0], "nc -v 127.0.0.1 "+h.Port()) || !strings.Contains(cmds[1], "ss -tan") {
		t.Fatalf("the held lesson prints %q, want nc -v and ss on port %s", cmds, h.Port())
	}
	nc := h.Paste(cmds[0])
	timer := time.AfterFunc(10*time.Second, func() { nc.Process.Kill() })
	// nc checks its connect a moment after the handshake: before the
	// server's RST it says it succeeded, after it that the connect was
	// reset.
	out, _ := nc.CombinedOutput() // NOTE: nc fails on the reset; its words say what happened
	timer.Stop()
	if !strings.Contains(string(out), "succeeded!") && !strings.Contains(string(out), "failed: Connection reset by peer") {
		t.Errorf("%s says neither that it connected nor that it was reset:\n%s", cmds[0], out)
	}
	t.Logf("%s: %s", cmds[0], strings.TrimSpace(string(out)))
	// nc's connection is the one that starts while the lesson holds.
	h.WaitFor(regexp.MustCompile(`holding: [\s\S]*RST ACK\s+server → client`))
	lessontest.InOrder(t, h.Output(), "holding: the lesson's server listens on",
		"SYN client → server", "SYN ACK server → client", "ACCEPT", "CLOSE", "RST ACK server → client")
	// Step 5's client closed first: its TIME-WAIT is still there.
	step5 := lessontest.Section(t, h.Output(), "Step 5 of", "Step 6 of")
	m := regexp.MustCompile(`client #\d+\s+CONNECTED\s+tcp (\S+) ↔`).FindStringSubmatch(step5)
	if m == nil {
		t.Fatalf("no CONNECTED line in step 5:\n%s", step5)
	}
	closedFirst := m[1]

	ss, err := h.Paste(cmds[1]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[1], err)
	}
	var listening, timeWait int
	for _, r := range lessontest.SSRows(string(ss)) {
		switch {
		case r.State == "LISTEN" && r.Local == h.Addr.String():
			listening++
		case r.State == "TIME-WAIT" && r.Local == closedFirst && r.Peer == h.Addr.String():
			timeWait++
		default:
			t.Errorf("%s shows %v, want the listener and step 5's TIME-WAIT only", cmds[1], r)
		}
	}
	if listening != 1 || timeWait != 1 {
		t.Errorf("%s: the listener %d times, step 5's TIME-WAIT (%s) %d times, want each once:\n%s", cmds[1], listening, closedFirst, timeWait, ss)
	}
	h.Stop()
}

// Try this 2, and the check: at the pause before step 5, nstat
// run in the lab (the join command the lesson printed, then the Try
// this's command) agrees with the COUNTER lines the lesson printed:
// TcpExtListenOverflows and TcpExtListenDrops count each SYN step 4's
// full queue dropped, and every counter the lesson showed has the
// value it said.
func TestTryThisNstat(t *testing.T) {
	t.Parallel()
	lessontest.Tool(t, "nstat")
	tryThis(t, 1, "at the pause before step 5", "nstat -asz TcpExtListenOverflows TcpExtListenDrops",
		"starting with the join command the lesson printed at its start", "what step 4's COUNTER lines say since the lab began")
	p := lessontest.StartStepped(t, lessontest.Build(t), "--json")
	for step := 1; step < 5; step++ {
		p.WaitPrompt(step)
		p.Enter()
	}
	p.WaitPrompt(5)
	if p.Join() == nil {
		p.Finish()
		t.Skip("the lesson runs without a lab here: its counters are the machine's")
	}
	// The prompt comes on stderr: wait for the last of step 4's lines
	// on stdout, its last COUNTER line.
	events := p.WaitEvent("step 4's TcpExtTCPAbortOnTimeout", func(e tracer.Event) bool {
		return e.Step == 4 && e.Counter != nil && e.Counter.Name == "TcpExtTCPAbortOnTimeout"
	})
	said := map[string]int64{}
	for _, e := range events {
		if e.Phase == tracer.PhaseCounter {
			said[e.Counter.Name] = e.Counter.Value
		}
	}
	cmd := p.Command("nstat", "-asz", "TcpExtListenOverflows", "TcpExtListenDrops")
	got := nstat(t, cmd)
	all := nstat(t, p.Command("nstat", "-asz"))
	p.Finish()

	// The SYNs of step 4 that no SYN-ACK answered.
	answered := map[int]bool{}
	syns := map[int]int{}
	for _, e := range events {
		if e.Step == 4 && e.Packet != nil && e.Packet.Proto == "tcp" {
			switch e.Packet.Flags {
			case "SYN":
				syns[e.Conn]++
			case "SYN ACK":
				answered[e.Conn] = true
			}
		}
	}
	dropped := 0
	for c, n := range syns {
		if !answered[c] {
			dropped += n
		}
	}
	if dropped < 2 {
		t.Fatalf("%d unanswered SYNs in step 4's capture, want at least 2 (the first, and again after 1 s)", dropped)
	}
	for _, name := range []string{"TcpExtListenOverflows", "TcpExtListenDrops"} {
		if got[name] != said[name] || got[name] != int64(dropped) {
			t.Errorf("%s: nstat says %d, the lesson's COUNTER lines %d; the capture shows %d SYNs dropped", name, got[name], said[name], dropped)
		}
	}
	// Every counter the lesson showed, as nstat sees it in the lab.
	for name, v := range said {
		if all[name] != v {
			t.Errorf("%s: the lesson said %d since the lab began, nstat -asz in the lab says %d", name, v, all[name])
		}
	}
	t.Logf("the lesson's counters: %v; nstat: %v", said, got)
}

// nstat runs cmd, an nstat command, and returns the counters it
// printed.
func nstat(t *testing.T, cmd *exec.Cmd) map[string]int64 {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	c := map[string]int64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", strings.Join(cmd.Args, " "), line)
			}
			c[f[0]] = n
		}
	}
	return c
}

// Try this 3: with the lab's tcp_syn_retries at 2, step 4's dial
// without a deadline sends its SYNs at about 0, 1, 2, 3, 4 and 5 s
// where net.ipv4.tcp_syn_linear_timeouts is 4, at 0, 1 and 3 s on
// kernels without that setting, and fails at about 7 s.
func TestTryThisSYNTimes(t *testing.T) {
	t.Parallel()
	tryThis(t, 2, "set the lab's net.ipv4.tcp_syn_retries (Sysctls) to 2", "about 0, 1, 2, 3, 4 and 5 s",
		"fails at about 7 s", "net.ipv4.tcp_syn_linear_timeouts is 4", "SYNs at 0, 1 and 3 s")
	bin := lessontest.Build(t, lessontest.Edit{
		Old: `Name: "net.ipv4.tcp_syn_retries", Value: "1"`,
		New: `Name: "net.ipv4.tcp_syn_retries", Value: "2"`,
	})
	r := lessontest.RunBinary(t, bin, "--json", "--capture=on")
	if strings.Contains(r.Stderr, "no lab here") {
		t.Skipf("no lab here: %s", r.Stderr)
	}
	if r.Code != 0 {
		t.Fatalf("the lesson: exit %d\n%s", r.Code, r.Stderr)
	}
	events := lessontest.Events(t, r.Stdout)
	// The dial without a deadline: the last connection of step 4 with a
	// SYN, and its ETIMEDOUT.
	var conn int
	var gaveUp time.Time
	linear := ""
	for _, e := range events {
		if e.Step == 4 && e.Packet != nil && e.Packet.Flags == "SYN" {
			conn = e.Conn
		}
		if e.Step == 4 && e.Phase == tracer.PhaseError && strings.Contains(e.Err, "connection timed out") {
			gaveUp = e.Time
		}
		if m := regexp.MustCompile(`tcp_syn_retries = 2(?:, tcp_syn_linear_timeouts = (\d+))?\)`).FindStringSubmatch(e.Text); m != nil {
			linear = m[1]
		}
	}
	var want []float64
	switch linear {
	case "":
		want = []float64{0, 1, 3}
	case "4":
		want = []float64{0, 1, 2, 3, 4, 5}
	default:
		t.Skipf("net.ipv4.tcp_syn_linear_timeouts is %s here; the Try this speaks of 4", linear)
	}
	var times []time.Time
	for _, e := range events {
		if e.Conn == conn && e.Packet != nil && e.Packet.Flags == "SYN" {
			times = append(times, e.Time)
		}
	}
	var got []float64
	for _, at := range times {
		got = append(got, at.Sub(times[0]).Seconds())
	}
	if gaveUp.IsZero() {
		t.Fatalf("no ETIMEDOUT in step 4; SYNs at %v s", got)
	}
	t.Logf("SYNs at %v s, ETIMEDOUT at %.2f s", got, gaveUp.Sub(times[0]).Seconds())
	if len(got) != len(want) {
		t.Fatalf("SYNs at %v s, want about %v s", got, want)
	}
	for i := range want {
		if d := got[i] - want[i]; d < -0.1 || d > 0.5 {
			t.Errorf("SYNs at %v s, want about %v s", got, want)
			break
		}
	}
	if d := gaveUp.Sub(times[0]).Seconds() - 7; d < -0.1 || d > 0.8 {
		t.Errorf("the dial failed %.2f s after its first SYN, want about 7 s", gaveUp.Sub(times[0]).Seconds())
	}
}

// Try this 4: without the final dot, and with search domains in
// /etc/resolv.conf, the resolver asks the lab for the name with each of
// them appended too, and every answer is NXDOMAIN. The test runs the
// lesson in namespaces of its own, with a resolv.conf that lists two
// search domains.
func TestTryThisSearchDomains(t *testing.T) {
	t.Parallel()
	bin := lessontest.Build(t, lessontest.Edit{
		Old: `net.JoinHostPort("nobody.tcptour.test.",`,
		New: `net.JoinHostPort("nobody.tcptour.test",`,
	})
	ns := lessontest.NewNetns(t)
	ns.BindFile("/etc/resolv.conf", "nameserver 127.0.0.1\nsearch example.test lab.test\n")
	out, err := ns.Command(bin, "--json", "--capture=on").Output()
	if err != nil {
		t.Fatalf("the lesson in its namespaces: %v", err)
	}
	var asked, answered []string
	for _, e := range lessontest.Events(t, string(out)) {
		p := e.Packet
		if e.Step != 3 || p == nil || p.DNS == "" {
			continue
		}
		f := strings.Fields(p.DNS)
		switch {
		case f[0] == "query":
			asked = append(asked, f[len(f)-1])
		case len(f) >= 3 && f[1] == "NXDOMAIN":
			answered = append(answered, f[2])
		}
	}
	want := []string{"nobody.tcptour.test", "nobody.tcptour.test.example.test", "nobody.tcptour.test.lab.test"}
	if strings.Join(asked, " ") != strings.Join(want, " ") || strings.Join(answered, " ") != strings.Join(want, " ") {
		t.Errorf("asked %q, NXDOMAIN for %q; want each of %q", asked, answered, want)
	}
}
