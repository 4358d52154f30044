package cli_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"tcptour/tracer/cli"
)

func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		text string
		code int
	}{
		{os.Interrupt, "interrupted by SIGINT (Ctrl-C)", 130},
		{syscall.SIGTERM, "interrupted by SIGTERM", 143},
		{syscall.SIGHUP, "interrupted by hangup", 129},
	} {
		e := &cli.Interrupted{Signal: tc.sig}
		if e.Error() != tc.text || e.ExitCode() != tc.code {
			t.Errorf("%v: %q %d, want %q %d", tc.sig, e.Error(), e.ExitCode(), tc.text, tc.code)
		}
	}
}

func TestSaid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"I am Chuck Norris!", "I am Chuck Norris!\n"},
		{"a line\n", "a line\n"},
		{"", "\n"},
		{"\x1b[2J clear the screen", "hex 1b5b324a20636c656172207468652073637265656e\n"},
		{"\x00\x01", "hex 0001\n"},
		{strings.Repeat("a", cli.MaxSaid+1), `"` + strings.Repeat("a", 64) + `…" (+961 bytes)` + "\n"},
		// A control character late in short text still counts.
		{strings.Repeat("a", 300) + "\x07", "\"" + strings.Repeat("a", 64) + "…\" (+237 bytes)\n"},
	} {
		if got := cli.Said([]byte(tc.in)); got != tc.want {
			t.Errorf("Said(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
