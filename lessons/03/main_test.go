package main

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
)

// The tests that run the lesson's program mostly wait: they run side
// by side, up to 10 at once.
func TestMain(m *testing.M) { lessontest.Main(m) }

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
	t.Parallel()
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

// eventTime matches an event's line in the pretty output, and its time.
var eventTime = regexp.MustCompile(`(?m)^ *\+(\S+)( ms| s)?  +(client|server|wire|kernel|lab|lesson) `)

// A learner who reads each step for 1.5 s before pressing Enter sees
// each event's time within its step: no event of the lesson shows more
// than its own milliseconds, as when the lesson runs straight through.
// The lesson says how its times count.
func TestStepTimesLeaveOutPauses(t *testing.T) {
	t.Parallel()
	capture, _ := lessontest.CaptureIfPermitted()
	s := lessontest.StartOnTerminal(t, exec.Command(lessontest.Build(t), "--step", "--no-color", capture), 80)
	text := s.Finish(func(int) {
		// The learner reads the step before pressing Enter: this
		// waits for no event, it is the pause itself.
		time.Sleep(1500 * time.Millisecond)
	})
	events := eventTime.FindAllStringSubmatch(text, -1)
	if len(events) < 20 {
		t.Fatalf("%d events on the terminal, want 20 or more:\n%s", len(events), text)
	}
	for _, m := range events {
		if m[2] != " ms" {
			t.Errorf("an event shows more than milliseconds: %q", strings.TrimSpace(m[0]))
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(text), " "), "Each time (+…) counts from the start of its step") {
		t.Errorf("the lesson does not say how its times count:\n%s", text)
	}
}

// Ctrl-C at a step's prompt: what the lesson says then starts on a line
// of its own, below the prompt, and it exits as SIGINT's death.
func TestCtrlCAtPrompt(t *testing.T) {
	s := lessontest.StartOnTerminal(t, exec.Command(lessontest.Build(t), "--step", "--no-color", "--capture=off"), 80)
	for step := 1; step < 3; step++ {
		s.WaitPrompt(step)
		s.Press("\n")
	}
	s.WaitPrompt(3)
	s.Press("\x03") // Ctrl-C, typed on the terminal
	text, err := s.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("exit %v, want status 130", err)
	}
	prompt := regexp.MustCompile(`(?m)^\[press Enter for step 3 of 6: Accept\](.*)$`).FindStringSubmatch(text)
	if prompt == nil {
		t.Fatalf("no prompt for step 3 on a line of its own:\n%s", text)
	}
	// The terminal echoes ^C where the cursor was; nothing else follows.
	if rest := strings.TrimSpace(prompt[1]); rest != "" && rest != "^C" {
		t.Errorf("after the prompt, on its line: %q\n%s", rest, text)
	}
	if !regexp.MustCompile(`(?m)^lesson 03: interrupted by SIGINT \(Ctrl-C\)$`).MatchString(text) {
		t.Errorf("the lesson does not say on a line of its own that it was interrupted:\n%s", text)
	}
}
