//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// nodeChunks runs testdata/chunks.js, lets send write to it, and
// returns the sizes of Node's 'data' chunks.
func nodeChunks(t *testing.T, paused bool, send func(c *net.TCPConn, resume func())) []int {
	t.Helper()
	node := lessontest.Node(t)
	args := []string{"testdata/chunks.js"}
	if paused {
		args = append(args, "paused")
	}
	cmd := exec.Command(node, args...)
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
	defer stdin.Close()
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
	send(c.(*net.TCPConn), func() { io.WriteString(stdin, "go\n") })
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	if err := json.Unmarshal([]byte(line), &sizes); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	return sizes
}

// docs/lessons/04.md: Node's 'data' event, like Read, hands over a chunk
// of the stream and keeps no message boundaries. Three writes that have
// all arrived come out as one 'data' of 18 bytes; one write of 1 MiB
// comes out as many.
func TestNodeDataChunks(t *testing.T) {
	sizes := nodeChunks(t, true, func(c *net.TCPConn, resume func()) {
		for _, part := range []string{"I am ", "Chuck ", "Norris!"} {
			if _, err := io.WriteString(c, part); err != nil {
				t.Fatal(err)
			}
		}
		// Wait until Node's kernel holds all 18 bytes, unread.
		node := kernel.FiveTuple{Proto: "tcp", Local: c.RemoteAddr().(*net.TCPAddr).AddrPort(), Remote: c.LocalAddr().(*net.TCPAddr).AddrPort()}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := kernel.Wait(ctx, node, "18 bytes unread", func(s kernel.Socket) bool { return s.RecvQ == 18 }); err != nil {
			t.Fatal(err)
		}
		resume()
	})
	if len(sizes) != 1 || sizes[0] != 18 {
		t.Errorf("three writes, all arrived: Node's 'data' chunks %v, want one of 18", sizes)
	}

	const big = 1 << 20
	sizes = nodeChunks(t, false, func(c *net.TCPConn, resume func()) {
		if _, err := c.Write(make([]byte, big)); err != nil {
			t.Fatal(err)
		}
	})
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != big || len(sizes) < 2 {
		t.Errorf("one write of %d bytes: Node's 'data' chunks %v, want several adding up to it", big, sizes)
	}
}
