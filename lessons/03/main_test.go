package main

import (
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
