package main

import (
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// The first Try this's tshark command is checked by
// TestLessonOnTheWire (tsharkKeepAlive), on the lesson's own pcapng.
//
// The second and third are made together, in one build and one run:
// keepAlive's Count set to 3, step 3's Read fails after 3 probes,
// unanswered; userTimeout 0 and net.ipv4.tcp_retries2 = 2 in step 4,
// the last note says about 1.4 s, a floor, and the client gives up at
// the first timer that fires past it.
func TestTryThis(t *testing.T) {
	t.Parallel()
	bin := lessontest.Build(t,
		lessontest.Edit{Old: "Interval: time.Second, Count: 2}\n", New: "Interval: time.Second, Count: 3}\n"},
		lessontest.Edit{Old: "const userTimeout = 1500 * time.Millisecond", New: "const userTimeout = 0"},
		lessontest.InsertBefore(`	if err := l.SetSysctl("net.ipv4.tcp_early_retrans", "0",`,
			"\tif err := l.SetSysctl(\"net.ipv4.tcp_retries2\", \"2\", \"Try this.\"); err != nil {\n\t\treturn err\n\t}\n"))
	ev := lessontest.RunJSON(t, bin)

	probes := 0
	for _, e := range ev {
		if p := e.Packet; p != nil && e.Step == 3 && p.At == "client" && has(p, "keep-alive") {
			probes++
		}
	}
	if probes != 3 || !noted(ev, 3, "after 3 keepalive probes unanswered (TcpExtTCPKeepAlive +3)") {
		t.Errorf("step 3 with Count 3: %d probes at the client, want 3 and the note saying so", probes)
	}

	var sent []time.Time
	var failed time.Time
	for _, e := range ev {
		if p := e.Packet; p != nil && e.Step == 4 && p.At == "client" && p.From == "client" && p.Len == 14 {
			sent = append(sent, e.Time)
		}
		if e.Step == 4 && e.Actor == "client" && e.Phase == tracer.PhaseError {
			failed = e.Time
		}
	}
	// The kernel gives up at the first timer that fires once the data
	// has waited, since its first retransmission, the note's 1.4 s:
	// after 3 retransmissions, or 2 if the timeout has grown past 233 ms
	// (6 timeouts then pass 1.4 s). Timers fire a little late, the
	// longer the later: the last must have waited at least as long as
	// the one before it.
	if n := len(sent); n < 3 || n > 4 || failed.IsZero() {
		t.Fatalf("step 4 with tcp_retries2 = 2: the data left %d times, an error %v: want 3 or 4 times, and an error", n, !failed.IsZero())
	}
	n := len(sent)
	timer := sent[n-1].Add(sent[n-1].Sub(sent[n-2])) // no sooner than this
	t.Logf("step 4: the data left %d times; the Read failed %v after the first retransmission", n, failed.Sub(sent[1]))
	if d := failed.Sub(sent[1]); d < 1400*time.Millisecond || failed.Before(timer.Add(-5*time.Millisecond)) {
		t.Errorf("step 4 with tcp_retries2 = 2: the Read failed %v after the first retransmission, %v after the last timer: want at least 1.4 s and the timer",
			d, failed.Sub(timer))
	}
	if !noted(ev, 4, "net.ipv4.tcp_retries2 = 2 here, about 1.4 s") {
		t.Error("the last note of step 4 does not say tcp_retries2 = 2, about 1.4 s")
	}
	// Without TCP_USER_TIMEOUT, step 4 says so: its text, and its notes.
	unset := false
	for _, e := range ev {
		unset = unset || e.Step == 4 && e.Phase == tracer.PhaseStep && strings.Contains(e.Note, "leaves TCP_USER_TIMEOUT unset")
		if e.Step == 4 && (strings.Contains(e.Text, "TCP_USER_TIMEOUT to") || strings.Contains(e.Note, "TCP_USER_TIMEOUT to") ||
			strings.Contains(e.Note, "unacknowledged up to")) {
			t.Errorf("step 4 with userTimeout 0 speaks of a TCP_USER_TIMEOUT: %s %s", e.Text, e.Note)
		}
	}
	if !unset {
		t.Error("step 4's text with userTimeout 0 does not say the client leaves TCP_USER_TIMEOUT unset")
	}
	if !noted(ev, 4, "TCP_USER_TIMEOUT 0 ms") || !noted(ev, 4, "this is what gave it up above") {
		t.Error("step 4's notes with userTimeout 0 do not say it is unset, and that tcp_retries2's time gave the connection up")
	}
}

// noted reports whether a note of step has text in its line or below.
func noted(ev []tracer.Event, step int, text string) bool {
	for _, e := range ev {
		if e.Step == step && e.Phase == tracer.PhaseNote && (strings.Contains(e.Text, text) || strings.Contains(e.Note, text)) {
			return true
		}
	}
	return false
}
