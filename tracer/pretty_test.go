package tracer_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// With StepTimes each event shows its time since its step started: a
// long pause before a step's heading is not in the times of the step's
// events, and an event during the pause shows its time since the step
// before started. The JSON keeps the elapsed time since the start.
func TestPrettyStepTimes(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	state := &tracer.StateChange{Side: "server", From: kernel.Established, To: kernel.CloseWait, CauseFlags: "FIN ACK", CauseElapsed: 5*time.Second + 300*time.Microsecond}
	events := []tracer.Event{
		{Actor: "lesson", Phase: tracer.PhaseLesson, Text: "tcptour · lesson 99 · Test", Note: "The intro.", Time: at(time.Millisecond)},
		{Actor: "lesson", Phase: tracer.PhaseStep, Text: "Step 1 of 2 · One", Time: at(2 * time.Millisecond)},
		{Actor: "client", Phase: tracer.PhaseNote, Text: "in step 1", Time: at(2*time.Millisecond + 500*time.Microsecond)},
		// The learner sits at the prompt for 5 s; something happens
		// 3 s in.
		{Actor: "server", Phase: tracer.PhaseNote, Text: "in the pause", Time: at(3 * time.Second)},
		{Actor: "lesson", Phase: tracer.PhaseStep, Text: "Step 2 of 2 · Two", Time: at(5 * time.Second)},
		{Actor: "client", Phase: tracer.PhaseNote, Text: "in step 2", Time: at(5*time.Second + 400*time.Microsecond)},
		{Actor: "kernel", Phase: tracer.PhaseState, State: state, Time: at(5*time.Second + 500*time.Microsecond)},
	}
	run := func(opts tracer.PrettyOptions) (pretty, js string) {
		var p, j bytes.Buffer
		tr := tracer.NewAt(start, tracer.Options{Printers: []tracer.Printer{tracer.NewPrettyWith(&p, opts), tracer.NewJSON(&j)}})
		for _, e := range events {
			tr.Add(e)
		}
		if err := tr.Flush(); err != nil {
			t.Fatal(err)
		}
		return p.String(), j.String()
	}
	pretty, js := run(tracer.PrettyOptions{StepTimes: true})
	for _, want := range []string{
		"Each time (+…) counts from the start of its step",
		"+0.500 ms  client     NOTE       in step 1",
		"+2.998 s  server     NOTE       in the pause",
		"+0.400 ms  client     NOTE       in step 2",
		"+0.500 ms  kernel     STATE      server ESTABLISHED → CLOSE_WAIT  ← FIN ACK at +0.300 ms",
	} {
		if !strings.Contains(pretty, want) {
			t.Errorf("no %q in:\n%s", want, pretty)
		}
	}
	plain, js2 := run(tracer.PrettyOptions{})
	for _, want := range []string{
		"+2.500 ms  client     NOTE       in step 1",
		"+5.000 s  client     NOTE       in step 2",
		"← FIN ACK at +5.000 s",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("without StepTimes: no %q in:\n%s", want, plain)
		}
	}
	if strings.Contains(plain, "Each time (+…)") {
		t.Errorf("without StepTimes the title says how step times count:\n%s", plain)
	}
	if js != js2 || !strings.Contains(js, `"elapsed_ns":5000400000`) {
		t.Errorf("StepTimes changed the JSON, or it lost the elapsed time since the start:\n%s\n%s", js, js2)
	}
}

