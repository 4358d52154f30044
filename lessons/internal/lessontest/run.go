package lessontest

import (
	"bufio"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// Ran is what a lesson binary did in one run to its end.
type Ran struct {
	Stdout, Stderr string
	Code           int // the exit status
}

// RunBinary runs a lesson binary with args, stdin empty, to its end.
func RunBinary(t *testing.T, bin string, args ...string) Ran {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Ran{Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// Events parses the JSON lines a lesson printed with --json; lines that
// are not events (none should be) fail the test.
func Events(t *testing.T, jsonLines string) []tracer.Event {
	t.Helper()
	var events []tracer.Event
	sc := bufio.NewScanner(strings.NewReader(jsonLines))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e tracer.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not an event: %v\n%s", err, sc.Text())
		}
		events = append(events, e)
	}
	return events
}

// Buffer collects what a command writes (nc's output in a Try this),
// for a test that waits for it.
type Buffer struct{ b lockedBuffer }

// Write adds p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) { return b.b.Write(p) }

// String returns what was written so far.
func (b *Buffer) String() string { return b.b.String() }

// WaitFor waits until the buffer holds s, and fails the test if it does
// not within 20 s.
func (b *Buffer) WaitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := b.b.changed()
		if strings.Contains(b.b.String(), s) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %q within 20 s; got %q", s, b.b.String())
		}
	}
}

// CapturePermitted reports whether this process may capture packets
// (root or CAP_NET_RAW), for a Try this that says sudo.
func CapturePermitted() bool {
	c, err := capture.Open(capture.Config{})
	if err != nil {
		return false
	}
	c.Close()
	return true
}
