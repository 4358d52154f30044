package main

import (
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// docs/lessons/02.md: Node's server._connections, which onconnection
// increments, also counts down when a socket closes (Go keeps no such
// count). Node is run to check it: 1 and 2 at the two 'connection'
// events, 1 after the first client has closed.
func TestNodeConnectionCount(t *testing.T) {
	out := lessontest.StartNode(t, "testdata/connections.js").End()
	if got := strings.TrimSpace(out); got != "[1,2,1]" {
		t.Errorf("server._connections: %s, want [1,2,1]", got)
	}
}
