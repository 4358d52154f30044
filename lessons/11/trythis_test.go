//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lesson"
	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

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

// walkRe finds the walk's connection in the lesson's pretty output: the
// client's end and the server's, from the client's CONNECTED line.
var walkRe = regexp.MustCompile(`client #3\s+CONNECTED\s+tcp (\S+) ↔ (\S+)`)

func walkTuple(t *testing.T, out string) tracer.FiveTuple {
	t.Helper()
	m := walkRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no CONNECTED line for connection #3 in the output:\n%s", out)
	}
	return tracer.FiveTuple{Proto: "tcp", Local: netip.MustParseAddrPort(m[1]), Remote: netip.MustParseAddrPort(m[2])}
}

// paste runs a command the held lesson printed, as a learner pastes it
// into another terminal, and returns the rows ss printed.
func pasteSS(t *testing.T, h *lessontest.Held, line string) []lessontest.SSRow {
	t.Helper()
	out, err := h.Paste(line).Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return lessontest.SSRows(string(out))
}

// command runs cmd, a command joined to the lesson's lab, and returns
// what it printed; it fails the test if cmd fails.
func command(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// stepTo presses Enter at each pause of the stepped lesson p until it
// pauses before step n.
func stepTo(p *lessontest.Proc, n int) {
	for step := 1; step < n; step++ {
		p.WaitPrompt(step)
		p.Enter()
	}
	p.WaitPrompt(n)
}

// Try this 1: with --hold, the nc -N the lesson prints half-closes a
// connection to the forgetful server; the ss it prints, with sport or
// dport, shows both ends, CLOSE-WAIT and FIN-WAIT-2; Ctrl-C, and nc
// gets the FIN and ends.
func TestTryThisHalfClosedByNC(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	tryThis(t, 0, "--hold", "the nc -N command it prints, ready to paste", "its ss command (sport or dport = PORT)",
		"CLOSE-WAIT", "FIN-WAIT-2", "Ctrl-C the lesson", "nc gets the FIN and ends")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	port := h.Port()
	cmds := h.Commands(2)
	if !strings.HasSuffix(cmds[0], "nc -N 127.0.0.1 "+port) || !strings.Contains(cmds[1], "ss -tan '( sport = :"+port+" or dport = :"+port+" )'") {
		t.Fatalf("the held lesson prints %q, want nc -N and ss with sport or dport = %s", cmds, port)
	}

	// Type a line, then Ctrl-D: the end of nc's input.
	cmd := h.Paste(cmds[0])
	cmd.Stdin = strings.NewReader("hello from nc\n")
	cmd.WaitDelay = time.Second // nc under sh: do not wait on its output for ever
	ncProc := lessontest.Start(t, cmd)

	var closeWait, finWait2 *lessontest.SSRow
	lessontest.PollUntil(t, 5*time.Second, 10*time.Millisecond, "ss to show CLOSE-WAIT and FIN-WAIT-2", func() bool {
		closeWait, finWait2 = nil, nil
		for _, r := range pasteSS(t, h, cmds[1]) {
			switch {
			case r.State == "CLOSE-WAIT" && strings.HasSuffix(r.Local, ":"+port):
				closeWait = &r
			case r.State == "FIN-WAIT-2" && strings.HasSuffix(r.Peer, ":"+port):
				finWait2 = &r // nc's socket: the port is its peer's
			}
		}
		return closeWait != nil && finWait2 != nil
	})
	t.Logf("%s: %v; %v", cmds[1], closeWait, finWait2)
	// docs/lessons/11.md: the walk's client is there too, in TIME-WAIT.
	walk := walkTuple(t, h.Output())
	if r, ok := lessontest.SSRowOf(pasteSS(t, h, cmds[1]), walk); !ok || r.State != "TIME-WAIT" {
		t.Errorf("%s does not show the walk's client %s in TIME-WAIT", cmds[1], walk)
	}
	// The same filter with sport alone misses nc's socket.
	for _, r := range lessontest.SSRows(command(t, h.Command("ss", "-tan", fmt.Sprintf("( sport = :%s )", port)))) {
		if r.State == "FIN-WAIT-2" {
			t.Errorf("sport = :%s shows nc's FIN-WAIT-2 too: %v", port, r)
		}
	}
	if !strings.Contains(ncProc.Output(), `You said "hello from nc`) {
		t.Errorf("nc got no answer from the held server: %q", ncProc.Output())
	}
	if !ncProc.Running() {
		_, err := ncProc.Wait()
		t.Fatalf("nc ended (%v) while the held server still forgets to close", err)
	}

	h.Stop()
	if _, err := ncProc.Wait(); err != nil {
		t.Errorf("nc after the lesson's Ctrl-C: %v, want it to end with status 0", err)
	}
}

// Try this 2: on a terminal, at the pause before step 7, ss -tano
// state close-wait, joined to the lab, shows the server's socket with a
// keepalive timer, and no other.
func TestTryThisCloseWaitTimer(t *testing.T) {
	lessontest.Tool(t, "ss")
	tryThis(t, 1, "pause before step 7", "ss -tano state close-wait", "starting with the join command the lesson printed at its start",
		"timer:(keepalive,…), Go's keepalive", "no retransmission timer")
	p := lessontest.StartStepped(t, lessontest.Build(t), "--capture=off")
	stepTo(p, 7)
	m := regexp.MustCompile(`server\s+LISTEN\s+tcp (\S+)`).FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatalf("no LISTEN line before step 7:\n%s", p.Output())
	}
	var row *lessontest.SSRow
	for _, r := range lessontest.SSRows(command(t, p.Command("ss", "-tano", "state", "close-wait"))) {
		if r.Local == m[1] {
			row = &r
		}
	}
	t.Logf("ss -tano state close-wait: %v", row)
	// ss shows one timer: the retransmission or probe timer when one is
	// pending, else the keepalive.
	switch {
	case row == nil:
		t.Errorf("ss -tano state close-wait shows no socket on %s", m[1])
	case !strings.Contains(row.Details, "timer:(keepalive,"):
		t.Errorf("the server's CLOSE-WAIT socket: %v, want timer:(keepalive,…)", row)
	}
	if out := p.Finish(); !strings.Contains(out, "Recap") {
		t.Errorf("the lesson on a terminal did not finish:\n%s", out)
	}
}

