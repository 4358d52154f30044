package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
)

// The lesson and docs/lessons/07.md say what Node's maxConnections does
// and what a Node client sees. These tests run Node (testdata/*.js) and
// check each claim against what Node did.

// maxConnections: the extra connection's handshake completes in the
// kernel; Node accepts it and closes it at once (clientHandle.close(),
// and Node 20 emits 'drop'), with no 'connection' event. The client
// reads the server's FIN when it had sent nothing, and gets a reset when
// its bytes had arrived unread.
func TestNodeMaxConnections(t *testing.T) {
	node := lessontest.StartNode(t, "testdata/maxconn.js")
	port := node.Port()
	wire := lessontest.SniffIfPermitted(t, port)

	kept := lessontest.Dial(t, port)
	greeting := make([]byte, 64)
	if n, err := kept.Read(greeting); err != nil || string(greeting[:n]) != "welcome\n" {
		t.Fatalf("the first client read %q, %v; want the greeting", greeting[:n], err)
	}

	// Node's event loop busy: the next two connections queue up in the
	// kernel, handshake done, and the second one's bytes arrive unread,
	// as in the lesson's step 2.
	go2 := filepath.Join(t.TempDir(), "go")
	node.Send("block " + go2)
	node.WaitFor(regexp.MustCompile(`(?m)^blocked$`))
	silent, talker := lessontest.Dial(t, port), lessontest.Dial(t, port)
	if _, err := io.WriteString(talker, "hello?"); err != nil {
		t.Fatal(err)
	}
	listener := kernel.FiveTuple{Proto: "tcp", Local: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))}
	lessontest.WaitRecvQ(t, listener, 2)
	lessontest.WaitRecvQ(t, lessontest.PeerTuple(talker), 6)
	if err := os.WriteFile(go2, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	node.WaitFor(regexp.MustCompile(`(?m)^unblocked$`))

	if _, err := silent.Read(greeting); !errors.Is(err, io.EOF) {
		t.Errorf("the extra client that sent nothing read %v, want io.EOF (the server's FIN)", err)
	}
	if _, err := talker.Read(greeting); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the extra client whose bytes were unread read %v, want ECONNRESET (the server's RST)", err)
	}
	node.WaitFor(regexp.MustCompile(fmt.Sprintf(`(?m)^drop %d$`, talker.LocalAddr().(*net.TCPAddr).Port)))
	out := node.End()
	for _, c := range []*net.TCPConn{silent, talker} {
		p := c.LocalAddr().(*net.TCPAddr).Port
		if !strings.Contains(out, fmt.Sprintf("drop %d\n", p)) || strings.Contains(out, fmt.Sprintf("connection %d\n", p)) {
			t.Errorf("node should drop the connection from port %d ('drop', no 'connection'):\n%s", p, out)
		}
	}
	if strings.Contains(out, "error") {
		t.Errorf("node reported an error:\n%s", out)
	}
	if wire == nil {
		return
	}
	segs := wire.Segments()
	for _, c := range []struct {
		conn  *net.TCPConn
		flags []string // what the server sends after the handshake
	}{
		{silent, []string{"FIN ACK"}},
		{talker, []string{"ACK", "RST ACK"}}, // the ACK of hello?, then the reset
	} {
		var got []string
		handshake := false
		for _, s := range segs {
			if s.Dst != addrPort(c.conn.LocalAddr()) {
				continue
			}
			if s.Has(capture.SYN) {
				handshake = true
				continue
			}
			if len(got) < len(c.flags) {
				got = append(got, s.Flags.String())
			}
		}
		if !handshake || strings.Join(got, ", ") != strings.Join(c.flags, ", ") {
			t.Errorf("to %v the server sent SYN ACK %v, then %v; want the handshake, then %v:%s",
				c.conn.LocalAddr(), handshake, got, c.flags, lessontest.Dump(segs))
		}
	}
}

// A Node client whose connection the server closes at once gets 'end'
// when the server's close sent FIN, and 'error' with ECONNRESET when it
// sent RST (the client's bytes unread).
func TestNodeClientEndOrReset(t *testing.T) {
	for _, c := range []struct {
		write string
		want  []string // the client's events after connect
	}{
		{"", []string{"end", "close"}},
		{"hello?", []string{"written", "error ECONNRESET", "close"}},
	} {
		t.Run(fmt.Sprintf("write %q", c.write), func(t *testing.T) {
			ln, port := lessontest.Listen(t)
			args := []string{fmt.Sprint(port)}
			if c.write != "" {
				args = append(args, c.write)
			}
			node := lessontest.StartNode(t, "testdata/client.js", args...)
			conn := lessontest.Accept(t, ln)
			if c.write != "" { // the client's bytes
				lessontest.WaitRecvQ(t, lessontest.Tuple(conn), len(c.write))
			}
			conn.Close() // at once, unread: clientHandle.close()
			out := node.End()
			got := strings.Split(strings.TrimSpace(out), "\n")
			if want := append([]string{"connect"}, c.want...); !slices.Equal(got, want) {
				t.Errorf("the Node client's events: %q, want %q", got, want)
			}
		})
	}
}

// docs/lessons/07.md, on why the first loop starts late: when a
// client's bytes arrive after the server's close (FIN), the server's
// kernel answers them with RST, and the client's Read returns io.EOF
// (the FIN came first) while a later Write fails with EPIPE.
func TestLateBytesAfterClose(t *testing.T) {
	ln, port := lessontest.Listen(t)
	wire := lessontest.SniffIfPermitted(t, port)
	client := lessontest.Dial(t, port)
	lessontest.Accept(t, ln).Close() // nothing unread: FIN
	end := lessontest.Tuple(client)
	lessontest.WaitState(t, end, kernel.CloseWait)
	if _, err := io.WriteString(client, "hello?"); err != nil {
		t.Fatalf("the late write: %v", err)
	}
	lessontest.WaitGone(t, end) // the RST came: no connection left
	buf := make([]byte, 16)
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("the client's Read after FIN and RST: %v, want io.EOF", err)
	}
	if _, err := io.WriteString(client, "again"); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("the client's next Write: %v, want EPIPE", err)
	}
	if wire == nil {
		return
	}
	var got []string
	for _, s := range wire.Segments() {
		if !s.Has(capture.SYN) && !(s.Flags == capture.ACK && s.Len == 0) {
			got = append(got, fmt.Sprintf("%s %s len %d", map[bool]string{true: "server", false: "client"}[s.Src == addrPort(ln.Addr())], s.Flags, s.Len))
		}
	}
	want := []string{"server FIN ACK len 0", "client PSH ACK len 6", "server RST len 0"}
	if !slices.Equal(got, want) {
		t.Errorf("segments other than the handshake and bare ACKs: %q, want %q", got, want)
	}
}
