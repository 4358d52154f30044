package main

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
)

// Step 5 and the recap: a Node socket with allowHalfOpen false (the
// default) calls end() itself at the peer's FIN, right after 'end', and
// 'close' comes after that; the Go client reads io.EOF: Node's FIN.
// Node is run to check it.
func TestNodeEndThenClose(t *testing.T) {
	node := lessontest.Node(t)
	cmd := exec.Command(node, "testdata/end.js")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	out := bufio.NewReader(stdout)
	port, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", "127.0.0.1:"+strings.TrimSpace(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "I am Chuck Norris!"); err != nil {
		t.Fatal(err)
	}
	// The client's FIN; Node answers with its own.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 16)); err != io.EOF {
		t.Errorf("the client's Read after its FIN: %d, %v; want io.EOF, Node's FIN", n, err)
	}
	log, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(log), `["'data'","'end'","end()","'finish'","'close'"]`; got != want {
		t.Errorf("Node's events: %s, want %s", got, want)
	}
}
