package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// The lesson says that Node runs every connection's callbacks on one
// event loop, so slow synchronous work in a callback holds up every
// connection. This test runs a Node server (testdata/oneloop.js) and
// checks it against what Node did: the lesson's step 3, in Node.
func TestNodeOneLoop(t *testing.T) {
	done := filepath.Join(t.TempDir(), "done")
	node := lessontest.StartNode(t, "testdata/oneloop.js", done)
	port := node.Port()
	slow, hi := lessontest.Dial(t, port), lessontest.Dial(t, port)

	if _, err := io.WriteString(slow, "slow"); err != nil {
		t.Fatal(err)
	}
	node.WaitFor(regexp.MustCompile(`(?m)^busy$`))
	if _, err := io.WriteString(hi, "hi"); err != nil {
		t.Fatal(err)
	}
	// "hi" reaches Node's socket and waits there, unread, while the slow
	// callback works.
	lessontest.WaitRecvQ(t, lessontest.PeerTuple(hi), 2)
	if err := os.WriteFile(done, nil, 0o644); err != nil { // the slow work ends
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn *net.TCPConn
		want string
	}{{slow, `You said "slow"`}, {hi, `You said "hi"`}} {
		buf := make([]byte, 64)
		n, err := c.conn.Read(buf)
		if err != nil || string(buf[:n]) != c.want {
			t.Errorf("read %q, %v; want %q", buf[:n], err, c.want)
		}
	}
	out := node.End()
	if i, j := strings.Index(out, "answer slow"), strings.Index(out, "answer hi"); i < 0 || j < i {
		t.Errorf("Node answered hi before the slow work ended:\n%s", out)
	}
}
