package lesson_test

import (
	"regexp"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// Lesson 03 as a learner runs it with --quiz, its standard input not a
// terminal: the questions after the recap, each with its answer.
func TestLessonQuizPrinted(t *testing.T) {
	bin := lessontest.BuildPackage(t, "tcptour/lessons/03")
	capture, _ := lessontest.CaptureIfPermitted()
	r := lessontest.RunOK(t, bin, "--quiz", "--no-color", capture)
	lessontest.InOrder(t, r.Stdout, "\nRecap\n", "\nTry this\n", "\nQuestions from your own run\n", "  1. ", "Answer: ")
	if strings.Contains(r.Stdout, "> ") {
		t.Errorf("asked with nobody to answer:\n%s", r.Stdout)
	}
}

// On a terminal the lesson pauses at each step and then asks: the
// replies typed on the same terminal, one wrong, the others skipped.
func TestLessonQuizAsked(t *testing.T) {
	bin := lessontest.BuildPackage(t, "tcptour/lessons/03")
	capture, _ := lessontest.CaptureIfPermitted()
	p := lessontest.StartStepped(t, bin, "--quiz", capture)
	for step := 1; step <= 6; step++ {
		p.WaitPrompt(step)
		p.Enter()
	}
	m := p.WaitFor(regexp.MustCompile(`\n  1\. ([^\n]*)\n(?:[^\n]*\n)*?\s*> $`))
	first := m[1]
	// Five lines: a wrong reply, then empty ones that skip.
	p.Type("wrong")
	for range 4 {
		p.Type("")
	}
	out, err := p.Wait()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	q := out[strings.Index(out, "\nQuestions from your own run\n"):]
	for _, want := range []string{first, "Not quite: the answer is", " right"} {
		if !strings.Contains(q, want) {
			t.Errorf("lacks %q:\n%s", want, q)
		}
	}
	if strings.Count(q, "> ") < 1 || strings.Contains(q, "Answer: ") {
		t.Errorf("not asked on a terminal:\n%s", q)
	}
}
