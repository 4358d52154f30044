package main

import (
	"testing"

	"tcptour/lessons/internal/lessontest"
)

func TestLesson(t *testing.T) {
	res := lessontest.Run(t, info, run)
	lessontest.Order(t, res.Events,
		"server listen 127.0.0.1",
		"server listen [::]",
		"server close",
		"server error address already in use",
		"server close listener",
		"server listen 127.0.0.1",
		"server close listener",
	)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}

// The lesson's page (--html), in a browser where there is one: the
// listeners' states, no error, a screenshot.
func TestPage(t *testing.T) {
	lessontest.RunPage(t, info)
}