// Try this 3, and the check: at the pause before step 9, nstat
// in the lab says what the lesson's COUNTER lines said: two tail loss
// probes, the two lost FINs sent again, and no retransmission timeout;
// and every counter the lesson showed has the value it said.
func TestTryThisNstat(t *testing.T) {
	lessontest.Tool(t, "nstat")
	tryThis(t, 2, "At the pause before step 9", "nstat -asz TcpExtTCPLossProbes TcpExtTCPTimeouts", "with the join command",
		"2 and 0, as the COUNTER lines of steps 5 and 8 say")
	p := lessontest.StartStepped(t, lessontest.Build(t), "--json", "--capture=off")
	stepTo(p, 9)
	if p.Join() == nil {
		p.Finish()
		t.Skip("the lesson runs without a lab here: its counters are the machine's")
	}
	if strings.Contains(p.Output(), `"text":"no socket filter: `) {
		p.Finish()
		t.Skip("the kernel refused the lesson's socket filters even in its lab: no FIN was lost")
	}
	// The prompt comes on stderr: wait for the last of step 8's lines
	// on stdout, its last COUNTER line.
	events := p.WaitEvent("step 8's TcpExtTCPLossProbes", func(e tracer.Event) bool {
		return e.Step == 8 && e.Counter != nil && e.Counter.Name == "TcpExtTCPLossProbes"
	})
	out := p.Output()
	js := out[:strings.LastIndexByte(out, '\n')+1]
	said := map[string]int64{}
	for _, e := range events {
		if e.Phase == tracer.PhaseCounter {
			said[e.Counter.Name] = e.Counter.Value
		}
	}
	got := nstat(t, p.Command("nstat", "-asz", "TcpExtTCPLossProbes", "TcpExtTCPTimeouts"))
	all := nstat(t, p.Command("nstat", "-asz"))
	p.Finish()
	t.Logf("the lesson's counters: %v; nstat: %v", said, got)
	if got["TcpExtTCPLossProbes"] != 2 || said["TcpExtTCPLossProbes"] != 2 {
		t.Errorf("TcpExtTCPLossProbes: nstat says %d, the lesson %d, want 2", got["TcpExtTCPLossProbes"], said["TcpExtTCPLossProbes"])
	}
	if got["TcpExtTCPTimeouts"] != 0 || said["TcpExtTCPTimeouts"] != 0 {
		t.Errorf("TcpExtTCPTimeouts: nstat says %d, the lesson %d, want 0", got["TcpExtTCPTimeouts"], said["TcpExtTCPTimeouts"])
	}
	for name, v := range said {
		if all[name] != v {
			t.Errorf("%s: the lesson said %d since the lab began, nstat -asz in the lab says %d", name, v, all[name])
		}
	}
	if n := strings.Count(js, "It was a tail loss probe (RFC 8985)"); n != 2 {
		t.Errorf("%d notes name a tail loss probe, want 2", n)
	}
}

