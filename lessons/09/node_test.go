//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
)

// The lesson and docs/lessons/09.md say what Node does when accept or
// connect fails. These tests run Node (testdata/*.js) and check each
// claim against what Node did.

// EMFILE on accept: Node does not emit the server's 'error' (nor
// 'connection'). libuv keeps a spare descriptor; when accept fails with
// EMFILE it closes the spare, accepts the waiting connections and
// closes each at once, and opens the spare again. The client's connect
// succeeded; it reads the server's FIN, and its bytes get an RST.
func TestNodeAcceptEMFILE(t *testing.T) {
	node := lessontest.StartNode(t, "testdata/emfile.js")
	port := node.Port()
	wire := lessontest.SniffIfPermitted(t, port)
	node.SetFileLimit(256)
	node.Send("fill")
	node.WaitFor(regexp.MustCompile(`(?m)^full after \d+ more files: EMFILE$`))

	c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("connect to the Node server with no descriptor free: %v, want success (the kernel does the handshake)", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("the client's first Read: %v, want io.EOF (the server's FIN)", err)
	}
	if _, err := io.WriteString(c, "hello?"); err != nil {
		t.Fatalf("the client's Write: %v", err)
	}
	lessontest.WaitGone(t, lessontest.Tuple(c)) // reset
	out := node.End()
	if strings.Contains(out, "connection") || strings.Contains(out, "server error") {
		t.Errorf("Node reported the connection or an error:\n%s", out)
	}
	if wire == nil {
		return
	}
	var got []string
	for _, s := range wire.Segments() {
		from := "client"
		if s.Src.Port() == uint16(port) {
			from = "server"
		}
		if !(s.Flags == capture.ACK && s.Len == 0) {
			got = append(got, fmt.Sprintf("%s %s len %d", from, s.Flags, s.Len))
		}
	}
	want := []string{"client SYN len 0", "server SYN ACK len 0", "server FIN ACK len 0", "client PSH ACK len 6", "server RST len 0"}
	if !slices.Equal(got, want) {
		t.Errorf("segments other than bare ACKs: %q, want %q", got, want)
	}
}

// A Node client's connect refused, reset, or to a name that does not
// exist ends in the socket's 'error' event, with err.code ECONNREFUSED,
// ECONNRESET or ENOTFOUND. A connect that gets no answer has no timeout
// of Node's own: socket.setTimeout only emits 'timeout', and the socket
// is still connecting.
func TestNodeClientErrors(t *testing.T) {
	// A port nobody listens on any more.
	gone, refused := lessontest.Listen(t)
	gone.Close()

	// A server that resets its connection once the client has
	// connected, as step 2's does.
	resetter, resetPort := lessontest.Listen(t)
	resetOnce := func(node *lessontest.Proc) {
		c := lessontest.Accept(t, resetter)
		node.WaitFor(regexp.MustCompile(`(?m)^connect$`))
		c.SetLinger(0) // then Close sends RST
		c.Close()
	}

	dns, err := lab.Start("127.0.0.1:0", lab.Names)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()

	// A listener whose queue is full, as in step 4.
	full := fullListener(t)

	for _, c := range []struct {
		name string
		args []string
		want []string
		then func(*lessontest.Proc)
	}{
		// The recap: code and syscall always, address and port for a
		// failed connect, hostname for a failed lookup.
		{"refused", []string{fmt.Sprint(refused), "127.0.0.1"}, []string{"error ECONNREFUSED connect address port", "close"}, nil},
		{"reset", []string{fmt.Sprint(resetPort), "127.0.0.1"}, []string{"connect", "error ECONNRESET read", "close"}, resetOnce},
		{"nxdomain", []string{"6969", "nobody.tcptour.test", "--dns", fmt.Sprint(dns.Addr().Port())}, []string{"error ENOTFOUND queryA hostname", "close"}, nil},
		{"no answer", []string{fmt.Sprint(full.Port()), full.Addr().String(), "--timeout", "300"}, []string{"timeout, connecting true, destroyed false", "close"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			node := lessontest.StartNode(t, "testdata/connect.js", c.args...)
			if c.then != nil {
				c.then(node)
			}
			got := strings.Split(strings.TrimSpace(node.End()), "\n")
			if !slices.Equal(got, c.want) {
				t.Errorf("the Node client's events: %q, want %q", got, c.want)
			}
		})
	}
}

// fullListener listens with a backlog of 0 and fills the queue with one
// connection that is never accepted: new SYNs get no answer.
func fullListener(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "full")
	t.Cleanup(func() { f.Close() })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	lessontest.Dial(t, int(addr.Port())) // the filler
	lessontest.WaitRecvQ(t, kernel.FiveTuple{Proto: "tcp", Local: addr}, 1)
	return addr
}

// Step 6: Node's server.close() stops accepting (a new connect is
// refused) and its 'close' event comes only once its open connections
// have ended.
func TestNodeServerClose(t *testing.T) {
	node := lessontest.StartNode(t, "testdata/close.js")
	port := node.Port()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	node.WaitFor(regexp.MustCompile(`(?m)^connection$`))
	node.Send("close")
	node.WaitFor(regexp.MustCompile(`(?m)^close called$`))
	if c2, err := net.Dial("tcp4", addr); err == nil {
		c2.Close()
		t.Error("a connect after server.close() succeeded, want it refused")
	} else if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("a connect after server.close(): %v, want ECONNREFUSED", err)
	}
	if slices.Contains(node.Lines("server close"), "server close") {
		t.Error("the server's 'close' came while a connection was open")
	}
	// The client's FIN: the Node socket ends its side too (allowHalfOpen
	// false) and is destroyed, and the server, with no connection left,
	// emits 'close' (in this order or the other with the socket's own
	// 'close' event: both follow its end).
	c.Close()
	node.WaitFor(regexp.MustCompile(`(?m)^server close$`))
}
