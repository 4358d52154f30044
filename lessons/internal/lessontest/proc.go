package lessontest

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BuildPackage builds a command of the module, such as
// "tcptour/server" for a Try this's `go run ./server`, into a temporary
// directory that the user nobody can read, and returns the binary's
// path.
func BuildPackage(t *testing.T, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	// The test's temporary directory and the one above it, which the
	// testing package makes 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, path.Base(pkg))
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildvcs=false", "-o", bin, pkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Proc is a command that a test runs in the background, as a learner
// runs a server in one terminal and tries things in another.
type Proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
}

// Start starts cmd with its output captured. It is killed when the test
// ends, if Stop was not called.
func Start(t *testing.T, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// WaitFor waits until the command's stdout matches re and returns the
// submatches; it fails the test if the command exits first or nothing
// matches within 20 s.
func (p *Proc) WaitFor(re *regexp.Regexp) []string {
	p.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		// The channel first: a write after the check wakes the wait.
		changed := p.out.changed()
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		select {
		case <-changed:
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited (%v) before printing %q:\n%s\nstderr: %s", p.cmd.Path, p.err, re, p.out.String(), p.stderr.String())
		case <-deadline:
			p.t.Fatalf("no %q from %s within 20 s:\n%s\nstderr: %s", re, p.cmd.Path, p.out.String(), p.stderr.String())
		}
	}
}

// Output returns what the command has printed on stdout so far.
func (p *Proc) Output() string { return p.out.String() }

// Stderr returns what the command has printed on stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Wait waits for the command to exit by itself, for 60 s at most, and
// returns all it printed on stdout and its exit: nil for status 0.
func (p *Proc) Wait() (string, error) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s did not end within 60 s:\n%s\nstderr: %s", p.cmd.Path, p.out.String(), p.stderr.String())
	}
	return p.out.String(), p.err
}

// Stop interrupts the command as Ctrl-C does, waits for it to exit and
// returns what it printed.
func (p *Proc) Stop() (stdout, stderr string) {
	p.t.Helper()
	// NOTE: ignoring the error: the command may have exited already.
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not stop within 20 s of SIGINT", p.cmd.Path)
	}
	return p.out.String(), p.stderr.String()
}

// InOrder checks that the strings appear in text in that order, each
// after the one before. A string may span the line breaks of a wrapped
// note: whitespace in it matches any run of whitespace.
func InOrder(t *testing.T, text string, want ...string) {
	t.Helper()
	at := 0
	for _, w := range want {
		re := regexp.MustCompile(strings.Join(strings.Fields(regexp.QuoteMeta(w)), `\s+`))
		loc := re.FindStringIndex(text[at:])
		if loc == nil {
			t.Fatalf("no %q after %q in:\n%s", w, text[max(0, at-80):at], text)
		}
		at += loc[1]
	}
}

// Section returns the part of text from the first from up to the first
// to after it.
func Section(t *testing.T, text, from, to string) string {
	t.Helper()
	i := strings.Index(text, from)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", from, text)
	}
	j := strings.Index(text[i:], to)
	if j < 0 {
		t.Fatalf("no %q after %q in:\n%s", to, from, text)
	}
	return text[i : i+j]
}