// nstat runs cmd, an nstat command, and returns the counters it
// printed.
func nstat(t *testing.T, cmd *exec.Cmd) map[string]int64 {
	t.Helper()
	c := map[string]int64{}
	for _, line := range strings.Split(command(t, cmd), "\n") {
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

// Try this 4: run with --host, on the machine's own network, the
// client's TIME_WAIT outlives the lesson: ss -tano state time-wait
// shows it after, its timer counting down from 60 s.
func TestTryThisTimeWaitOutlivesTheLesson(t *testing.T) {
	lessontest.Tool(t, "ss")
	tryThis(t, 3, "go run ./lessons/11 --host", "a lab's TIME_WAITs go with it", "then ss -tano state time-wait",
		"timer:(timewait,…) counting down from 60 s")
	walk := walkTuple(t, lessontest.RunOK(t, lessontest.Build(t), "--host", "--no-color", "--capture=off").Stdout)
	row, ok := lessontest.SSRowOf(lessontest.SS(t, "-tano", "state", "time-wait"), walk)
	if !ok {
		t.Fatalf("ss -tano state time-wait shows no %s after the lesson", walk)
	}
	m := regexp.MustCompile(`timer:\(timewait,(\d+)(?:\.\d+)?sec`).FindStringSubmatch(row.Details)
	if m == nil {
		t.Fatalf("the client's TIME-WAIT socket: %v, want timer:(timewait,…)", row)
	}
	if left, _ := strconv.Atoi(m[1]); left <= 0 || left > 60 {
		t.Errorf("TIME-WAIT timer %ss, want at most 60 s", m[1])
	}
}

// Try this 5: without step 4's detach, every copy of the client's FIN
// is lost. ss -tino, joined to the lab, shows retrans:…/N and
// backoff:N-1; the copies go at about 205 ms (a tail loss probe), 205
// ms later (the retransmission timeout), then the timeout doubling;
// tshark times them. In the lab no root is needed.
func TestTryThisEveryFINLost(t *testing.T) {
	lessontest.Tool(t, "ss")
	lessontest.Tool(t, "tshark")
	tryThis(t, 4, "Delete step 4's detach(serverRaw) call", "--pcap FILE", "ss -tino state fin-wait-1 after the join command",
		"timer:(on,…), retrans:…/N (N copies so far)", "backoff:M", "tshark -r FILE -Y tcp.flags.fin==1",
		"about 205 ms after the FIN, is a tail loss probe", "the next, about 205 ms later, the retransmission timeout",
		"then the timeout doubles: about 420, 830, 1660 ms")
	bin := lessontest.Build(t, lessontest.Edit{Old: "\t\tif err := detach(serverRaw); err != nil {\n\t\t\treturn err\n\t\t}\n"})
	pcap := filepath.Join(lessontest.NobodyDir(t), "fin.pcapng")
	h := lessontest.Start(t, exec.Command(bin, "--no-color", "--pcap", pcap))
	h.WaitFor(regexp.MustCompile(`the client's socket: FIN_WAIT_1`))
	if h.Join() == nil || strings.Contains(h.Output(), "no socket filter: ") {
		t.Skip("no lab here, or the kernel refused the filter: no FIN is lost")
	}
	walk := walkTuple(t, h.Output())

	// The client's socket as ss shows it after each copy: copy 1 is no
	// timeout, each later one is.
	const copies = 5
	seen := map[int]bool{}
	lessontest.PollUntil(t, 15*time.Second, 10*time.Millisecond, fmt.Sprintf("retrans:1/%d", copies), func() bool {
		rows := lessontest.SSRows(command(t, h.Command("ss", "-tino", "state", "fin-wait-1")))
		row, ok := lessontest.SSRowOf(rows, walk)
		if !ok {
			t.Fatalf("ss -tino state fin-wait-1 lost the client's socket %s", walk)
		}
		line := row.String()
		total, backoff := ssField(line, `retrans:\d+/(\d+)`), ssField(line, `backoff:(\d+)`)
		if total == 0 || seen[total] {
			return false
		}
		seen[total] = true
		if !strings.Contains(line, "timer:(on,") {
			t.Errorf("after %d copies: %s, want timer:(on,…)", total, line)
		}
		if backoff != total-1 {
			t.Errorf("after %d copies ss says backoff:%d, want %d: the first copy is no timeout", total, backoff, total-1)
		}
		t.Logf("copy %d: %s", total, line)
		return total >= copies
	})
	h.Stop()

	// What the capture says, as the Try this reads it.
	out := lessontest.Tshark(t, pcap, "tcp.flags.fin==1", "frame.time_relative", "tcp.srcport")
	var times []float64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == strconv.Itoa(int(walk.Local.Port())) {
			v, _ := strconv.ParseFloat(f[0], 64)
			times = append(times, v)
		}
	}
	if len(times) < copies+1 {
		t.Fatalf("the capture holds %d FINs from the client, want the FIN and %d copies:\n%s", len(times), copies, out)
	}
	var gaps []time.Duration
	for i := 1; i <= copies; i++ {
		gaps = append(gaps, time.Duration((times[i]-times[i-1])*float64(time.Second)))
	}
	t.Logf("the FIN's copies came after %v", gaps)
	for i, g := range gaps[:2] {
		if g < 200*time.Millisecond || g > 300*time.Millisecond {
			t.Errorf("copy %d came %v after the one before, want about 205 ms", i+1, g)
		}
	}
	for i, about := range []time.Duration{420 * time.Millisecond, 830 * time.Millisecond, 1660 * time.Millisecond} {
		g := gaps[i+2]
		if r := float64(g) / float64(gaps[i+1]); r < 1.8 || r > 2.2 {
			t.Errorf("copy %d came %v after the one before, want twice %v", i+3, g, gaps[i+1])
		}
		if g < about*9/10 || g > about*11/10 {
			t.Errorf("copy %d came %v after the one before, want about %v", i+3, g, about)
		}
	}
}

func ssField(line, re string) int {
	m := regexp.MustCompile(re).FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Without CAP_NET_ADMIN the kernel refuses a socket filter on a TCP
// socket, and still takes one on a UDP socket, as docs/lessons/11.md
// says; with it, it takes both.
func TestFilterNeedsNetAdmin(t *testing.T) {
	f := []unix.SockFilter{{Code: 0x06, K: 0xffff}} // ret #0xffff: keep all
	attach := func(typ int) error {
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: 1, Filter: &f[0]})
	}
	admin := hasNetAdmin(t)
	tcp, udp := attach(unix.SOCK_STREAM), attach(unix.SOCK_DGRAM)
	t.Logf("CAP_NET_ADMIN %v: TCP %v, UDP %v", admin, tcp, udp)
	if udp != nil {
		t.Errorf("a UDP socket refused a filter: %v", udp)
	}
	switch {
	case admin && tcp != nil:
		t.Errorf("with CAP_NET_ADMIN a TCP socket refused a filter: %v", tcp)
	case !admin && tcp != syscall.EPERM:
		t.Errorf("without CAP_NET_ADMIN a TCP socket's filter: %v, want EPERM", tcp)
	}
}

