//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// The lesson says what Node does about ports and TIME_WAIT. This test
// runs Node (testdata/ports.js) on the loopback of the test's own
// network namespace (see TestMain) and checks each claim against what
// Node did and what the kernel counted.
//
//   - Node 20's server.listen takes no reusePort option: a second
//     listen on the same port fails with EADDRINUSE. (Node 22.12 and
//     23.1 added one.)
//   - net.connect with localPort binds with SO_REUSEADDR (libuv sets
//     it on every TCP socket it binds): a second connect from the same
//     port, while the first connection is in TIME_WAIT at the client,
//     succeeds, and the kernel counts a TIME_WAIT socket recycled,
//     with tcp_tw_reuse 0.
//   - A Node server restarts on its port while a connection it closed
//     first is in TIME_WAIT at the server, as a Go server does.
func TestNode(t *testing.T) {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo: %v", err)
	}
	// No reuse of TIME_WAIT four-tuples for connect, even on loopback.
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_tw_reuse", []byte("0"), 0); err != nil {
		t.Skipf("cannot set tcp_tw_reuse here: %v", err)
	}
	before, err := kernel.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	node := lessontest.StartNode(t, "testdata/ports.js", fmt.Sprint(fixedPort))
	out, err := node.Wait()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	after, err := kernel.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("node printed %d lines, want 4:\n%s", len(lines), out)
	}
	for i, want := range []string{"reusePort EADDRINUSE", "localPort 1 ok", "localPort 2 ok"} {
		if lines[i] != want {
			t.Errorf("node: %q, want %q", lines[i], want)
		}
	}
	if d := after["TcpExtTWRecycled"] - before["TcpExtTWRecycled"]; d != 1 {
		t.Errorf("TcpExtTWRecycled +%d, want +1: the second connect from localPort took over the first's TIME_WAIT", d)
	}
	var port uint16
	if _, err := fmt.Sscanf(lines[3], "restart %d ok ok", &port); err != nil {
		t.Fatalf("node: %q, want the server restarted: %v", lines[3], err)
	}
	// The server closed first: its socket is the one in TIME_WAIT.
	tw, err := kernel.Sockets(kernel.TimeWait)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range tw {
		found = found || s.Local.Port() == port
	}
	if !found {
		t.Errorf("no TIME_WAIT socket on the server's port %d: %v", port, tw)
	}
}
