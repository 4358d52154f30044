//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// Try this 1 (sudo): nc -v connects to the held server, and the trace
// shows the RST that cuts it off; after Ctrl-C the same command says
// "Connection refused".
func TestTryThisHoldNC(t *testing.T) {
	nc := lessontest.Tool(t, "nc")
	lessontest.SkipWithoutCapture(t)
	h := lessontest.Hold(t, lessontest.Build(t), "--json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nc, "-v", "127.0.0.1", h.Port())
	// nc checks its connect a moment after the handshake: before the
	// server's RST it says it succeeded, after it that the connect was
	// reset.
	out, _ := cmd.CombinedOutput() // NOTE: nc fails on the reset; its words say what happened
	if !strings.Contains(string(out), "succeeded!") && !strings.Contains(string(out), "failed: Connection reset by peer") {
		t.Errorf("nc -v says neither that it connected nor that it was reset:\n%s", out)
	}
	// nc's connection is the one that starts while the lesson holds, in
	// its last step.
	held := func(e tracer.Event) bool { return e.Step == info.Steps && e.Packet != nil }
	ev := h.WaitEvent("the RST to nc", func(e tracer.Event) bool {
		return held(e) && e.Packet.From == "server" && strings.Contains(e.Packet.Flags, "RST")
	})
	var conn int
	for _, e := range ev {
		if held(e) && e.Packet.Flags == "SYN" {
			conn = e.Conn
		}
	}
	t.Logf("nc -v: %s; RST on connection #%d", strings.TrimSpace(string(out)), conn)
	lessontest.Order(t, lessontest.OfConns(ev, conn),
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"server accept",
		"server close",
		"wire packet RST ACK server→client",
	)
	h.Stop()
	out, err := exec.CommandContext(ctx, nc, "-v", "127.0.0.1", h.Port()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Connection refused") {
		t.Errorf("nc -v after Ctrl-C: %v\n%s\nwant Connection refused", err, out)
	}
}

// Try this 2: nstat before and after the lesson: TcpExtListenOverflows
// and TcpExtListenDrops each count the SYNs dropped in step 4, once.
func TestTryThisNstat(t *testing.T) {
	lessontest.Tool(t, "nstat")
	bin := lessontest.Build(t)
	counters := "nstat -az TcpExtListenOverflows TcpExtListenDrops"
	// In a network namespace of its own, so that the counters are the
	// lesson's alone.
	cmd := lessontest.NewNetns(t).Command("sh", "-ec", counters+"\n"+bin+" --json --capture=on >\"$OUT\"\n"+counters)
	traceFile := filepath.Join(t.TempDir(), "trace.json")
	// nstat keeps a history file; one of the test's own, so that it can
	// write it whoever the namespace says it is.
	cmd.Env = append(os.Environ(), "OUT="+traceFile, "NSTAT_HISTORY="+filepath.Join(t.TempDir(), "nstat.history"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	value := regexp.MustCompile(`(?m)^(TcpExtListen\w+)\s+(\d+)`)
	got := map[string][]int{}
	for _, m := range value.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[2])
		got[m[1]] = append(got[m[1]], n)
	}
	trace, err := os.ReadFile(traceFile)
	if err != nil {
		t.Fatal(err)
	}
	// The SYNs step 4's second client sent into the full queue.
	syns := 0
	for _, e := range lessontest.Events(t, string(trace)) {
		if e.Step == 4 && e.Packet != nil && e.Packet.Flags == "SYN" && e.Conn == 4 {
			syns++
		}
	}
	if syns < 2 {
		t.Fatalf("%d SYNs of the timed-out dial in the capture, want 2 (the first, and again after 1 s)", syns)
	}
	for _, name := range []string{"TcpExtListenOverflows", "TcpExtListenDrops"} {
		v := got[name]
		if len(v) != 2 || v[1]-v[0] != syns {
			t.Errorf("%s before and after: %v, want it %d higher, one per dropped SYN\n%s", name, v, syns, out)
		}
	}
}

// Try this 3 (capture): with dialTimeout at 8 s, the SYNs of step 4
// leave at about 0, 1, 2, 3, 4, 5 and 7 s where
// net.ipv4.tcp_syn_linear_timeouts is 4, and at 0, 1, 3 and 7 s on
// kernels without that setting. The lesson runs in a network namespace
// of its own, where capture is permitted without root.
func TestTryThisSYNTimes(t *testing.T) {
	bin := lessontest.Build(t, lessontest.Edit{
		Old: "const dialTimeout = 1500 * time.Millisecond",
		New: "const dialTimeout = 8 * time.Second",
	})
	cmd := lessontest.NewNetns(t).Command("sh", "-ec", "cat /proc/sys/net/ipv4/tcp_syn_linear_timeouts >&2 || echo none >&2\n"+
		"exec "+bin+" --json --capture=on")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the lesson: %v\n%s", err, stderr.String())
	}
	var want []float64
	switch linear := strings.Fields(stderr.String())[0]; linear {
	case "none":
		want = []float64{0, 1, 3, 7}
	case "4":
		want = []float64{0, 1, 2, 3, 4, 5, 7}
	default:
		t.Skipf("net.ipv4.tcp_syn_linear_timeouts is %s here; the Try this speaks of 4", linear)
	}
	var times []time.Time
	for _, e := range lessontest.Events(t, string(out)) {
		if e.Step == 4 && e.Conn == 4 && e.Packet != nil && e.Packet.Flags == "SYN" {
			times = append(times, e.Time)
		}
	}
	var got []float64
	for _, at := range times {
		got = append(got, at.Sub(times[0]).Seconds())
	}
	if len(got) != len(want) {
		t.Fatalf("SYNs at %v s, want about %v s", got, want)
	}
	for i := range want {
		if d := got[i] - want[i]; d < -0.1 || d > 0.5 {
			t.Errorf("SYNs at %v s, want about %v s", got, want)
			break
		}
	}
}

// Try this 4: without the final dot, and with search domains in
// /etc/resolv.conf, the resolver asks the lab for the name with each of
// them appended too, and every answer is NXDOMAIN. The test runs the
// lesson in namespaces of its own, with a resolv.conf that lists two
// search domains.
func TestTryThisSearchDomains(t *testing.T) {
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
