//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The claims of docs/lessons/11.md about Node, checked by running Node.
// They run on loopback, in the network namespace the tests run in
// (lessontest.InLab brings its loopback up).

// "With Node's default, allowHalfOpen: false, Node ends its own side at
// once, so a Node server leaves CLOSE_WAIT at once": the client's FIN
// brings the server's FIN back at once, and the server's socket is not
// left in CLOSE_WAIT.
func TestNodeServerLeavesCloseWaitAtOnce(t *testing.T) {
	node := lessontest.StartNode(t, "testdata/node_server_end.js")
	port := node.Port()
	c := lessontest.Dial(t, port)
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	node.WaitFor(regexp.MustCompile(`(?m)^data hello$`))
	start := time.Now()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the client's Read after its FIN: %v, want io.EOF: the Node server's FIN", err)
	}
	took := time.Since(start)
	t.Logf("the Node server's FIN came %v after the client's", took)
	if took > 100*time.Millisecond {
		t.Errorf("the Node server's FIN came %v after the client's, want at once", took)
	}
	if s, err := kernel.Lookup(lessontest.PeerTuple(c)); err == nil && s.State == kernel.CloseWait {
		t.Errorf("the Node server's socket is in CLOSE_WAIT after its FIN")
	}
	if got, want := node.End(), fmt.Sprintf("port %d\ndata hello\nend\nclose\n", port); got != want {
		t.Errorf("the Node server printed %q, want its port, its data, then end, close: %q", got, want)
	}
}

// "Node's close event comes once the socket is closed for the program.
// The kernel may keep the connection after that, in TIME_WAIT on the
// side that closed first, for 60 s": a Node client that ends first
// finds its connection in TIME_WAIT after 'close'.
func TestNodeClientTimeWaitAfterClose(t *testing.T) {
	ln, port := lessontest.Listen(t)
	node := lessontest.StartNode(t, "testdata/node_client_close.js", strconv.Itoa(port))
	conn := lessontest.Accept(t, ln)
	// The Node client's FIN: the Go server reads io.EOF, then closes.
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the server's Read: %v, want io.EOF", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	out := node.End()
	m := regexp.MustCompile(`^connect (\d+)\nend\nclose\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the Node client printed %q, want its port, then end, close", out)
	}
	clientPort, _ := strconv.Atoi(m[1])
	// After 'close'.
	client := tracer.FiveTuple{Proto: "tcp", Local: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(clientPort)),
		Remote: ln.Addr().(*net.TCPAddr).AddrPort()}
	s, err := kernel.Lookup(client)
	if err != nil {
		t.Fatalf("the Node client's connection after 'close': %v, want TIME_WAIT", err)
	}
	if s.State != kernel.TimeWait || s.Expires <= 50*time.Second || s.Expires > 60*time.Second {
		t.Errorf("the Node client's connection after 'close': %s, expires in %v; want TIME_WAIT for up to 60 s", s.State, s.Expires)
	}
}
