package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// The lesson and docs/lessons/08.md say what Node's pauseOnConnect and
// socket.write do. These tests run Node (testdata/*.js) and check each
// claim against what Node did.

// waitProbe waits until the kernel says conn's peer advertises window 0
// and a zero-window probe has been sent and answered, as the lesson's
// step 4 does.
func waitProbe(t *testing.T, ft kernel.FiveTuple) kernel.Socket {
	t.Helper()
	return lessontest.WaitSocket(t, ft, "a zero-window probe", func(s kernel.Socket) bool {
		return s.Info != nil && s.Info.SndWnd == 0 && s.Info.Backoff > 0 && s.Info.Probes == 0
	})
}

// pauseOnConnect: Node accepts the connection and reads nothing, not
// even with a 'data' listener, until socket.resume(); the kernel keeps
// receiving until the window is 0, and the client's kernel probes it.
// After resume() everything arrives.
func TestNodePauseOnConnect(t *testing.T) {
	node := lessontest.StartNode(t, "testdata/paused.js")
	port := node.Port()
	wire := lessontest.SniffIfPermitted(t, port)
	c := lessontest.Dial(t, port)
	const size = 1 << 20
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, size))
		wrote <- err
	}()
	s := waitProbe(t, tuple(c))
	node.WaitFor(regexp.MustCompile(`(?m)^connection$`))
	server, err := kernel.Lookup(kernel.FiveTuple{Proto: "tcp", Local: s.Remote, Remote: s.Local})
	if err != nil {
		t.Fatal(err)
	}
	if server.RecvQ == 0 {
		t.Errorf("the Node server's socket holds nothing unread at window 0")
	}
	node.Send("resume")
	if m := node.WaitFor(regexp.MustCompile(`(?m)^resume after (\d+) bytes$`)); m[1] != "0" {
		t.Errorf("Node read %s bytes before resume(), want 0", m[1])
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	c.Close()
	if out := node.End(); !strings.Contains(out, fmt.Sprintf("end after %d bytes\n", size)) {
		t.Errorf("Node did not read all %d bytes after resume():\n%s", size, out)
	}
	if wire == nil {
		return
	}
	// On the wire: window 0 from Node's side, then a window update.
	var zero, opened bool
	for _, g := range wire.Segments() {
		if g.Src.Port() != uint16(port) {
			continue
		}
		switch {
		case g.Window == 0:
			zero = true
		case zero && g.Window > 0:
			opened = true
		}
	}
	if !zero || !opened {
		t.Errorf("Node's side advertised window 0: %v, then opened it: %v", zero, opened)
	}
}

// socket.write never blocks: Node's write of 8 MiB to a peer that does
// not read returns false at once, the bytes the kernels cannot hold
// wait in the process, and 'drain' comes only once the peer reads.
func TestNodeWriteDoesNotBlock(t *testing.T) {
	ln, port := lessontest.Listen(t)
	const size = 8 << 20
	node := lessontest.StartNode(t, "testdata/writer.js", strconv.Itoa(port), strconv.Itoa(size))
	conn := lessontest.Accept(t, ln)
	m := node.WaitFor(regexp.MustCompile(`(?m)^write returned (\w+), writableLength (\d+), highWaterMark (\d+)$`))
	if m[1] != "false" {
		t.Errorf("write of %d bytes returned %s, want false", size, m[1])
	}
	// Nothing read yet, and the Node client's kernel is stopped by a
	// zero window: the write returned with its bytes still waiting.
	client := waitProbe(t, lessontest.PeerTuple(conn))
	if strings.Contains(node.Output(), "drain") {
		t.Errorf("'drain' before the server read anything:\n%s", node.Output())
	}
	t.Logf("at window 0: the Node client's Send-Q %d bytes, %d bytes left in Node", client.SendQ, size-int(client.SendQ))
	n, err := io.Copy(io.Discard, conn)
	if err != nil || n != size {
		t.Fatalf("the server read %d bytes, %v; want %d", n, err, size)
	}
	conn.Close()
	out := node.End()
	if !bytes.Contains([]byte(out), []byte("drain\n")) {
		t.Errorf("no 'drain' after the server read:\n%s", out)
	}
}
