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
