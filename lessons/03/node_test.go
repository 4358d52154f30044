package main

import (
	"fmt"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// Step 5 and the recap: a Node socket with allowHalfOpen false (the
// default) calls end() itself at the peer's FIN, right after 'end', and
// 'close' comes after that; the Go client reads io.EOF: Node's FIN.
// Node is run to check it.
func TestNodeEndThenClose(t *testing.T) {
	node := lessontest.StartNode(t, "testdata/end.js")
	port := node.Port()
	// The client's FIN; Node answers with its own.
	if answer := lessontest.HalfClose(t, lessontest.Dial(t, port), "I am Chuck Norris!"); answer != "" {
		t.Errorf("the client read %q after its FIN; want io.EOF, Node's FIN", answer)
	}
	want := fmt.Sprintf("port %d\n%s\n", port, `["'data'","'end'","end()","'finish'","'close'"]`)
	if got := node.End(); got != want {
		t.Errorf("Node's events: %q, want %q", got, want)
	}
}
