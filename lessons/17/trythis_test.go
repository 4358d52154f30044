package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// The first Try this's tshark command, on the lesson's pcapng file:
// the FINs seen at the client come in pairs, one pair a connection;
// the first of each pair is the client's, but for the connection to
// 8003, where the server closes first.
// (Called by TestLessonOnTheWire, on its run's file.)
func tryThisFINs(t *testing.T, pcap string) {
	t.Helper()
	out := lessontest.Tshark(t, pcap, `frame.interface_name == "client" && tcp.flags.fin == 1`, "tcp.srcport", "tcp.dstport")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Steps 1 to 6: 4, 1, 1, 1, 3 and 16 connections.
	if want := 2 * (4 + 1 + 1 + 1 + 3 + spread); len(lines) != want {
		t.Fatalf("tshark printed %d FINs, want %d:\n%s", len(lines), want, out)
	}
	serverFirst := 0
	for i := 0; i < len(lines); i += 2 {
		first, second := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(first) != 2 || len(second) != 2 || first[0] != second[1] || first[1] != second[0] {
			t.Fatalf("FINs %d and %d are not a connection's pair: %q %q", i+1, i+2, lines[i], lines[i+1])
		}
		switch {
		case first[0] == closerPort:
			serverFirst++
		case first[1] != firstPort && first[1] != secondPort && first[1] != sharedPort:
			t.Errorf("FIN %d: %q: want the client's first, to port 8001, 8002 or 8004", i+1, lines[i])
		}
	}
	if serverFirst != 1 {
		t.Errorf("%d connections with the server's FIN first, want 1 (to 8003)", serverFirst)
	}
}

// The fifth Try this's tshark command, on the lesson's pcapng file: one
// SYN a connection at the client's end; on the two four-tuples that
// have two (steps 3 and 5), the second SYN's raw sequence number is the
// first's + 65558: the old connection's SYN, 19 bytes and FIN, and the
// 65537 that tcp_twsk_unique adds (65535 + 2).
// (Called by TestLessonOnTheWire, on its run's file.)
func tryThisSYNs(t *testing.T, pcap string) {
	t.Helper()
	out := lessontest.Tshark(t, pcap, `frame.interface_name == "client" && tcp.flags.syn == 1 && tcp.flags.ack == 0`, "tcp.srcport", "tcp.dstport", "tcp.seq_raw")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if want := 4 + 1 + 1 + 1 + 3 + spread; len(lines) != want {
		t.Fatalf("tshark printed %d SYNs, want %d:\n%s", len(lines), want, out)
	}
	first := map[string]uint32{}
	twice := 0
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("tshark: %q: want srcport, dstport, seq_raw", line)
		}
		seq, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			t.Fatalf("tshark: %q: %v", line, err)
		}
		tuple := f[0] + " " + f[1]
		old, ok := first[tuple]
		if !ok {
			first[tuple] = uint32(seq)
			continue
		}
		twice++
		if d := uint32(seq) - old; d != 65558 {
			t.Errorf("the SYNs from %s to %s: %d, then %d: %d apart, want 65558", f[0], f[1], old, seq, d)
		}
		if f[1] != firstPort && f[0] != fmt.Sprint(fixedPort+1) {
			t.Errorf("two SYNs from %s to %s: want step 3's, to %s, or step 5's, from %d", f[0], f[1], firstPort, fixedPort+1)
		}
	}
	if twice != 2 {
		t.Errorf("%d four-tuples with two SYNs, want 2 (steps 3 and 5):\n%s", twice, out)
	}
}

// The second Try this: with one port, step 1 makes one connection
// before Dial fails, and step 2's connection gets port 40000 too.
func TestTryThisOnePort(t *testing.T) {
	lessontest.ParallelUnlessRoot(t) // a program of its own, in a lab of its own
	bin := lessontest.Build(t, lessontest.Edit{Old: `narrowRange  = "40000 40003"`, New: `narrowRange  = "40000 40000"`})
	ev := lessontest.RunJSON(t, bin)
	lessontest.Order(t, ev,
		"client note Dial failed after 1 connection: EADDRNOTAVAIL, with 1 socket in TIME_WAIT here",
		"client note port 40000: ESTABLISHED to 192.0.2.2:8002; TIME_WAIT to 192.0.2.2:8001",
		"client note port 40000 again, towards the first listener: TcpExtTWRecycled +1",
	)
}

// The fourth Try this's jq command: TcpExtTW moves at the client in
// every step but 4, where it moves at the server.
func TestTryThisCounters(t *testing.T) {
	lessontest.ParallelUnlessRoot(t) // a program of its own, in a lab of its own
	out := lessontest.JQ(t, `select(.phase == "counter") | "\(.step) \(.counter.at) \(.counter.name) +\(.counter.delta)"`)
	tw := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[2] == "TcpExtTW" {
			tw[f[0]+" "+f[1]] = true
		}
	}
	want := map[string]bool{"1 client": true, "2 client": true, "3 client": true, "4 server": true, "5 client": true, "6 client": true}
	if len(tw) != len(want) {
		t.Errorf("TcpExtTW moved at %v, want %v\n%s", tw, want, out)
	}
	for k := range want {
		if !tw[k] {
			t.Errorf("TcpExtTW did not move at step %s\n%s", k, out)
		}
	}
}

// The third Try this: at the pause before step 2, ss in the client's
// namespace lists step 1's four TIME_WAIT sockets, ports 40000 to
// 40003, all to 192.0.2.2:8001, with their timers; in the server's,
// none.
func TestTryThisSS(t *testing.T) {
	lessontest.ParallelUnlessRoot(t) // a program of its own, in a lab of its own
	lessontest.Tool(t, "ss")
	lessontest.Tool(t, "nsenter")
	p := lessontest.StartStepped(t, lessontest.Build(t))
	p.WaitPrompt(1)
	p.Enter()
	p.WaitPrompt(2)
	joins := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)join the (client|server): (.+)$`).FindAllStringSubmatch(p.Output(), -1) {
		joins[m[1]] = strings.TrimSpace(m[2])
	}
	if joins["client"] == "" || joins["server"] == "" {
		t.Fatalf("no join commands in the output:\n%s", p.Output())
	}
	ss := func(end string) []string {
		out, err := exec.Command("sh", "-c", joins[end]+" ss -tanoH state time-wait").CombinedOutput()
		if err != nil {
			t.Fatalf("%s ss: %v\n%s", joins[end], err, out)
		}
		var rows []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				rows = append(rows, line)
			}
		}
		return rows
	}
	client := ss("client")
	ports := map[string]bool{}
	for _, row := range client {
		f := strings.Fields(row)
		if len(f) < 5 || f[3] != "192.0.2.2:8001" || !strings.HasPrefix(f[4], "timer:(timewait,") {
			t.Errorf("ss at the client: %q: want a TIME_WAIT socket to 192.0.2.2:8001 with its timer", row)
			continue
		}
		ports[strings.TrimPrefix(f[2], "192.0.2.1:")] = true
	}
	if len(client) != 4 || !ports["40000"] || !ports["40001"] || !ports["40002"] || !ports["40003"] {
		t.Errorf("ss at the client: %q, want ports 40000 to 40003", client)
	}
	if server := ss("server"); len(server) != 0 {
		t.Errorf("ss at the server: %q, want no TIME_WAIT socket", server)
	}
	t.Logf("ss at the client:\n%s", strings.Join(client, "\n"))
	p.Finish()
}
