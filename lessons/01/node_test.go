//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
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
	lessontest.Tool(t, "ss")
	node := lessontest.StartNode(t, "testdata/listen.js")
	line := node.WaitFor(regexp.MustCompile(`(?m)^\{.*\}$`))[0]
	var got struct {
		Empty, IPAtOnce, IPListening *nodeAddr
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
	port := node.Port() // the '' server's, once listening
	rows := lessontest.SS(t, "-ltn", fmt.Sprintf("( sport = :%d )", port))
	if want := fmt.Sprintf("*:%d", port); !slices.ContainsFunc(rows, func(r lessontest.SSRow) bool { return r.Local == want }) {
		t.Errorf("ss -ltn shows Node's '' listener as %v, want %s, as Go's \":PORT\"", rows, want)
	}
	node.End() // the '' server closes, and node exits
}
