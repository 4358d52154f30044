//go:build linux

package main

import (
	"bufio"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/link"
)

// The lesson says what Node does with keepalive and with a dead peer.
// These tests run Node (testdata/*.js) and check each claim against
// what Node did, in the test's own network namespace (see TestMain).

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

// Node's sockets have keepalive off, at both ends of a connection
// (SO_KEEPALIVE 0, with the kernel's times: 7200 s, 75 s, 9);
// socket.setKeepAlive(true, 1000) turns it on with a first probe after
// 1 s (TCP_KEEPIDLE 1), and Node 20's libuv sets a probe a second and
// 10 of them (TCP_KEEPINTVL 1, TCP_KEEPCNT 10). Node 20's
// http.globalAgent (keepAlive: true, keepAliveMsecs 1000) turns it on
// the same way for the sockets it opens. The test reads each socket's
// options itself, from a copy of Node's file descriptor (pidfd_getfd).
func TestNodeKeepAlive(t *testing.T) {
	t.Parallel()
	loopbackUp(t)
	node := lessontest.StartNode(t, "testdata/keepalive.js")
	node.WaitFor(regexp.MustCompile(`(?m)^ready$`))
	pidfd, err := unix.PidfdOpen(node.Pid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v: the sockets' options cannot be read here", err)
	}
	defer unix.Close(pidfd)
	want := map[string][4]int{ // SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
		"net.connect":             {0, 7200, 75, 9},
		"net.createServer":        {0, 7200, 75, 9},
		"setKeepAlive(true,1000)": {1, 1, 1, 10},
		"http.globalAgent":        {1, 1, 1, 10},
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
		on, err1 := unix.GetsockoptInt(copied, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle, err2 := unix.GetsockoptInt(copied, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		intvl, err3 := unix.GetsockoptInt(copied, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		cnt, err4 := unix.GetsockoptInt(copied, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		unix.Close(copied)
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				t.Fatalf("%s: getsockopt: %v", m[1], err)
			}
		}
		t.Logf("%s: SO_KEEPALIVE %d, TCP_KEEPIDLE %d, TCP_KEEPINTVL %d, TCP_KEEPCNT %d", m[1], on, idle, intvl, cnt)
		if w := want[m[1]]; on != w[0] || idle != w[1] || intvl != w[2] || cnt != w[3] {
			t.Errorf("%s: SO_KEEPALIVE %d, TCP_KEEPIDLE %d, TCP_KEEPINTVL %d, TCP_KEEPCNT %d, want %v", m[1], on, idle, intvl, cnt, w)
		}
	}
	node.Send("done")
	if _, err := node.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A Node client whose server resets the connection (SO_LINGER 0, then
// Close) emits 'error' with err.code 'ECONNRESET', then 'close' with
// hadError true.
func TestNodeReset(t *testing.T) {
	t.Parallel()
	loopbackUp(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	node := lessontest.StartNode(t, "testdata/dead.js", "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v\nnode: %s", err, node.Stderr())
	}
	// The client's line arrives; the server resets the connection.
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	out, err := node.Wait()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got := events(out); got != "error ECONNRESET read, close true" {
		t.Errorf("node's socket emitted %q, want error ECONNRESET, then close true", got)
	}
}

// A Node client on a link that is then cut, each way it learns of it:
//
//   - it writes: its kernel sends the data again until its retries run
//     out (net.ipv4.tcp_retries2, 2 here, at the client's end: a few
//     seconds);
//   - it has keepalive on (setKeepAlive(true, 1000)) and waits: its
//     kernel probes, and gives up after TCP_KEEPCNT probes unanswered.
//     Node sets 10, 11 s in all; the test sets 1 on Node's socket,
//     through a copy of its file descriptor (pidfd_getfd).
//
// Either way the socket emits 'error' with err.code 'ETIMEDOUT', then
// 'close' with hadError true. (Node has no TCP_USER_TIMEOUT.)
func TestNodeTimedOut(t *testing.T) {
	for _, how := range []string{"write", "keepalive"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			nodeTimedOut(t, how)
		})
	}
}

func nodeTimedOut(t *testing.T, how string) {
	l, err := link.New(link.Config{DelayToServer: time.Millisecond, DelayToClient: time.Millisecond})
	if err != nil {
		t.Skipf("no link here: %v", err)
	}
	defer l.Close()
	if _, err := l.SetSysctl("net.ipv4.tcp_retries2", "2"); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := l.InServer(func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(link.ServerAddr.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var node *lessontest.Proc
	// Started from a thread in the client's namespace, Node runs there.
	if err := l.InClient(func() error {
		node = lessontest.StartNode(t, "testdata/dead.js", link.ServerAddr.String(), strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), how)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v\nnode: %s", err, node.Stderr())
	}
	defer c.Close()
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if how == "keepalive" {
		m := node.WaitFor(regexp.MustCompile(`(?m)^connected fd (\d+)$`))
		fd, _ := strconv.Atoi(m[1])
		pidfd, err := unix.PidfdOpen(node.Pid(), 0)
		if err != nil {
			t.Skipf("pidfd_open: %v: Node's socket cannot be reached here", err)
		}
		defer unix.Close(pidfd)
		copied, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			t.Skipf("pidfd_getfd: %v: Node's socket cannot be reached here", err)
		}
		on, _ := unix.GetsockoptInt(copied, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		err = unix.SetsockoptInt(copied, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 1)
		unix.Close(copied)
		if err != nil || on != 1 {
			t.Fatalf("Node's socket: SO_KEEPALIVE %d; setting TCP_KEEPCNT: %v", on, err)
		}
	}
	if err := l.SetRules(link.Rule{Action: link.Drop, Retransmits: link.AllRetransmits}); err != nil {
		t.Fatal(err)
	}
	if how == "write" {
		node.Send("write")
	}
	start := time.Now()
	out, err := node.Wait()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	t.Logf("%s: node's socket timed out %v after the link was cut", how, time.Since(start))
	if got := events(out); got != "error ETIMEDOUT read, close true" {
		t.Errorf("%s: node's socket emitted %q, want error ETIMEDOUT, then close true", how, got)
	}
}

// events are the error and close lines dead.js printed, joined.
func events(out string) string {
	var ev []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "error ") || strings.HasPrefix(line, "close ") {
			ev = append(ev, line)
		}
	}
	return strings.Join(ev, ", ")
}