// hasNetAdmin reports whether this process has CAP_NET_ADMIN.
func hasNetAdmin(t *testing.T) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
}

// Every text follows what happened: without the filters (as nobody on
// the machine's network, --host), no step text, note or line says a FIN
// was lost or sent again, and one line says why; with them (as root, or
// as nobody in the lab), the notes name the timer. As root the test
// also runs the lesson as nobody, on the host and in its lab.
func TestTextsFollowTheFilters(t *testing.T) {
	var out bytes.Buffer
	if err := lesson.Exec(context.Background(), info, lesson.Options{JSON: true, Capture: "off", Out: &out}, run); err != nil {
		t.Fatal(err)
	}
	checkTexts(t, "this run", out.String(), canFilter() == nil)
	if os.Geteuid() != 0 {
		return
	}
	bin := lessontest.Build(t) // in a directory nobody may read
	asNobody := func(args ...string) string {
		cmd := lessontest.AsNobody(exec.Command(bin, append([]string{"--json", "--capture=off"}, args...)...))
		cmd.Dir = filepath.Dir(bin)
		js, err := cmd.Output()
		if err != nil {
			t.Fatalf("the lesson as nobody %s: %v", strings.Join(args, " "), err)
		}
		return string(js)
	}
	// On the machine's network nobody may not filter a TCP socket.
	checkTexts(t, "as nobody, --host", asNobody("--host"), false)
	// In the lab nobody is root over the lab's network, and may.
	if js := asNobody(); strings.Contains(js, "a network of the lesson's own") {
		checkTexts(t, "as nobody, in the lab", js, true)
	} else {
		t.Log("no lab for nobody here: the filters in a lab are not checked")
	}
}

