package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// The lesson says that Node runs every connection's callbacks on one
// event loop, so slow synchronous work in a callback holds up every
// connection. This test runs a Node server (testdata/oneloop.js) and
// checks it against what Node did: the lesson's step 3, in Node.
func TestNodeOneLoop(t *testing.T) {
	done := filepath.Join(t.TempDir(), "done")
	node := lessontest.StartNode(t, "testdata/oneloop.js", done)
	addr := fmt.Sprintf("127.0.0.1:%d", node.Port())
	slow, hi := dial(t, addr), dial(t, addr)

	if _, err := io.WriteString(slow, "slow"); err != nil {
		t.Fatal(err)
	}
	node.WaitFor(regexp.MustCompile(`(?m)^busy$`))
	if _, err := io.WriteString(hi, "hi"); err != nil {
		t.Fatal(err)
	}
	// "hi" reaches Node's socket and waits there, unread, while the slow
	// callback works.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	server := kernel.FiveTuple{Proto: "tcp", Local: addrPort(hi.RemoteAddr()), Remote: addrPort(hi.LocalAddr())}
	if _, err := kernel.Wait(ctx, server, "Recv-Q 2", func(s kernel.Socket) bool { return s.RecvQ == 2 }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil { // the slow work ends
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn net.Conn
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

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrPort(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }
