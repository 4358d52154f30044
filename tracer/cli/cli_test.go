package cli_test

import (
	"io"
	"os"
	"path/filepath"
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

func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, a2, b := open("a"), open("a"), open("b")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var buf1, buf2 strings.Builder
	closed := open("c")
	closed.Close()
	for _, c := range []struct {
		name string
		a, b io.Writer
		want bool
	}{
		{"one file twice", a, a, true},
		{"a file opened twice", a, a2, true},
		{"two files", a, b, false},
		{"one pipe twice", w, w, true},
		{"a pipe and a file", w, a, false},
		{"two buffers", &buf1, &buf2, false},
		{"one buffer", &buf1, &buf1, true},
		{"a file and a buffer", a, &buf1, false},
		{"a closed file: cannot tell", closed, a, true},
		{"two funcs", writerFunc(buf1.Write), writerFunc(buf1.Write), false},
		{"two structs holding a func", wrapped{writerFunc(buf1.Write)}, wrapped{writerFunc(buf1.Write)}, false},
		{"nothing", nil, nil, false},
	} {
		if got := cli.SameFile(c.a, c.b); got != c.want {
			t.Errorf("%s: SameFile = %v, want %v", c.name, got, c.want)
		}
	}
}

// writerFunc is a writer whose type == cannot compare.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// wrapped is a writer whose type == can compare, but not what it holds.
type wrapped struct{ io.Writer }
