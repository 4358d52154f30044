package lessontest

import (
	"bufio"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

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

// RunOK runs a lesson binary as RunBinary does, and fails the test
// unless it exits 0.
func RunOK(t *testing.T, bin string, args ...string) Ran {
	t.Helper()
	r := RunBinary(t, bin, args...)
	if r.Code != 0 {
		t.Fatalf("the lesson %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r
}

// RunJSON runs a lesson binary with --json and args, fails the test
// unless it exits 0, and returns the events it printed.
func RunJSON(t *testing.T, bin string, args ...string) []tracer.Event {
	t.Helper()
	return Events(t, RunOK(t, bin, append([]string{"--json"}, args...)...).Stdout)
}

// OfConns keeps the events of the connections ids.
func OfConns(ev []tracer.Event, ids ...int) []tracer.Event {
	var out []tracer.Event
	for _, e := range ev {
		if slices.Contains(ids, e.Conn) {
			out = append(out, e)
		}
	}
	return out
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

// CaptureIfPermitted returns the flag that runs a lesson with capture
// on where this process may capture, and off elsewhere, and whether it
// is on.
func CaptureIfPermitted() (flag string, on bool) {
	if CapturePermitted() {
		return "--capture=on", true
	}
	return "--capture=off", false
}

// SkipWithoutCapture skips the test of a Try this that says sudo where
// this process may not capture.
func SkipWithoutCapture(t *testing.T) {
	t.Helper()
	if !CapturePermitted() {
		t.Skip("this Try this says sudo: capture needs root or CAP_NET_RAW")
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
