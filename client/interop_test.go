package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tcptour/tracer/wire"
)

// TestNodeServer runs the Go client against the seed's own Node.js
// server (testdata/server.js): the client gets the seed's answer, and
// the Node server sees the whole conversation.
func TestNodeServer(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/server.js")
	cmd.Env = append(cmd.Environ(), "HOST=127.0.0.1", "PORT=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The Node server runs until killed; its output arrives line by line.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		// NOTE: ignoring the rest once killed.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var nodeOut strings.Builder
	// next returns the next line the Node server prints that starts
	// with prefix, the lines before it kept in nodeOut.
	next := func(prefix string) string {
		t.Helper()
		for line := range lines {
			nodeOut.WriteString(line + "\n")
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
		t.Fatalf("node testdata/server.js printed no %q line:\n%s%s", prefix, &nodeOut, &stderr)
		return ""
	}
	defer func() {
		cmd.Process.Kill()
		for range lines {
		}
		cmd.Wait()
	}()

	addr := strings.TrimPrefix(next("Server listening on "), "Server listening on ")
	var out, errOut strings.Builder
	cfg := config{addr: addr, msg: "I am Chuck Norris!", timeout: 10 * time.Second, capture: wire.ModeOff}
	if err := run(ctx, cfg, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	if want := []string{"CONNECTED TO: " + addr + "\n", "DATA: You said \"I am Chuck Norris!\"\n", "Connection closed\n"}; !inOrder(out.String(), want...) {
		t.Errorf("want %q in:\n%s", want, &out)
	}
	next("CONNECTED: 127.0.0.1:")
	if got, want := next("DATA "), "DATA 127.0.0.1: I am Chuck Norris!"; got != want {
		t.Errorf("the Node server printed %q, want %q", got, want)
	}
	next("CLOSED: 127.0.0.1 ")
}
