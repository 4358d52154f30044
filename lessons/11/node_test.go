//go:build linux

package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The claims of docs/lessons/11.md about Node, checked by running Node.

// node starts a Node program from testdata and returns it and a
// reader of its output lines.
func node(t *testing.T, script string, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(lessontest.Node(t), append([]string{"testdata/" + script}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

// line reads the program's next line of output.
func line(t *testing.T, sc *bufio.Scanner) string {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("the Node program ended early: %v", sc.Err())
	}
	return sc.Text()
}

// "With Node's default, allowHalfOpen: false, Node ends its own side at
// once, so a Node server leaves CLOSE_WAIT at once": the client's FIN
// brings the server's FIN back at once, and the server's socket is not
// left in CLOSE_WAIT.
func TestNodeServerLeavesCloseWaitAtOnce(t *testing.T) {
	_, sc := node(t, "node_server_end.js")
	port := line(t, sc)
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if got := line(t, sc); got != "data hello" {
		t.Fatalf("the Node server printed %q, want its data", got)
	}
	start := time.Now()
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
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
	server := tracer.FiveTuple{Proto: "tcp", Local: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
		Remote: c.LocalAddr().(*net.TCPAddr).AddrPort()}
	if s, err := kernel.Lookup(server); err == nil && s.State == kernel.CloseWait {
		t.Errorf("the Node server's socket is in CLOSE_WAIT after its FIN")
	}
	if got := line(t, sc) + ", " + line(t, sc); got != "end, close" {
		t.Errorf("the Node server's events: %s, want end, close", got)
	}
}

// "Node's close event comes once the socket is closed for the program.
// The kernel may keep the connection after that, in TIME_WAIT on the
// side that closed first, for 60 s": a Node client that ends first
// finds its connection in TIME_WAIT after 'close'.
func TestNodeClientTimeWaitAfterClose(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, sc := node(t, "node_client_close.js", strconv.Itoa(port))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// The Node client's FIN: the Go server reads io.EOF, then closes.
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the server's Read: %v, want io.EOF", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line(t, sc))
	if len(f) != 2 || f[0] != "connect" {
		t.Fatalf("the Node client printed %q, want its port", f)
	}
	clientPort, _ := strconv.Atoi(f[1])
	if got := line(t, sc) + ", " + line(t, sc); got != "end, close" {
		t.Fatalf("the Node client's events: %s, want end, close", got)
	}
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
