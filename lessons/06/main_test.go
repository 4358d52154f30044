package main

import (
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	lessontest.Order(t, res.Events,
		"server listen",
		"server accept",
		// The client sends its request and half-closes; the server reads
		// to io.EOF and is left in CLOSE_WAIT.
		"client write I am Chuck Norris!",
		"client close-write",
		"server read I am Chuck Norris!",
		"server eof",
		"server note CLOSE_WAIT",
		// The answer after the client's FIN, read by the half-closed client.
		"server write You said",
		"client read You said",
		// Then the server's FIN.
		"server close",
		"client eof",
		"client close",
		// Node's default: the server ends its side at io.EOF, and its
		// answer, written later, fails with EPIPE.
		"server accept",
		"client write I am Chuck Norris!",
		"client close-write",
		"server eof",
		"server close-write",
		"server error broken pipe",
		"server note errors.Is(err, syscall.EPIPE) is true",
		"client eof",
		"client note the answer: 0 bytes",
		"client close",
		"server close",
		"server close listener",
	)
}

func TestLessonOnTheWire(t *testing.T) {
	ev := lessontest.RunCapture(t, info, run)
	// Connection 1: one FIN, then data, then the other FIN.
	lessontest.Order(t, ev,
		"wire packet PSH ACK client→server len 18",
		"client close-write",
		"wire packet FIN ACK client→server len 0",
		"server eof",
		"wire packet PSH ACK server→client len 40",
		"client read",
		"server close",
		"wire packet FIN ACK server→client len 0",
		"client eof",
		// Connection 2, Node's default: the server's FIN follows the
		// client's with no data between them, and the late Write sends
		// nothing.
		"wire packet SYN client→server",
		"wire packet FIN ACK client→server len 0",
		"server close-write",
		"wire packet FIN ACK server→client len 0",
		"server error broken pipe",
		"client eof",
	)
	// Per connection, the packets from the client's FIN to the server's:
	// data between them on the first, none on the second.
	between := map[int][]string{}
	open := map[int]bool{}
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		switch {
		case strings.Contains(p.Flags, "FIN") && p.From == "client":
			open[e.Conn] = true
		case strings.Contains(p.Flags, "FIN") && p.From == "server":
			open[e.Conn] = false
		case open[e.Conn] && p.Len > 0:
			between[e.Conn] = append(between[e.Conn], p.From)
		}
	}
	if got := between[1]; len(got) != 1 || got[0] != "server" {
		t.Errorf("connection 1: data segments between the two FINs from %v, want one from the server", got)
	}
	if got := between[2]; len(got) != 0 {
		t.Errorf("connection 2: data segments between the two FINs from %v, want none", got)
	}
	for _, e := range ev {
		if p := e.Packet; p != nil && e.Conn == 2 && p.From == "server" && (p.Len > 0 || strings.Contains(p.Flags, "RST")) {
			t.Errorf("connection 2: the server sent %s len %d; its late Write should send nothing", p.Flags, p.Len)
		}
	}
}

// Without CAP_NET_RAW the lesson says why in one line and goes on.
func TestLessonWithoutCapturePermission(t *testing.T) {
	lessontest.RunUnprivileged(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}
