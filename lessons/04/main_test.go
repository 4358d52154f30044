package main

import (
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// The tests that run the lesson's program mostly wait: they run side
// by side, up to 10 at once.
func TestMain(m *testing.M) { lessontest.Main(m) }

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	lessontest.Order(t, res.Events,
		"server listen",
		"server accept",
		// Three writes, one read.
		"client write 5 bytes",
		"client write 6 bytes",
		"client write 7 bytes",
		"server note 18 bytes wait",
		`server read 18 bytes "I am Chuck Norris!"`,
		// One write, four reads.
		"server write 29 bytes",
		"client read 8 bytes",
		"client read 8 bytes",
		"client read 8 bytes",
		"client read 5 bytes",
		// Framing: three lines out of two writes and reads of 16 bytes at most.
		"client write 26 bytes",
		"client write 27 bytes",
		"server read 16 bytes",
		`server note line 1: "I am Chuck Norris!"`,
		`server note line 2: "I counted to infinity. Twice."`,
		`server note line 3: "Bye"`,
		// Both ways at once: both write before either reads.
		"client write 21 bytes",
		"server write 21 bytes",
		"server read",
		"client read 21 bytes",
		"client close",
		"server eof",
		"server close",
		"server close listener",
	)
	// The server's reads in step 4 never exceed its 16-byte buffer.
	for _, e := range res.Events {
		if e.Step == 4 && e.Actor == "server" && e.Phase == "read" && e.Bytes > 16 {
			t.Errorf("step 4: the server read %d bytes through a 16-byte bufio.Reader", e.Bytes)
		}
	}
}

func TestLessonOnTheWire(t *testing.T) {
	t.Parallel()
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, ev,
		"wire packet SYN client→server",
		"server accept",
		// Step 2: each write is its own PSH ACK segment, each answered by
		// the server's kernel with an ACK before the server reads.
		"client write 5 bytes",
		"wire packet PSH ACK client→server len 5",
		"wire packet ACK server→client len 0",
		"client write 6 bytes",
		"wire packet PSH ACK client→server len 6",
		"wire packet ACK server→client len 0",
		"client write 7 bytes",
		"wire packet PSH ACK client→server len 7",
		"wire packet ACK server→client len 0",
		"server read 18 bytes",
		// Step 3: one segment, four reads.
		"server write 29 bytes",
		"wire packet PSH ACK server→client len 29",
		"client read 8 bytes",
		"client read 5 bytes",
		// Step 4: two segments for three lines.
		"wire packet PSH ACK client→server len 26",
		"wire packet PSH ACK client→server len 27",
		`server note line 3: "Bye"`,
		// Step 5: data both ways before either side reads.
		"wire packet PSH ACK client→server len 21",
		"wire packet PSH ACK server→client len 21",
		"server read",
		"client read 21 bytes",
		// Step 6.
		"wire packet FIN ACK client→server",
		"wire packet FIN ACK server→client",
		"wire packet ACK client→server len 0",
	)
	// Every data segment is acknowledged: the last ack each side sends
	// covers all the bytes the other side wrote.
	var lastAck = map[string]uint32{}
	var sent = map[string]int{}
	for _, e := range ev {
		if p := e.Packet; p != nil && p.Proto == "tcp" {
			lastAck[p.From] = p.Ack
			sent[p.From] += p.Len
		}
	}
	// +2: the SYN and the FIN each take a sequence number.
	if lastAck["server"] != uint32(sent["client"])+2 || lastAck["client"] != uint32(sent["server"])+2 {
		t.Errorf("last acks %v for %v bytes sent: want every byte and both FINs acknowledged", lastAck, sent)
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
