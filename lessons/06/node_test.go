package main

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/capture"
)

// The lesson and docs/lessons/06.md say what Node does with
// allowHalfOpen. These tests run a Node server (testdata/halfopen.js)
// and check each claim against what Node did: what a Go client read,
// what Node's write reported, and, where the test may capture, the
// segments on the wire.

const request = "I am Chuck Norris!"

// allowHalfOpen: false (Node's default) ends the socket's writable side
// right after 'end': an answer written in the 'data' or 'end' callback,
// or in anything queued with process.nextTick there, goes out before
// the FIN; one written later (a promise's callback, a timer) fails with
// EPIPE and nothing is sent. allowHalfOpen: true leaves the socket
// writable until the program calls end().
func TestNodeAllowHalfOpen(t *testing.T) {
	const ended = "write error EPIPE This socket has been ended by the other party"
	for _, c := range []struct {
		when          string
		allowHalfOpen bool
		answered      bool   // the client reads the answer
		write         string // what the write's callback reported
	}{
		{"data", false, true, "write ok"},
		{"end", false, true, "write ok"},
		{"tick", false, true, "write ok"},
		{"promise", false, false, ended},
		{"timeout", false, false, ended},
		{"timeout", true, true, "write ok"},
	} {
		name := c.when
		args := []string{c.when}
		if c.allowHalfOpen {
			name += "/allowHalfOpen"
			args = append(args, "allowHalfOpen")
		}
		t.Run(name, func(t *testing.T) {
			node := lessontest.StartNode(t, "testdata/halfopen.js", args...)
			port := node.Port()
			wire := lessontest.SniffIfPermitted(t, port)
			answer := lessontest.HalfClose(t, lessontest.Dial(t, port), request)
			out := node.End()
			want := ""
			if c.answered {
				want = fmt.Sprintf("You said %q", request)
			}
			if answer != want {
				t.Errorf("the client read %q after its FIN, want %q\nnode:\n%s", answer, want, out)
			}
			if !strings.Contains(out, c.write+"\n") {
				t.Errorf("node's write reported no %q:\n%s", c.write, out)
			}
			if wire == nil {
				return
			}
			segs := wire.Segments()
			// The server's FIN comes after its answer's last byte, or
			// right at the start of its stream when there was none.
			fin, data := -1, 0
			for i, s := range segs {
				if s.Src.Port() != uint16(port) {
					continue
				}
				data += s.Len
				if s.Has(capture.RST) {
					t.Errorf("the server sent RST: %s", s)
				}
				if s.Has(capture.FIN) && fin < 0 {
					fin = i
					if end := s.Seq + uint32(s.Len); end != uint32(1+len(want)) {
						t.Errorf("the server's FIN ends its stream at byte %d, want %d (after %d bytes of answer)", end, 1+len(want), len(want))
					}
				}
			}
			if fin < 0 || data != len(want) {
				t.Errorf("the server sent %d bytes and FIN %v; want %d bytes, then FIN:%s", data, fin >= 0, len(want), lessontest.Dump(segs))
			}
		})
	}
}

// socket.end() is CloseWrite: it sends FIN, and the socket still reads.
// Node's 'end' is the Go server's io.EOF.
func TestNodeEndHalfCloses(t *testing.T) {
	ln, port := lessontest.Listen(t)
	node := lessontest.StartNode(t, "testdata/endclient.js", fmt.Sprint(port))
	conn := lessontest.Accept(t, ln)
	got, err := io.ReadAll(conn) // returns at the client's FIN
	if err != nil || string(got) != request {
		t.Fatalf("the server read %q, %v; want %q and then io.EOF", got, err, request)
	}
	if _, err := fmt.Fprintf(conn, "You said %q", got); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	out := node.End()
	if want := fmt.Sprintf("answer %q\n", fmt.Sprintf("You said %q", request)); !strings.Contains(out, want) {
		t.Errorf("node, after end(), did not read the answer: want %q in\n%s", want, out)
	}
}
