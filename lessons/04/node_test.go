//go:build linux

package main

import (
	"encoding/json"
	"io"
	"net"
	"regexp"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// nodeChunks runs testdata/chunks.js, lets send write to it, and
// returns the sizes of Node's 'data' chunks.
func nodeChunks(t *testing.T, paused bool, send func(c *net.TCPConn, resume func())) []int {
	t.Helper()
	var args []string
	if paused {
		args = append(args, "paused")
	}
	node := lessontest.StartNode(t, "testdata/chunks.js", args...)
	c := lessontest.Dial(t, node.Port())
	send(c, func() { node.Send("go") })
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	line := node.WaitFor(regexp.MustCompile(`(?m)^\[.*\]$`))[0]
	var sizes []int
	if err := json.Unmarshal([]byte(line), &sizes); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	node.End()
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
		lessontest.WaitRecvQ(t, lessontest.PeerTuple(c), 18)
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
