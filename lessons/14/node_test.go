//go:build linux

package main

import (
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// The lesson says what Node does about Nagle's algorithm. These tests
// run Node (testdata/*.js) and check each claim against what Node did,
// on the loopback of the test's own network namespace (see TestMain).

// loopbackUp brings up the loopback of the test's network namespace: a
// new namespace's starts down.
func loopbackUp(t *testing.T) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo: %v", err)
	}
}

// Node's net.Socket leaves Nagle on (TCP_NODELAY 0), at both ends of a
// connection; socket.setNoDelay(true), or with no argument, the noDelay option
// of net.connect and of net.createServer turn it off; the http module
// turns it off at both ends. The test reads each socket's TCP_NODELAY
// itself, from a copy of Node's file descriptor (pidfd_getfd).
func TestNodeNoDelay(t *testing.T) {
	loopbackUp(t)
	node := lessontest.StartNode(t, "testdata/nodelay.js")
	node.WaitFor(regexp.MustCompile(`(?m)^ready$`))
	pidfd, err := unix.PidfdOpen(node.Pid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v: the sockets' options cannot be read here", err)
	}
	defer unix.Close(pidfd)
	want := map[string]int{
		"net.connect":              0,
		"net.createServer":         0,
		"setNoDelay()":             1,
		"setNoDelay(true)":         1,
		"net.connect-noDelay":      1,
		"net.createServer-noDelay": 1,
		"http.createServer":        1,
		"http.request":             1,
	}
	lines := regexp.MustCompile(`(?m)^socket (\S+) fd (\d+)$`).FindAllStringSubmatch(node.Output(), -1)
	if len(lines) != len(want) {
		t.Fatalf("node reported %d sockets, want %d:\n%s", len(lines), len(want), node.Output())
	}
	for _, m := range lines {
		fd, _ := strconv.Atoi(m[2])
		copied, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			t.Skipf("pidfd_getfd %s fd %d: %v: the sockets' options cannot be read here", m[1], fd, err)
		}
		got, err := unix.GetsockoptInt(copied, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		unix.Close(copied)
		if err != nil {
			t.Fatalf("%s: getsockopt TCP_NODELAY: %v", m[1], err)
		}
		if w, ok := want[m[1]]; !ok || got != w {
			t.Errorf("%s: TCP_NODELAY %d, want %d", m[1], got, w)
		}
	}
	node.Send("done")
	if _, err := node.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Node's client, as the lesson's: a length and the text in two writes,
// four times, to the lesson's echo server on loopback. With Node's
// default (Nagle on) a message's text waits for the ACK of its length:
// the server's kernel delays that ACK (a delayed-ACK timeout, counted),
// unless it acknowledges at once, as it does at times (out of its
// interactive mode), when the text follows in microseconds (on loopback
// a round trip is microseconds). So of the three messages after the
// first, at least one stalls, each stall comes with a delayed ACK, and
// every text comes either at once or a delayed-ACK timeout late. After
// setNoDelay(true), every text comes with its length.
func TestNodeTwoWrites(t *testing.T) {
	loopbackUp(t)
	for _, c := range []struct {
		arg   string
		stall bool
	}{
		{"default", true},
		{"nodelay", false},
	} {
		t.Run(c.arg, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			before, err := kernel.ReadCounters()
			if err != nil {
				t.Fatal(err)
			}
			node := lessontest.StartNode(t, "testdata/twowrites.js", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), c.arg)
			// Should Node fail to connect, the test fails rather
			// than waits.
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
			conn, err := ln.Accept()
			if err != nil {
				t.Fatalf("accept: %v\nnode: %s", err, node.Stderr())
			}
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			got := make(chan arrival, 4)
			if err := echo(conn, got); err != nil {
				t.Fatal(err)
			}
			if out, err := node.Wait(); err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			after, err := kernel.ReadCounters()
			if err != nil {
				t.Fatal(err)
			}
			<-got // the first message: the server's kernel ACKs at once (quick-ACK mode)
			stalls := 0
			var gaps []time.Duration
			for range 3 {
				a := <-got
				gap := a.text.Sub(a.length)
				gaps = append(gaps, gap)
				switch {
				case gap >= delayedACK-5*time.Millisecond:
					stalls++
				case gap >= 5*time.Millisecond:
					t.Errorf("a text came %v after its length: neither at once nor a delayed-ACK timeout (%v) late", gap, delayedACK)
				}
			}
			delacks := after["TcpExtDelayedACKs"] - before["TcpExtDelayedACKs"]
			t.Logf("messages 2 to 4: each text came %v after its length; delayed ACKs %d", gaps, delacks)
			if c.stall && (stalls == 0 || delacks < int64(stalls)) {
				t.Errorf("with Node's default, %d of 3 texts waited a delayed-ACK timeout, with %d delayed ACKs: want at least one, each with its delayed ACK", stalls, delacks)
			}
			if !c.stall && stalls > 0 {
				t.Errorf("after setNoDelay(true), %d texts waited for an ACK: want each with its length", stalls)
			}
		})
	}
}
