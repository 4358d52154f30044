package main

import (
	"testing"

	"tcptour/lessons/internal/lessontest"
)

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	// Both handshakes are done before the first Accept returns.
	lessontest.Order(t, res.Events,
		"server listen",
		"client connect-done",
		"client connect-done",
		"server accept",
		"server accept",
		"server close listener",
	)
}

// The three packets of each handshake come before Accept returns.
func TestLessonOnTheWire(t *testing.T) {
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, ev,
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"wire packet ACK client→server len 0",
		"client connect-done",
		"wire packet SYN client→server",
		"wire packet SYN ACK server→client",
		"wire packet ACK client→server len 0",
		"client connect-done",
		"server accept",
		"server accept",
	)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}