// Notes wrap to the width asked, between words, and never narrower
// than MinWidth.
func TestPrettyWidth(t *testing.T) {
	long := strings.Repeat("a-word-longer-than-a-line-", 6)
	note := strings.Repeat("The client's kernel sends SYN: it asks to open a connection. ", 6) + long + " and the end."
	for _, tc := range []struct{ width, wrap int }{{0, 80}, {60, 60}, {45, 45}, {120, 120}, {10, tracer.MinWidth}} {
		var b bytes.Buffer
		p := tracer.NewPrettyWith(&b, tracer.PrettyOptions{Width: tc.width})
		for _, e := range []tracer.Event{
			{Actor: "lesson", Phase: tracer.PhaseLesson, Text: "title", Note: note, Time: time.Unix(1, 0)},
			{Actor: "lesson", Phase: tracer.PhaseStep, Text: "Step 1 of 1 · x", Note: note, Time: time.Unix(1, 0)},
			{Actor: "client", Phase: tracer.PhaseNote, Text: "x", Note: note, Time: time.Unix(1, 0)},
			// Its kernel: line breaks between its parts.
			{Actor: "server", Phase: tracer.PhaseAccept, Time: time.Unix(1, 0), TCP: &kernel.Info{
				State: kernel.Established, RTT: 45 * time.Microsecond, SndMSS: 4143717444, SndCwnd: 4219198294}},
		} {
			if err := p.Print(e); err != nil {
				t.Fatal(err)
			}
		}
		widest := 0
		var words, kernelLines []string
		for _, line := range strings.Split(b.String(), "\n") {
			n := utf8.RuneCountInString(line)
			if strings.Contains(line, "ACCEPT") {
				continue // the event's own line: a table's row, not wrapped
			}
			if strings.Contains(line, "kernel:") || strings.HasPrefix(line, "                     · ") {
				kernelLines = append(kernelLines, strings.TrimSpace(line))
			} else if strings.HasPrefix(line, "             ") {
				words = append(words, strings.Fields(line)...)
			}
			switch {
			case strings.Contains(line, long):
				if strings.TrimSpace(line) != long {
					t.Errorf("width %d: the long word shares its line: %q", tc.width, line)
				}
			case n > tc.wrap:
				t.Errorf("width %d: a line of %d columns, more than %d: %q", tc.width, n, tc.wrap, line)
			default:
				widest = max(widest, n)
			}
		}
		if got, want := strings.Join(kernelLines, " "), "kernel: ESTABLISHED · rtt 0.045 ms · mss 4143717444 · cwnd 4219198294"; got != want {
			t.Errorf("width %d: the kernel: line, joined again: %q, want %q", tc.width, got, want)
		}
		if tc.wrap < 80 && len(kernelLines) < 2 {
			t.Errorf("width %d: the kernel: line is not broken: %q", tc.width, kernelLines)
		}
		if widest < tc.wrap-12 {
			t.Errorf("width %d: the widest line has %d columns: not wrapped to %d", tc.width, widest, tc.wrap)
		}
		if got, want := strings.Join(words, " "), strings.Join(strings.Fields(note), " "); got != want {
			t.Errorf("width %d: the event's note, its words joined again:\n%s\nwant\n%s", tc.width, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		text          string
		indent, width int
		want          string
	}{
		{"", 2, 20, ""},
		{"one two three", 0, 80, "one two three\n"},
		{"one\ntwo  three", 2, 80, "  one two three\n"},
		{"aaaa bbbb cccc dddd", 2, 11, "  aaaa bbbb\n  cccc dddd\n"},
		{"aaaa bbbbbbbbbbbbbbbb c", 0, 10, "aaaa\nbbbbbbbbbbbbbbbb\nc\n"},
		{"→ ünï → ünï", 0, 5, "→ ünï\n→ ünï\n"},
	} {
		if got := tracer.Wrap(tc.text, tc.indent, tc.width); got != tc.want {
			t.Errorf("Wrap(%q, %d, %d) = %q, want %q", tc.text, tc.indent, tc.width, got, tc.want)
		}
	}
}

// What is not a terminal is DefaultWidth wide (the lessons' tests on a
// pseudo-terminal check a terminal's width).
func TestTerminalWidthNotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{&bytes.Buffer{}, f} {
		if got := tracer.TerminalWidth(w); got != tracer.DefaultWidth {
			t.Errorf("%T: width %d, want %d", w, got, tracer.DefaultWidth)
		}
	}
}
