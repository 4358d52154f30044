package main

import (
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
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

var thisRun = regexp.MustCompile(`This run, the clients' writes and reads came in this order of connections:\s+((?:#\d\s+)*#\d)\.`)

// Try this 1: the line after step 4 that starts "This run" changes from
// run to run (two runs may match; six did once, as nobody in CI, with
// other packages' tests loading both CPUs: up to twelve are run, and
// the test stops at the second order, at the second run most often).
func TestTryThisInterleaving(t *testing.T) {
	bin := lessontest.Build(t)
	orders := map[string]bool{}
	const runs = 12
	run := 1
	for ; run <= runs && len(orders) < 2; run++ {
		r := lessontest.RunOK(t, bin, "--no-color", "--capture=off")
		m := thisRun.FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Fatalf("no \"This run\" line:\n%s", r.Stdout)
		}
		order := strings.Join(strings.Fields(m[1]), " ")
		for _, id := range []string{"#1", "#2", "#3"} {
			if n := strings.Count(order, id); n != 6 {
				t.Errorf("%s appears %d times in %q, want 6 (three writes and three reads)", id, n, order)
			}
		}
		orders[order] = true
	}
	if len(orders) < 2 {
		t.Errorf("%d runs, one interleaving: %v", runs, orders)
	}
	t.Logf("%d orders in %d runs", len(orders), run-1)
}

// Try this 2: the nc command the held lesson prints, pasted into two
// terminals, is answered at once in each; its ss command lists one line
// per connection, each with its own client port.
func TestTryThisTwoNC(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	tryThis(t, 1, "--hold", "paste the nc command it prints into two terminals", "Its ss command lists one line per connection")
	h := lessontest.Hold(t, lessontest.Build(t))
	cmds := h.Commands(2)
	var sessions []*lessontest.Proc
	for _, line := range []string{"first", "second"} {
		s := lessontest.StartInteractive(t, h.Paste(cmds[0]))
		s.Send(line)
		sessions = append(sessions, s)
	}
	for i, line := range []string{"first", "second"} {
		sessions[i].WaitFor(regexp.MustCompile(`You said "` + line))
	}
	out, err := h.Paste(cmds[1]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[1], err)
	}
	rows := lessontest.SSRows(string(out))
	var peers []string
	for _, r := range rows {
		if r.State == "ESTAB" && r.Local == h.Addr.String() {
			peers = append(peers, r.Peer)
		}
	}
	if len(peers) != 2 || peers[0] == peers[1] || len(rows) != 2 {
		t.Errorf("%s lists %v, want two connections, each with its own client port", cmds[1], rows)
	}
	t.Logf("%s: %v", cmds[1], rows)
	// Ctrl-D in each: nc stays until the server closes, which Ctrl-C
	// on the lesson does; then each nc ends.
	for _, s := range sessions {
		s.CloseInput()
	}
	h.Stop()
	for i, s := range sessions {
		if _, err := s.Wait(); err != nil {
			t.Errorf("nc %d after the lesson's Ctrl-C: %v", i+1, err)
		}
	}
}

// Try this 3: the client ports in the ladders come from the range the
// lesson names after step 2, and (docs/lessons/10.md) are of the
// parity of its start: Linux tries those ports first for connect. The
// lab captures for everyone.
func TestTryThisPortRange(t *testing.T) {
	tryThis(t, 2, "after step 2 the lesson names the range they come from", "the lab's net.ipv4.ip_local_port_range",
		"the ladders at the end show each client's port")
	r := lessontest.RunOK(t, lessontest.Build(t), "--no-color")
	if !strings.Contains(r.Stdout, "a network of the lesson's own") {
		t.Skipf("no lab here, so no packets for every user: %s", r.Stderr)
	}
	m := regexp.MustCompile(`from\s+its\s+ephemeral\s+range\s+(\d+)–(\d+)\s+\(/proc/sys/net/ipv4/ip_local_port_range\)`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("the lesson names no range:\n%s", r.Stdout)
	}
	low, _ := strconv.Atoi(m[1])
	high, _ := strconv.Atoi(m[2])
	ladder := regexp.MustCompile(`(?m)^\s+client 127\.0\.0\.1:(\d+)\s+server 127\.0\.0\.1:\d+$`)
	var ports []int
	for _, m := range ladder.FindAllStringSubmatch(r.Stdout, -1) {
		p, _ := strconv.Atoi(m[1])
		ports = append(ports, p)
	}
	if len(ports) != clients {
		t.Fatalf("%d ladders with a client port, want %d:\n%s", len(ports), clients, r.Stdout)
	}
	for _, p := range ports {
		if p < low || p > high || (low%2 == 0) != (p%2 == 0) {
			t.Errorf("client ports %v: want each in %d–%d and of the same parity as %d", ports, low, high, low)
			break
		}
	}
	t.Logf("client ports %v from %d–%d", ports, low, high)
}

// The docs' last Try this: dial the three clients at the same time; the
// ids then follow whichever connection's first event came first (with
// capture, its SYN), not the order of the code.
func TestTryThisDialAtOnce(t *testing.T) {
	bin := lessontest.Build(t, lessontest.Edit{
		Old: `	for range clients {
		c, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
		<-accepted
	}
`,
		New: `	dialed := make(chan net.Conn, clients)
	failed := make(chan error, clients)
	for range clients {
		go func() {
			c, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
			if err != nil {
				failed <- err
				return
			}
			dialed <- c
		}()
	}
	for range clients {
		select {
		case c := <-dialed:
			defer c.Close()
			conns = append(conns, c)
			<-accepted
		case err := <-failed:
			return err
		}
	}
`,
	})
	// The connections' first events, in time.
	first := map[int]time.Time{}
	for _, e := range lessontest.RunJSON(t, bin) {
		if s, ok := first[e.Conn]; e.Conn != 0 && (!ok || e.Time.Before(s)) {
			first[e.Conn] = e.Time
		}
	}
	ids := []int{1, 2, 3}
	if !slices.IsSortedFunc(ids, func(a, b int) int { return first[a].Compare(first[b]) }) || len(first) != clients {
		t.Errorf("the connections' first events happened at %v: ids should follow that order", first)
	}
}

// docs/lessons/10.md: a listen on port 0 gets an odd port, as connect
// gets even ones (TestTryThisPortRange): Linux tries the two halves of
// its ephemeral range in that order.
func TestBindPrefersOddPorts(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral range to read here: %v", err)
	}
	low, _ := strconv.Atoi(strings.Fields(string(b))[0])
	for range 5 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if p := ln.Addr().(*net.TCPAddr).Port; p%2 == low%2 {
			t.Errorf("a listen on port 0 got port %d, of the parity connect prefers (the range starts at %d)", p, low)
		}
	}
}
