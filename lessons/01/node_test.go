//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

type nodeAddr struct {
	Address string
	Family  string
	Port    int
}

// What docs/lessons/01.md and step 2 say of Node, checked by running
// it: listen(PORT, "") binds :: at once, one socket for IPv6 and IPv4
// as Go's ":PORT" is (ss shows *:PORT); server.address() works right
// after that listen() call, as the seed's console.log relies on, but is
// null after listen(PORT, '127.0.0.1') until the 'listening' event.
func TestNodeListen(t *testing.T) {
	node := lessontest.Node(t)
	ss := lessontest.Tool(t, "ss")
	cmd := exec.Command(node, "testdata/listen.js")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close() // the '' server closes, and node exits
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("node printed nothing: %v", err)
	}
	var got struct {
		Empty, EmptyListening, IPAtOnce, IPListening *nodeAddr
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if got.Empty == nil || got.Empty.Address != "::" || got.Empty.Family != "IPv6" {
		t.Errorf("server.address() right after listen(0, ''): %+v, want :: at once", got.Empty)
	}
	if got.IPAtOnce != nil {
		t.Errorf("server.address() right after listen(0, '127.0.0.1'): %+v, want null before 'listening'", got.IPAtOnce)
	}
	if got.IPListening == nil || got.IPListening.Address != "127.0.0.1" {
		t.Errorf("server.address() at 'listening': %+v, want 127.0.0.1", got.IPListening)
	}
	if got.EmptyListening == nil {
		t.Fatal("no address for the '' server")
	}
	out, err := exec.Command(ss, "-ltn", fmt.Sprintf("( sport = :%d )", got.EmptyListening.Port)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("*:%d", got.EmptyListening.Port); !strings.Contains(string(out), want) {
		t.Errorf("ss -ltn shows Node's '' listener as\n%s\nwant %s, as Go's \":PORT\"", out, want)
	}
}
