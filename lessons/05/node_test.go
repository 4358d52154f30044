//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
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

// docs/lessons/05.md: Node's client.destroy() is Go's Close. Data the
// peer sends afterwards is answered with RST: the Go server's next Read
// fails with ECONNRESET.
func TestNodeDestroyThenData(t *testing.T) {
	ln, port := lessontest.Listen(t)
	node := lessontest.StartNode(t, "testdata/client.js", strconv.Itoa(port), "destroy")
	conn := lessontest.Accept(t, ln)
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
	if got, want := node.End(), fmt.Sprintf("port %d\nclose\n", conn.RemoteAddr().(*net.TCPAddr).Port); got != want {
		t.Errorf("node: %q, want its port and its 'close', %q", got, want)
	}
	// Data after the destroy: the kernel that held Node's socket
	// answers with RST.
	if _, err := io.WriteString(conn, "more"); err != nil {
		t.Fatal(err)
	}
	// The RST ends the server's socket, in CLOSE_WAIT, without its
	// Close: the kernel no longer lists it, and the next Write fails
	// with EPIPE.
	lessontest.WaitGone(t, lessontest.Tuple(conn))
	if _, err := io.WriteString(conn, "more"); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("a Write after the RST: %v, want EPIPE", err)
	}
}

// docs/lessons/05.md: when Node's side closed first, its 'close' event
// comes and the kernel still keeps its end in TIME_WAIT: neither Node
// nor Go sees it, the kernel (ss) does.
func TestNodeCloseLeavesTimeWait(t *testing.T) {
	ln, port := lessontest.Listen(t)
	node := lessontest.StartNode(t, "testdata/client.js", strconv.Itoa(port), "end")
	conn := lessontest.Accept(t, ln)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil { // to Node's FIN
		t.Fatal(err)
	}
	conn.Close()
	nodeEnd := lessontest.PeerTuple(conn)
	if got, want := node.End(), fmt.Sprintf("port %d\nclose\n", nodeEnd.Local.Port()); got != want {
		t.Fatalf("node: %q, want its port, as the server saw it, and its 'close', %q", got, want)
	}
	lessontest.WaitState(t, nodeEnd, kernel.TimeWait) // Node's end after its 'close'
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
	node := lessontest.StartNode(t, "testdata/server.js")
	port := strconv.Itoa(node.Port())
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
	lessontest.HalfClose(t, lessontest.Dial(t, node.Port()), "I am Chuck Norris!")
	if got, want := node.End(), "port "+port+"\nclose\n"; got != want {
		t.Fatalf("node: %q, want %q", got, want)
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
