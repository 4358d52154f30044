//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// Step 5's text: a Dial that names no local port gets one from
// net.ipv4.ip_local_port_range that makes a new four-tuple, so one port
// serves connections to two servers; when every port of the range is
// taken toward one server's address and port, connect fails with
// EADDRNOTAVAIL. Checked with a range of one port, in a network
// namespace of the test's own: the test binary runs itself there.
func TestEphemeralPortPerFourTuple(t *testing.T) {
	ns := lessontest.NewNetns(t)
	ns.Sysctl("net.ipv4.ip_local_port_range", "40000 40000")
	cmd := ns.Command(os.Args[0], "-test.run=^TestEphemeralPortHelper$")
	cmd.Env = append(os.Environ(), "TCPTOUR_EPHEMERAL_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the helper in the namespace: %v\n%s", err, out)
	}
	for _, want := range []string{
		"first server: local port 40000",
		"first server again: EADDRNOTAVAIL",
		"second server: local port 40000",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestEphemeralPortHelper runs inside the namespace for
// TestEphemeralPortPerFourTuple.
func TestEphemeralPortHelper(t *testing.T) {
	if os.Getenv("TCPTOUR_EPHEMERAL_HELPER") == "" {
		t.Skip("run by TestEphemeralPortPerFourTuple")
	}
	// Fixed ports: port 0 would take the range's one port.
	var servers []net.Listener
	for _, addr := range []string{"127.0.0.1:6969", "127.0.0.1:6970"} {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		servers = append(servers, ln)
	}
	dial := func(what string, ln net.Listener) {
		c, err := net.Dial("tcp4", ln.Addr().String())
		switch {
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			fmt.Printf("%s: EADDRNOTAVAIL\n", what)
		case err != nil:
			fmt.Printf("%s: %v\n", what, err)
		default:
			// NOTE: left open on purpose: it holds its four-tuple.
			fmt.Printf("%s: local port %d\n", what, c.LocalAddr().(*net.TCPAddr).Port)
		}
	}
	dial("first server", servers[0])
	dial("first server again", servers[0])
	dial("second server", servers[1])
}
