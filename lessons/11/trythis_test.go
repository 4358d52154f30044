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
	"tcptour/tracer/kernel"
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

// Try this 1: with --hold, nc -N half-closes a connection to the
// forgetful server; ss with sport or dport shows both ends, CLOSE-WAIT
// and FIN-WAIT-2; Ctrl-C, and nc gets the FIN and ends.
func TestTryThisHalfClosedByNC(t *testing.T) {
	nc := lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	tryThis(t, 0, "--hold", "nc -N 127.0.0.1 PORT", "ss -tan '( sport = :PORT or dport = :PORT )'",
		"CLOSE-WAIT", "FIN-WAIT-2", "Ctrl-C the lesson", "nc gets the FIN and ends")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	port := h.Port()

	// Type a line, then Ctrl-D: the end of nc's input.
	cmd := h.Command(nc, "-N", "127.0.0.1", port)
	cmd.Stdin = strings.NewReader("hello from nc\n")
	ncProc := lessontest.Start(t, cmd)

	filter := fmt.Sprintf("( sport = :%s or dport = :%s )", port, port)
	var closeWait, finWait2 *lessontest.SSRow
	lessontest.PollUntil(t, 5*time.Second, 10*time.Millisecond, "ss to show CLOSE-WAIT and FIN-WAIT-2", func() bool {
		closeWait, finWait2 = nil, nil
		for _, r := range lessontest.SS(t, "-tan", filter) {
			switch {
			case r.State == "CLOSE-WAIT" && strings.HasSuffix(r.Local, ":"+port):
				closeWait = &r
			case r.State == "FIN-WAIT-2" && strings.HasSuffix(r.Peer, ":"+port):
				finWait2 = &r // nc's socket: the port is its peer's
			}
		}
		return closeWait != nil && finWait2 != nil
	})
	t.Logf("ss -tan '%s': %v; %v", filter, closeWait, finWait2)
	// The same filter with sport alone misses nc's socket.
	for _, r := range lessontest.SS(t, "-tan", fmt.Sprintf("( sport = :%s )", port)) {
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
// state close-wait shows the server's socket with a keepalive timer,
// and no other.
func TestTryThisCloseWaitTimer(t *testing.T) {
	lessontest.Tool(t, "ss")
	tryThis(t, 1, "pause before step 7", "ss -tano state close-wait", "timer:(keepalive,…), Go's keepalive",
		"no retransmission timer")
	listenRe := regexp.MustCompile(`server\s+LISTEN\s+tcp (\S+)`)
	out, _ := lessontest.RunStepped(t, exec.Command(lessontest.Build(t), "--step", "--no-color", "--capture=off"), func(step int, out string) {
		if step != 7 {
			return
		}
		m := listenRe.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no LISTEN line before step 7:\n%s", out)
		}
		var row *lessontest.SSRow
		for _, r := range lessontest.SS(t, "-tano", "state", "close-wait") {
			if r.Local == m[1] {
				row = &r
			}
		}
		t.Logf("ss -tano state close-wait: %v", row)
		// ss shows one timer: the retransmission or probe timer when
		// one is pending, else the keepalive.
		switch {
		case row == nil:
			t.Errorf("ss -tano state close-wait shows no socket on %s", m[1])
		case !strings.Contains(row.Details, "timer:(keepalive,"):
			t.Errorf("the server's CLOSE-WAIT socket: %v, want timer:(keepalive,…)", row)
		}
	})
	if !strings.Contains(out, "Recap") {
		t.Errorf("the lesson on a terminal did not finish:\n%s", out)
	}
}

// Try this 3: after the lesson, ss -tano state time-wait still shows
// the client's socket, its timer counting down from 60 s.
func TestTryThisTimeWaitOutlivesTheLesson(t *testing.T) {
	lessontest.Tool(t, "ss")
	tryThis(t, 2, "After the lesson, ss -tano state time-wait", "timer:(timewait,…) counting down from 60 s")
	walk := walkTuple(t, lessontest.RunOK(t, lessontest.Build(t), "--no-color", "--capture=off").Stdout)
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

// Try this 4: without step 4's detach, every copy of the client's FIN
// is lost. ss -tino shows retrans:1/N and backoff:M; the copies go at
// about 205 ms (a tail loss probe), 205 ms later (the retransmission
// timeout), then the timeout doubling; tshark times them.
func TestTryThisEveryFINLost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("this Try this runs as root: the filter needs CAP_NET_ADMIN, --pcap needs CAP_NET_RAW")
	}
	lessontest.Tool(t, "ss")
	lessontest.Tool(t, "tshark")
	tryThis(t, 3, "delete step 4's detach(serverRaw) call", "--pcap FILE", "ss -tino state fin-wait-1",
		"timer:(on,…), retrans:…/N (N copies so far)", "backoff:M", "tshark -r FILE -Y tcp.flags.fin==1",
		"about 205 ms after the FIN, is a tail loss probe", "the next, about 205 ms later, the retransmission timeout",
		"then the timeout doubles: about 420, 830, 1660 ms")
	bin := lessontest.Build(t, lessontest.Edit{Old: "\t\tif err := detach(serverRaw); err != nil {\n\t\t\treturn err\n\t\t}\n"})
	pcap := filepath.Join(t.TempDir(), "fin.pcapng")
	h := lessontest.Start(t, exec.Command(bin, "--no-color", "--pcap", pcap))
	h.WaitFor(regexp.MustCompile(`the client's socket: FIN_WAIT_1`))
	walk := walkTuple(t, h.Output())

	// The client's socket as ss shows it, and as TCP_INFO does, after
	// each copy: copy 1 is no timeout, each later one is.
	const copies = 5
	seen := map[int]bool{}
	lessontest.PollUntil(t, 15*time.Second, 10*time.Millisecond, fmt.Sprintf("retrans:1/%d", copies), func() bool {
		row, ok := lessontest.SSRowOf(lessontest.SS(t, "-tino", "state", "fin-wait-1"), walk)
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
		if s, err := kernel.Lookup(walk); err == nil && s.Info != nil && kernel.CountsTimeouts() &&
			int(s.Info.TotalRTO) != int(s.Info.TotalRetrans)-1 {
			t.Errorf("after %d copies TCP_INFO says total_retrans %d, total_rto %d: want one copy more than timeouts",
				total, s.Info.TotalRetrans, s.Info.TotalRTO)
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

// The kernel's own counters agree with the notes: run in a network
// namespace of its own, where nothing else counts, the lesson's two
// lost FINs make two loss probes and no retransmission timeout.
func TestFINResendsAreLossProbes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace of its own, and socket filters")
	}
	lessontest.Tool(t, "nstat")
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.json")
	cmd := lessontest.NewNetns(t).Command("sh", "-c",
		`"$0" --json --capture=off </dev/null >"$1" && nstat -az TcpExtTCPLossProbes TcpExtTCPTimeouts`,
		lessontest.Build(t), trace)
	cmd.Env = append(os.Environ(), "NSTAT_HISTORY="+filepath.Join(dir, "nstat.history"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the lesson in a namespace of its own: %v\n%s", err, out)
	}
	t.Logf("nstat:\n%s", out)
	if n := nstatValue(string(out), "TcpExtTCPLossProbes"); n != 2 {
		t.Errorf("TcpExtTCPLossProbes %d, want 2", n)
	}
	if n := nstatValue(string(out), "TcpExtTCPTimeouts"); n != 0 {
		t.Errorf("TcpExtTCPTimeouts %d, want 0", n)
	}
	js, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(js, []byte("It was a tail loss probe (RFC 8985)")); n != 2 {
		t.Errorf("%d notes name a tail loss probe, want 2", n)
	}
}

func nstatValue(out, name string) int {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
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

// Every text follows what happened: without the filters (as nobody),
// no step text, note or line says a FIN was lost or sent again, and
// one line says why; with them, the notes name the timer. As root the
// test also runs the lesson as nobody.
func TestTextsFollowTheFilters(t *testing.T) {
	var out bytes.Buffer
	if err := lesson.Exec(context.Background(), info, lesson.Options{JSON: true, Capture: "off", Out: &out}, run); err != nil {
		t.Fatal(err)
	}
	checkTexts(t, "this run", out.String(), canFilter() == nil)
	if os.Geteuid() != 0 {
		return
	}
	bin := lessontest.Build(t) // in a directory nobody may enter
	cmd := lessontest.AsNobody(exec.Command(bin, "--json", "--capture=off"))
	cmd.Dir = filepath.Dir(bin)
	js, err := cmd.Output()
	if err != nil {
		t.Fatalf("the lesson as nobody: %v", err)
	}
	checkTexts(t, "as nobody", string(js), false)
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
