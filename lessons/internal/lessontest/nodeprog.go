package lessontest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NodeProgram is a small Node.js program run by a test, to check what a
// lesson says about Node against what Node does. The program talks to
// the test through its standard streams: it prints one line per thing
// it saw ("port 41234", "connection 55012", "error EPIPE"), and reads
// lines the test writes to it.
type NodeProgram struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
	t      *testing.T
}

var portRe = regexp.MustCompile(`(?m)^port (\d+)$`)

// StartNode runs node on script (a path relative to the test's
// directory, e.g. testdata/halfopen.js) with args, or skips the test
// where node is not installed. The program is killed when the test ends
// if it has not exited.
func StartNode(t *testing.T, script string, args ...string) *NodeProgram {
	t.Helper()
	node := Node(t)
	p := &NodeProgram{t: t, out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(node, append([]string{script}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Pid is the program's process id.
func (p *NodeProgram) Pid() int { return p.cmd.Process.Pid }

// Port waits for the program's "port N" line and returns N.
func (p *NodeProgram) Port() int {
	p.t.Helper()
	n, err := strconv.Atoi(p.WaitFor(portRe)[1])
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// Send writes a line to the program's standard input.
func (p *NodeProgram) Send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("writing to node: %v\n%s", err, p.Output())
	}
}

// Output returns what the program has printed so far on stdout.
func (p *NodeProgram) Output() string { return p.out.String() }

// WaitFor waits until the program's output matches re and returns the
// match's submatches. It fails the test when the program exits first or
// nothing matches within 20 s.
func (p *NodeProgram) WaitFor(re *regexp.Regexp) []string {
	p.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
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
			p.t.Fatalf("node exited (%v) before printing %q:\n%s\nstderr: %s", p.err, re, p.out.String(), p.stderr.String())
		case <-deadline:
			p.t.Fatalf("no %q from node within 20 s:\n%s\nstderr: %s", re, p.out.String(), p.stderr.String())
		}
	}
}

// Wait closes the program's standard input, which tells the programs
// of these tests to end, waits for it to exit and returns its output. It
// fails the test if the program fails or takes more than 20 s.
func (p *NodeProgram) Wait() string {
	p.t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("node did not exit within 20 s:\n%s", p.out.String())
	}
	if p.err != nil {
		p.t.Fatalf("node: %v\n%s\nstderr: %s", p.err, p.out.String(), p.stderr.String())
	}
	return p.out.String()
}

// Lines returns the program's output lines that start with prefix.
func (p *NodeProgram) Lines(prefix string) []string {
	var lines []string
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return lines
}

// SetFileLimit sets the soft limit on open files (RLIMIT_NOFILE, what
// ulimit -n shows) of the running program, as prlimit --nofile does.
func (p *NodeProgram) SetFileLimit(n uint64) {
	p.t.Helper()
	var old syscall.Rlimit
	if err := prlimit(p.Pid(), syscall.RLIMIT_NOFILE, nil, &old); err != nil {
		p.t.Fatalf("prlimit: %v", err)
	}
	lim := syscall.Rlimit{Cur: n, Max: old.Max}
	if err := prlimit(p.Pid(), syscall.RLIMIT_NOFILE, &lim, nil); err != nil {
		if errors.Is(err, syscall.ENOSYS) || errors.Is(err, os.ErrPermission) {
			p.t.Skipf("cannot lower node's file limit here: %v", err)
		}
		p.t.Fatalf("prlimit: %v", err)
	}
}
