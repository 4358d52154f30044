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
	"time"

	"tcptour/lessons/internal/lessontest"
)

// Step 5's text: a Dial that names no local port gets one from
// net.ipv4.ip_local_port_range that makes a new four-tuple, so one port
// serves connections to two servers; when every port of the range is
// taken toward one server's address and port, connect fails with
// EADDRNOTAVAIL. Checked with a range of one port, in a network
// namespace of the test's own: the test binary runs itself there.
func TestEphemeralPortPerFourTuple(t *testing.T) {
	t.Parallel()
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
		"third server again at once: EADDRNOTAVAIL",
		"third server a second later: local port 40000",
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

	// Step 5's text: on loopback a TIME_WAIT socket toward a server is
	// reused for a new connection to it once it is a second old
	// (net.ipv4.tcp_tw_reuse = 2, tcp_tw_reuse_delay 1000 ms).
	third, err := net.Listen("tcp4", "127.0.0.1:6971")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	c, err := net.Dial("tcp4", third.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := third.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// The client closes first: its end goes to TIME_WAIT once the
	// server's FIN comes.
	c.Close()
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server's Read after the client's Close: no EOF")
	}
	s.Close()
	tw := time.Now()
	dial("third server again at once", third)
	for {
		c, err := net.Dial("tcp4", third.Addr().String())
		if err == nil {
			// NOTE: left open on purpose, as above.
			fmt.Printf("third server a second later: local port %d, %v after the TIME_WAIT began\n", c.LocalAddr().(*net.TCPAddr).Port, time.Since(tw).Round(100*time.Millisecond))
			if time.Since(tw) < 900*time.Millisecond {
				t.Errorf("the TIME_WAIT port was reused after %v, before a second", time.Since(tw))
			}
			return
		}
		if !errors.Is(err, syscall.EADDRNOTAVAIL) || time.Since(tw) > 5*time.Second {
			t.Fatalf("dialing while the only port is in TIME_WAIT: %v after %v", err, time.Since(tw))
		}
		time.Sleep(100 * time.Millisecond) // NOTE: polling the kernel's own delay, not an event
	}
}
