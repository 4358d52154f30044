package lessontest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"tcptour/tracer"
)

// Edit is a change to a lesson's source, as a "Try this" that says
// "change X to Y in main.go" asks for: Old is replaced by New in File
// (main.go when empty). Old must occur in the file exactly once, so that
// a Try this cannot drift away from the code it talks about.
type Edit struct {
	File     string
	Old, New string
}

// InsertAfter is the Edit that adds text right after at.
func InsertAfter(at, text string) Edit { return Edit{Old: at, New: at + text} }

// InsertBefore is the Edit that adds text right before at.
func InsertBefore(at, text string) Edit { return Edit{Old: at, New: text + at} }

// Build builds the lesson in the current directory, with edits applied
// (through the go command's -overlay, so the source tree stays as it is), into a
// temporary directory, and returns the binary's path.
func Build(t *testing.T, edits ...Edit) string {
	t.Helper()
	// Readable by the user nobody, for the tests that run it as nobody.
	dir := NobodyDir(t)
	var args []string
	if len(edits) > 0 {
		replace := map[string]string{}
		for i, e := range edits {
			file := e.File
			if file == "" {
				file = "main.go"
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				t.Fatal(err)
			}
			src, ok := replace[abs]
			if !ok {
				b, err := os.ReadFile(abs)
				if err != nil {
					t.Fatal(err)
				}
				src = string(b)
			}
			if n := strings.Count(src, e.Old); n != 1 {
				t.Fatalf("edit %d: %q occurs %d times in %s, want once", i+1, e.Old, n, file)
			}
			replace[abs] = strings.Replace(src, e.Old, e.New, 1)
		}
		overlay := struct{ Replace map[string]string }{Replace: map[string]string{}}
		for abs, src := range replace {
			edited := filepath.Join(dir, fmt.Sprintf("edited%d.go", len(overlay.Replace)))
			if err := os.WriteFile(edited, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			overlay.Replace[abs] = edited
		}
		js, err := json.Marshal(overlay)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-overlay", path)
	}
	return build(t, filepath.Join(dir, "lesson"), ".", args...)
}

// build builds pkg with the go command's flags into bin. It has go run
// copy the program there (-exec cp: go run runs "cp PROGRAM BIN"). go
// run keeps what it links in the build cache, so only the first build
// of a lesson with a given build cache links (some 1.5 s of CPU, where
// go build linked again each time, a hundred times in a run of the
// suite); the others cost a lookup. go run links without the symbol
// table (-s -w), which no test reads.
func build(t *testing.T, bin, pkg string, flags ...string) string {
	t.Helper()
	args := append(append([]string{"run", "-buildvcs=false", "-exec", "cp"}, flags...), pkg, bin)
	if out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// Node returns the path of the node program, or skips the test with the
// reason where it is not installed.
func Node(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (Debian: apt-get install nodejs; .ci/run installs it): the claims about Node are checked where it is")
	}
	return node
}

// Tool returns the path of a command a Try this uses (ss, nc, nstat,
// tshark), or skips the test with the reason where it is not installed.
func Tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: this Try this is checked where it is", name)
	}
	return p
}

// Held is a lesson binary running with --hold: its steps are done and
// its server listens until Stop.
type Held struct {
	*Proc
	// Addr is where the lesson's server listens, as it printed it.
	Addr netip.AddrPort
}

var holdRe = regexp.MustCompile(`holding: the lesson's server listens on (\S+) until Ctrl-C`)

// Hold starts the lesson binary bin with --hold --no-color and the
// arguments given, and returns once it says where it holds. The lesson is
// stopped when the test ends, if Stop was not called.
func Hold(t *testing.T, bin string, args ...string) *Held {
	t.Helper()
	h := &Held{Proc: Start(t, exec.Command(bin, append([]string{"--hold", "--no-color"}, args...)...))}
	m := h.WaitFor(holdRe)
	ap, err := netip.ParseAddrPort(m[1])
	if err != nil {
		t.Fatalf("the lesson holds on %q: %v", m[1], err)
	}
	h.Addr = ap
	return h
}

// Port is the held server's port, as a Try this's PORT.
func (h *Held) Port() string { return fmt.Sprint(h.Addr.Port()) }

// pasteRe finds the commands a held lesson prints ready to paste.
var pasteRe = regexp.MustCompile(`in another terminal: (.+)`)

// Commands waits until the held lesson has printed want commands for
// another terminal, ready to paste (its HoldCommands, joined to its
// lab), and returns them in order. It fails the test if it prints more.
func (h *Held) Commands(want int) []string {
	h.t.Helper()
	var cmds []string
	h.waitUntil(h.out, fmt.Sprintf("%d commands for another terminal", want), func(text string) bool {
		cmds = cmds[:0]
		for _, line := range strings.SplitAfter(text, "\n") {
			if !strings.HasSuffix(line, "\n") {
				break // a flush may end in the middle of a line
			}
			if strings.HasPrefix(line, "{") {
				// --json: the command is the event's text.
				var e tracer.Event
				if json.Unmarshal([]byte(line), &e) != nil {
					continue
				}
				line = e.Text
			}
			if m := pasteRe.FindStringSubmatch(line); m != nil {
				cmds = append(cmds, strings.TrimSpace(m[1]))
			}
		}
		return len(cmds) >= want
	})
	if len(cmds) != want {
		h.t.Fatalf("the held lesson printed %d commands for another terminal, want %d:\n%s", len(cmds), want, h.Output())
	}
	return cmds
}

// Paste returns a command that runs line, as printed by the held
// lesson, in a shell, as a learner who pastes it into a terminal does.
func (h *Held) Paste(line string) *exec.Cmd {
	return exec.Command("sh", "-c", line)
}

// Stop interrupts the lesson as Ctrl-C does and returns all it printed
// on stdout and stderr. It fails the test unless the lesson exits with
// status 130.
func (h *Held) Stop() (stdout, stderr string) {
	h.t.Helper()
	stdout, stderr = h.Proc.Stop()
	var exit *exec.ExitError
	if !errors.As(h.err, &exit) || exit.ExitCode() != 130 {
		h.t.Errorf("the held lesson exited with %v, want status 130\nstderr: %s", h.err, stderr)
	}
	return stdout, stderr
}

// lockedBuffer is a bytes.Buffer written by a command and read by a
// test, which waits on changed for more.
type lockedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wake chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// changed returns a channel closed at the next Write.
func (l *lockedBuffer) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}
