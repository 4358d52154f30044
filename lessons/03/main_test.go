package main

import (
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	// The acceptance order of the lesson: lookup, connect, accept, the
	// message both ways, the close; then a dial with no lookup.
	lessontest.Order(t, res.Events,
		"client dns-start chuck.norris.test",
		"client dns-done chuck.norris.test → 127.0.0.1",
		"client connect-start",
		"client connect-done",
		"server accept",
		"client write I am Chuck Norris!",
		"server read I am Chuck Norris!",
		`server write You said \"I am Chuck Norris!\"`,
		`client read You said \"I am Chuck Norris!\"`,
		"client close",
		"server eof",
		"server close",
		"client dns-skip 127.0.0.1",
		"client connect-done",
		"server close listener",
	)
}

func TestLessonOnTheWire(t *testing.T) {
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, ev,
		"client dns-start",
		"wire packet  resolver→dns len",
		"wire packet  dns→resolver",
		"client dns-done",
		"client connect-start",
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"wire packet ACK client→server len 0",
		"client connect-done",
		"server accept",
		"client write",
		"wire packet PSH ACK client→server len 18",
		"server read",
		"server write",
		"wire packet PSH ACK server→client len 29",
		"client read",
		"client close",
		"wire packet FIN ACK client→server",
		"server eof",
		"server close",
		"wire packet FIN ACK server→client",
		"wire packet ACK client→server len 0",
		// The IP literal: no DNS packet, straight to the SYN.
		"client dns-skip",
		"wire packet SYN client→server",
	)
	dns, syn, fin := 0, 0, 0
	for _, e := range ev {
		if p := e.Packet; p != nil {
			switch {
			case p.DNS != "":
				dns++
			case p.Flags == "SYN":
				syn++
			case strings.Contains(p.Flags, "FIN"):
				fin++
			}
		}
	}
	if dns != 2 || syn != 2 || fin != 4 {
		t.Errorf("%d DNS packets, %d SYNs, %d FINs; want 2, 2 (one per connection), 4", dns, syn, fin)
	}
}

// Without CAP_NET_RAW the lesson says why in one line and goes on.
func TestLessonWithoutCapturePermission(t *testing.T) {
	lessontest.RunUnprivileged(t, info)
}

// Ctrl-C ends a held lesson cleanly, with a complete pcap file.
func TestLessonInterrupted(t *testing.T) {
	lessontest.RunInterrupted(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}
