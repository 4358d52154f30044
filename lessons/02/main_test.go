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