func checkTexts(t *testing.T, run string, js string, lossy bool) {
	t.Helper()
	// What only a run that lost a FIN may say.
	lost := []string{"filter dropped", "has attached", "takes the filter off", "takes the client's filter off",
		"second copy", "waits, on purpose", "It was a tail loss probe", "total_retrans went up"}
	refusals := 0
	var texts []string
	for _, e := range lessontest.Events(t, js) {
		if strings.HasPrefix(e.Text, "no socket filter: ") {
			refusals++
		}
		texts = append(texts, e.Text+" "+e.Note)
	}
	all := strings.Join(texts, "\n")
	switch {
	case lossy && refusals != 0:
		t.Errorf("%s: the filters worked, yet %d lines say the kernel refused one", run, refusals)
	case !lossy && refusals != 1:
		t.Errorf("%s: the kernel refused the filters; %d lines say so, want 1", run, refusals)
	}
	for _, s := range lost {
		if lossy != strings.Contains(all, s) {
			t.Errorf("%s: filters working %v, yet the texts say %q %v times", run, lossy, s, strings.Count(all, s))
		}
	}
	if !lossy && !strings.Contains(all, "the kernel refused (the kernel line says why): in this run no FIN is lost") {
		t.Errorf("%s: step 4 does not say that the kernel refused the filter", run)
	}
}
