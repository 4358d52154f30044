package lesson

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// oneConn is a lesson of two steps with one connection: a message each
// way, then both close, the client first.
func oneConn(r *Run) error {
	r.Step("Connect", "")
	ln, err := tracer.Listen(r.Context(), r.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	d := tracer.Dialer{Hooks: r.Hooks("client")}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		return err
	}
	r.Step("Talk and close", "")
	if _, err := c.Write([]byte("hello")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil {
		return err
	}
	c.Close()
	// The server reads the client's FIN, then closes.
	if _, err := s.Read(buf); err != io.EOF {
		return err
	}
	return s.Close()
}

// captureOr is "on" where this process may capture, else "off".
func captureOr(t *testing.T) string {
	c, err := capture.Open(capture.Config{})
	if err != nil {
		t.Logf("no capture here (%v): the questions come from the kernel's states", err)
		return "off"
	}
	c.Close()
	return "on"
}

// With --quiz and nobody to ask, the questions come after the recap,
// each with its answer and the line of the event that shows it.
func TestQuizPrinted(t *testing.T) {
	var out bytes.Buffer
	opts := Options{Quiz: true, NoColor: true, Capture: captureOr(t), Out: &out, Stderr: &bytes.Buffer{}, Width: 80}
	if err := Exec(context.Background(), demo, opts, oneConn); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	recap, quiz := strings.Index(text, "\nRecap\n"), strings.Index(text, "\nQuestions from your own run\n")
	if recap < 0 || quiz < recap {
		t.Fatalf("no questions after the recap:\n%s", text)
	}
	q := text[quiz:]
	if n := strings.Count(q, "Answer: "); n == 0 || opts.Capture == "on" && (n < 3 || n > 5) {
		t.Errorf("%d answers (capture %s):\n%s", n, opts.Capture, q)
	}
	// An event's line: its time right-aligned ("   +1.234 ms", "  +39.889 ms").
	if strings.Count(q, "Answer: ") != len(eventLine.FindAllString(q, -1)) {
		t.Errorf("not one event line under each answer:\n%s", q)
	}
	if strings.Contains(q, "> ") {
		t.Errorf("asked with nobody to answer:\n%s", q)
	}
}

// eventLine matches the first line of an event in the pretty output.
var eventLine = regexp.MustCompile(`(?m)^ +\+[0-9.]+ (ms|s|µs) `)

// Without --quiz, nothing changes.
func TestNoQuizByDefault(t *testing.T) {
	var out bytes.Buffer
	if err := Exec(context.Background(), demo, Options{NoColor: true, Capture: "off", Out: &out}, twoSteps); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Questions") {
		t.Errorf("questions without --quiz:\n%s", out.String())
	}
}

// Asked: the replies come from In, after the Enters of --step, through
// the same reader; an empty reply skips, the end of the input shows the
// answers left.
func TestQuizAsked(t *testing.T) {
	var out, prompts bytes.Buffer
	in := "\n\n" + "3\n" + "\n" // two Enters, then two replies
	opts := Options{Step: true, Quiz: true, QuizAsk: true, NoColor: true, Capture: captureOr(t),
		Out: &out, Stderr: &prompts, In: strings.NewReader(in), Width: 80}
	if err := Exec(context.Background(), demo, opts, oneConn); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(prompts.String(), "[press Enter"); got != 2 {
		t.Errorf("%d prompts for Enter, want 2", got)
	}
	q := out.String()[strings.Index(out.String(), "\nQuestions from your own run\n"):]
	n := strings.Count(q, "\n  1. ") + strings.Count(q, "\n  2. ") + strings.Count(q, "\n  3. ") + strings.Count(q, "\n  4. ") + strings.Count(q, "\n  5. ")
	if n == 0 {
		t.Fatalf("no questions:\n%s", q)
	}
	if !strings.Contains(q, "Right: ") && !strings.Contains(q, "Not quite: ") {
		t.Errorf("the first reply was not read:\n%s", q)
	}
	if n > 1 && !strings.Contains(q, "Skipped: the answer is") {
		t.Errorf("the empty reply did not skip:\n%s", q)
	}
	if !strings.Contains(q, " right") || !strings.Contains(q, "an empty line skips") {
		t.Errorf("no score:\n%s", q)
	}
}

// --quiz --json is refused: a person answers questions, a program reads
// JSON.
func TestQuizNotWithJSON(t *testing.T) {
	var stderr bytes.Buffer
	_, err := ParseFlags(demo, []string{"--quiz", "--json"}, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "-quiz asks a person questions and -json prints for programs") {
		t.Errorf("err %v, stderr %q", err, stderr.String())
	}
	opts, err := ParseFlags(demo, []string{"--quiz"}, &stderr)
	if err != nil || !opts.Quiz || opts.QuizAsk {
		t.Errorf("--quiz with stdin not a terminal: %+v, %v; want the questions printed, not asked", opts, err)
	}
}
