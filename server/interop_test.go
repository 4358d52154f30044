package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// lookPath returns the path of an outside program a test talks to, or
// skips the test, saying why.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not on PATH: %v", name, err)
	}
	return path
}

// TestNodeClient runs the seed's own Node.js client (testdata/client.js)
// against the Go server: both print what the seed's programs print.
func TestNodeClient(t *testing.T) {
	node := lookPath(t, "node")
	r := start(t, config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/client.js")
	cmd.Env = append(cmd.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", r.addr.Port()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node testdata/client.js: %v\n%s", err, out)
	}
	want := fmt.Sprintf("CONNECTED TO: 127.0.0.1:%d\nDATA: You said \"I am Chuck Norris!\"\nConnection closed\n", r.addr.Port())
	if string(out) != want {
		t.Errorf("the Node client printed:\n%s\nwant:\n%s", out, want)
	}
	r.out.waitFor(t, "CLOSED: 127.0.0.1 ")
	if s := r.out.String(); !inOrder(s, "CONNECTED: 127.0.0.1:", ": I am Chuck Norris!\n", "EOF", "CLOSED: 127.0.0.1 ") {
		t.Errorf("the server's output lacks the conversation:\n%s", s)
	}
}

// TestNetcat talks to the server with nc, as a learner would: nc sends
// a line, its newline included, and the answer keeps it.
func TestNetcat(t *testing.T) {
	nc := lookPath(t, "nc")
	// -N: shut down the sending half at the end of stdin, so the server
	// reads EOF and closes. OpenBSD's nc has it; others differ.
	if help, _ := exec.Command(nc, "-h").CombinedOutput(); !strings.Contains(string(help), "-N") {
		t.Skipf("%s has no -N flag (it is not OpenBSD netcat)", nc)
	}
	r := start(t, config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nc, "-N", "127.0.0.1", fmt.Sprint(r.addr.Port()))
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v\n%s", err, out)
	}
	if want := "You said \"hello\n\""; string(out) != want {
		t.Errorf("nc printed %q, want %q", out, want)
	}
	r.out.waitFor(t, "CLOSED: 127.0.0.1 ")
	if s := r.out.String(); !inOrder(s, "CONNECTED: ", ": hello\n", "CLOSED: ") || strings.Contains(s, "hello\n\n") {
		t.Errorf("the server's output lacks the conversation, or has a blank line:\n%s", s)
	}
}
