package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"tcptour/tracer/kernel"
)

func init() {
	register(&Exercise{
		Name: "no-close-wait", Lesson: "05", Order: 1, Role: "server",
		Title: "A server that never leaves a socket in CLOSE_WAIT",
		Hints: []string{
			"CLOSE_WAIT is the state of a socket whose peer has sent FIN while its own program has not called Close yet. The kernel cannot leave it by itself: only Close (or the program's exit) sends the server's FIN.",
			"When the client closes, your Read returns io.EOF: that is a normal end, and the connection must still be closed. Every way out of serve should close it, not only the errors.",
			"Put defer conn.Close() at the top of serve: it runs however serve returns.",
		},
		Check: checkNoCloseWait,
	})
}

// checkNoCloseWait has three clients each send a line, read the answer
// and close; then it asks the kernel, for up to 1 s, until none of the
// program's sockets is in CLOSE_WAIT and the server's FIN of each
// connection is on the wire.
func checkNoCloseWait(c *Check) error {
	if !c.Captured() {
		return c.NeedPackets()
	}
	p, err := c.Start()
	if err != nil {
		return err
	}
	if err := c.WaitListening(p); err != nil {
		return err
	}
	var conns []net.Conn
	for i, line := range []string{"hello", "how are you", "bye"} {
		n := i + 1
		conn, err := c.Dial()
		if err != nil {
			return c.Fail("client %d could not connect: %v", n, err)
		}
		defer conn.Close()
		conns = append(conns, conn)
		if err := askLine(conn, line, strings.ToUpper(line), 2*time.Second); err != nil {
			c.Show(conn)
			return c.Fail("client %d sent %q and %v%s", n, line+"\n", err, c.Unserved(conn))
		}
		// NOTE: Close on a connection that works cannot fail.
		_ = conn.Close()
	}
	c.Holds("3 clients each sent a line, read its answer in capitals, and closed")

	// The clients' FINs are ACKed by the server's kernel at once; the
	// server's own FIN needs its program to call Close.
	var waiting []kernel.Socket
	var noFIN []int
	closed := waitWire(c, time.Second, func() bool {
		waiting = waiting[:0]
		socks, err := c.Sockets(kernel.CloseWait)
		if err != nil {
			return false
		}
		for _, s := range socks {
			if s.Local.Port() == c.Addr.Port() {
				waiting = append(waiting, s)
			}
		}
		noFIN = noFIN[:0]
		for i, conn := range conns {
			if !sentFIN(c, conn) {
				noFIN = append(noFIN, i)
			}
		}
		return len(waiting) == 0 && len(noFIN) == 0
	})
	if !closed {
		if len(noFIN) > 0 {
			c.Show(conns[noFIN[0]])
		}
		if len(waiting) > 0 {
			ends := make([]string, len(waiting))
			for i, s := range waiting {
				ends[i] = fmt.Sprintf("%s ↔ %s", s.Local, s.Remote)
				if s.RecvQ > 0 {
					ends[i] += fmt.Sprintf(" with %s unread", plural(int(s.RecvQ), "byte"))
				}
			}
			acked := ""
			if finsAcked(c, conns) {
				acked = " its kernel acknowledged each client's FIN on the wire, but"
			}
			return c.Fail("1 s after the clients closed, the kernel still holds %s of your program in CLOSE_WAIT (%s):%s your program has not closed them, and no FIN came from it on %s",
				plural(len(waiting), "socket"), strings.Join(ends, ", "), acked, connsOf(noFIN))
		}
		return c.Fail("1 s after the clients closed, no FIN had come from your program on %s, and the kernel shows none of its sockets in CLOSE_WAIT", connsOf(noFIN))
	}
	c.Holds("your program answered each client's FIN with its own, on the wire")
	c.Holds("the kernel shows none of your program's sockets in CLOSE_WAIT")
	if p.Exited() != "" {
		return c.Fail("your program ended (%s): a server goes on serving", p.Exited())
	}
	return nil
}

// sentFIN reports whether the learner's end of conn has sent its FIN,
// as captured.
func sentFIN(c *Check, conn net.Conn) bool {
	client, server := Ends(conn)
	for _, s := range Sent(c.Segments(client, server), server) {
		if HasFlag(s, "FIN") {
			return true
		}
	}
	return false
}

// finsAcked reports whether, on each of conns, the learner's end
// acknowledged the client's FIN, as captured.
func finsAcked(c *Check, conns []net.Conn) bool {
	for _, conn := range conns {
		client, server := Ends(conn)
		segs := c.Segments(client, server)
		var fin uint32
		for _, s := range Sent(segs, client) {
			if HasFlag(s, "FIN") {
				fin = s.Seq + uint32(s.Len) + 1
			}
		}
		acked := false
		for _, s := range Sent(segs, server) {
			if fin > 0 && s.Ack >= fin {
				acked = true
			}
		}
		if !acked {
			return false
		}
	}
	return true
}

// connsOf names the clients of the indexes: "clients 1, 2 and 3".
func connsOf(idx []int) string {
	s := make([]string, len(idx))
	for i, n := range idx {
		s[i] = fmt.Sprint(n + 1)
	}
	switch len(s) {
	case 0:
		return "no connection"
	case 1:
		return "client " + s[0] + "'s connection"
	}
	return "the connections of clients " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
