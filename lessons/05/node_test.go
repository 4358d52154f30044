//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// node starts a Node program of testdata with args and returns a reader
// of its stdout lines.
func node(t *testing.T, script string, args ...string) *bufio.Reader {
	t.Helper()
	cmd := exec.Command(lessontest.Node(t), append([]string{"testdata/" + script}, args...)...)
	stdout, err := cmd.StdoutPipe()
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
	return bufio.NewReader(stdout)
}

func line(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	s, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return strings.TrimSpace(s)
}

// docs/lessons/05.md: Node's client.destroy() is Go's Close. Data the
// peer sends afterwards is answered with RST: the Go server's next Read
// fails with ECONNRESET.
func TestNodeDestroyThenData(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := node(t, "client.js", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "destroy")
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if _, err := conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, `You said "I am Chuck Norris!"`); err != nil {
		t.Fatal(err)
	}
	// destroy(): Node's FIN.
	if _, err := conn.Read(buf); err != io.EOF {
		t.Fatalf("after destroy(): %v, want io.EOF", err)
	}
	if got := line(t, out); got == "" {
		t.Fatal("no port from node")
	}
	if got := line(t, out); got != "close" {
		t.Errorf("node: %q, want its 'close'", got)
	}
	// Data after the destroy: the kernel that held Node's socket
	// answers with RST.
	if _, err := io.WriteString(conn, "more"); err != nil {
		t.Fatal(err)
	}
	// The RST ends the server's socket, in CLOSE_WAIT, without its
	// Close: the kernel no longer lists it, and the next Write fails
	// with EPIPE.
	server := kernel.FiveTuple{Proto: "tcp",
		Local:  conn.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: conn.RemoteAddr().(*net.TCPAddr).AddrPort()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := kernel.WaitGone(ctx, server); err != nil {
		t.Fatalf("the Go server's socket after writing to a destroyed Node socket: %v, want it reset", err)
	}
	if _, err := io.WriteString(conn, "more"); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("a Write after the RST: %v, want EPIPE", err)
	}
}

// docs/lessons/05.md: when Node's side closed first, its 'close' event
// comes and the kernel still keeps its end in TIME_WAIT: neither Node
// nor Go sees it, the kernel (ss) does.
func TestNodeCloseLeavesTimeWait(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := node(t, "client.js", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "end")
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil { // to Node's FIN
		t.Fatal(err)
	}
	conn.Close()
	port, err := strconv.Atoi(line(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if got := line(t, out); got != "close" {
		t.Fatalf("node: %q, want its 'close'", got)
	}
	nodeEnd := kernel.FiveTuple{Proto: "tcp",
		Local:  conn.RemoteAddr().(*net.TCPAddr).AddrPort(),
		Remote: conn.LocalAddr().(*net.TCPAddr).AddrPort()}
	if int(nodeEnd.Local.Port()) != port {
		t.Fatalf("Node's port %d, the server saw %v", port, nodeEnd.Local)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := kernel.WaitState(ctx, nodeEnd, kernel.TimeWait); err != nil {
		t.Errorf("Node's end after its 'close': %v, want TIME_WAIT", err)
	}
}

// docs/lessons/05.md: with allowHalfOpen false (the default) a Node
// server answers the client's FIN with its own at once, and the ACK of
// the client's FIN rides on it: three segments close the connection.
// tcpdump counts them, as root.
func TestNodeThreeSegmentClose(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("counting segments needs tcpdump as root")
	}
	tcpdump := lessontest.Tool(t, "tcpdump")
	out := node(t, "server.js")
	port := line(t, out)
	dump := exec.Command(tcpdump, "-i", "lo", "-nn", "-l", "-S", "tcp port "+port)
	stdout, err := dump.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := dump.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	defer dump.Wait()
	defer dump.Process.Signal(os.Interrupt)
	// tcpdump says "listening on lo" once it captures.
	if _, err := bufio.NewReader(stderr).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "I am Chuck Norris!"); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	if got := line(t, out); got != "close" {
		t.Fatalf("node: %q", got)
	}
	// The segments from the client's FIN on: read until the client's
	// last ACK.
	flags := regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+)\.(\d+) > [0-9.]+: Flags \[([^\]]*)\]`)
	lines := bufio.NewReader(stdout)
	var closing []string
	for len(closing) < 3 {
		l, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("tcpdump: %v after %v", err, closing)
		}
		m := flags.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		from := "client"
		if m[2] == port {
			from = "node"
		}
		if strings.Contains(m[3], "F") || len(closing) > 0 {
			closing = append(closing, from+" "+m[3])
		}
	}
	if got, want := strings.Join(closing, ", "), "client F., node F., client ."; got != want {
		t.Errorf("the close: %s; want three segments, %s", got, want)
	}
}
