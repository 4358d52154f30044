//go:build linux

package lab_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/tracer/lab"
)

// The tests below run this test binary again as a small program that
// makes a lab, as a lesson's Main does: TestLabProgram, with
// TCPTOUR_LABTEST in its environment, calls [lab.Reexec], and, run
// again in the lab, [lab.Setup]. There it prints what it found on one
// JSON line (a labReport), then does what it reads on stdin, passed on
// by the program outside: "echo WORDS", "exit N", "wait-sigint".
const (
	envProgram = "TCPTOUR_LABTEST"
	envSysctl  = "TCPTOUR_LABTEST_SYSCTL" // NAME=VALUE, given to Setup
)

// labReport is what the program in the lab found there.
type labReport struct {
	Info        lab.Info
	Join        string
	NetNS       string   // readlink /proc/self/ns/net
	LoUp        bool     // lo's flags have UP
	Values      []string // each of Info.Sysctls as read back in the lab
	Euid        int
	StdinTTY    bool // lab.StdinTerminal()
	Refused     *refusal
	SetupFailed string
}

type refusal struct{ Cause, Fix, Error string }

func TestLabProgram(t *testing.T) {
	if os.Getenv(envProgram) == "" {
		t.Skip("the program the tests below run, not a test")
	}
	os.Exit(labProgram())
}

func labProgram() int {
	out := json.NewEncoder(os.Stdout)
	if !lab.Inside() {
		code, err := lab.Reexec()
		var no *lab.Refused
		switch {
		case errors.As(err, &no):
			// NOTE: ignoring the error: the test reads stdout.
			_ = out.Encode(labReport{Refused: &refusal{no.Cause, no.Fix, no.Error()}})
			return 3
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
			return 4
		}
		return code
	}
	var sysctls []lab.Sysctl
	if s := os.Getenv(envSysctl); s != "" {
		name, value, _ := strings.Cut(s, "=")
		sysctls = append(sysctls, lab.Sysctl{Name: name, Value: value, Why: "a test"})
	}
	info, err := lab.Setup(sysctls)
	if err != nil {
		// As Main does: exit without a word; Setup told the
		// program outside why.
		return 1
	}
	r := labReport{Info: *info, Join: info.Join(), Euid: os.Geteuid(), StdinTTY: lab.StdinTerminal()}
	r.NetNS, _ = os.Readlink("/proc/self/ns/net")
	if lo, err := net.InterfaceByName("lo"); err == nil {
		r.LoUp = lo.Flags&net.FlagUp != 0
	}
	for _, s := range info.Sysctls {
		b, _ := os.ReadFile("/proc/sys/" + strings.ReplaceAll(s.Name, ".", "/"))
		r.Values = append(r.Values, strings.TrimSpace(string(b)))
	}
	if err := out.Encode(r); err != nil {
		return 5
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "echo":
			fmt.Println(arg)
		case "exit":
			n, _ := strconv.Atoi(arg)
			return n
		case "wait-sigint":
			sigs := lab.Interrupts()
			fmt.Println("waiting for SIGINT")
			<-sigs
			fmt.Println("got SIGINT")
			// Die of it, as a program that does not catch it.
			signal.Reset(os.Interrupt)
			// NOTE: ignoring the error: the signal is our own.
			_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
			time.Sleep(time.Minute)
			return 6
		}
	}
	return 0
}

// program is a copy of this test binary that the user nobody may run.
func program(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "labtest")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// users are the users the tests run the program as: this one, and,
// when it is root, nobody too (uid 65534), who makes the lab in a user
// namespace.
func users(t *testing.T) []string {
	if os.Geteuid() == 0 {
		return []string{"root", "nobody"}
	}
	return []string{"uid" + strconv.Itoa(os.Geteuid())}
}

// command runs name as user ("nobody", or this user).
func command(user, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if user == "nobody" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	return cmd
}

// labProc is the program, running.
type labProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at EOF
	stderr lockedBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
}

// startLab starts the program as user, with stdin a pipe (or tty when
// not nil) and env added to the environment. The program has no
// SUDO_UID, whatever the tests run under.
func startLab(t *testing.T, bin, user string, tty *os.File, env ...string) *labProc {
	t.Helper()
	p := &labProc{t: t, cmd: command(user, bin, "-test.run=^TestLabProgram$"), lines: make(chan string, 16), done: make(chan struct{})}
	p.cmd.Dir = filepath.Dir(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUDO_") && !strings.HasPrefix(kv, "TCPTOUR_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, envProgram+"=1", goraceEnv())
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stderr = &p.stderr
	var err error
	if tty != nil {
		p.cmd.Stdin = tty
	} else if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reading sync.WaitGroup
	reading.Add(1)
	go func() {
		defer reading.Done()
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		reading.Wait() // Wait closes stdout
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// NOTE: ignoring the error: it may have exited. The lab, its
		// child, is killed with it (Pdeathsig).
		_ = p.cmd.Process.Kill()
		for range p.lines {
		}
		<-p.done
	})
	return p
}

// line returns the next line the program prints.
func (p *labProc) line() string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			p.t.Fatalf("the program ended (%v) where a line was expected; stderr:\n%s", p.err, p.stderr.String())
		}
		return l
	case <-time.After(30 * time.Second):
		p.t.Fatalf("no line from the program in 30 s; stderr:\n%s", p.stderr.String())
	}
	return ""
}

// report returns the program's first line, what it found in the lab.
func (p *labProc) report() labReport {
	p.t.Helper()
	l := p.line()
	var r labReport
	if err := json.Unmarshal([]byte(l), &r); err != nil {
		p.t.Fatalf("the program's report %q: %v", l, err)
	}
	if r.Refused != nil {
		p.t.Fatalf("no lab: %s", r.Refused.Error)
	}
	return r
}

func (p *labProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("write %q to the program: %v", line, err)
	}
}

// exit waits for the program to end and returns its exit status.
func (p *labProc) exit() int {
	p.t.Helper()
	for l := range p.lines {
		p.t.Errorf("the program printed, unasked: %q", l)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatal("the program did not end in 30 s")
	}
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		p.t.Fatalf("the program: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// goraceEnv keeps a program built with -race from sleeping 1 s at exit,
// as it does by default, unless GORACE says otherwise.
func goraceEnv() string {
	if g := os.Getenv("GORACE"); g != "" {
		return "GORACE=" + g
	}
	return "GORACE=atexit_sleep_ms=0"
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// skipWithoutLab skips the test where this machine refuses labs to
// user, as a lesson would say.
func skipWithoutLab(t *testing.T, bin, user string) {
	t.Helper()
	p := startLab(t, bin, user, nil)
	l := p.line()
	var r labReport
	if err := json.Unmarshal([]byte(l), &r); err == nil && r.Refused != nil {
		t.Skipf("no lab here for %s: %s", user, r.Refused.Error)
	}
	p.stdin.Close()
	if code := p.exit(); code != 0 {
		t.Fatalf("the program exited with %d; stderr:\n%s", code, p.stderr.String())
	}
}

func TestReexec(t *testing.T) {
	bin := program(t)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no /proc/self/ns/net here: %v", err)
	}
	for _, user := range users(t) {
		t.Run(user, func(t *testing.T) {
			skipWithoutLab(t, bin, user)
			p := startLab(t, bin, user, nil, envSysctl+"=net.ipv4.tcp_fin_timeout=7")
			r := p.report()
			if r.NetNS == "" || r.NetNS == host {
				t.Errorf("the lab's network namespace is %q, this test's %q: want a new one", r.NetNS, host)
			}
			if !r.LoUp {
				t.Error("lo is down in the lab")
			}
			// Root in the lab: in a user namespace of its own when
			// it is not root outside.
			if r.Euid != 0 || r.Info.User != (user != "root") {
				t.Errorf("in the lab, euid %d, in a user namespace: %v; want 0, %v", r.Euid, r.Info.User, user != "root")
			}
			// The lab's setting, and the kernel's default for a new
			// network namespace (TCP_FIN_TIMEOUT, 60 s), recorded.
			want := lab.Sysctl{Name: "net.ipv4.tcp_fin_timeout", Value: "7", Why: "a test", Default: "60"}
			if len(r.Info.Sysctls) != 1 || r.Info.Sysctls[0] != want || len(r.Values) != 1 || r.Values[0] != "7" {
				t.Errorf("sysctls %+v, read back %q; want %+v, 7", r.Info.Sysctls, r.Values, want)
			}
			if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fin_timeout"); err == nil && strings.TrimSpace(string(b)) == "7" {
				t.Error("the lab's tcp_fin_timeout reached this test's network")
			}
			if r.Info.Sudo || strings.HasPrefix(r.Join, "sudo") {
				t.Errorf("a lab made without sudo says to join it with sudo: %q", r.Join)
			}
			if !strings.HasPrefix(r.Join, "nsenter -t "+strconv.Itoa(r.Info.PID)+" ") {
				t.Errorf("join command %q, lab's pid %d", r.Join, r.Info.PID)
			}

			// Join, as another terminal of the same user does: the
			// command printed, then a command.
			join := func(args ...string) string {
				t.Helper()
				words := append(strings.Fields(r.Join), args...)
				cmd := command(user, words[0], words[1:]...)
				out, err := cmd.Output()
				if err != nil {
					var stderr []byte
					if exit, ok := err.(*exec.ExitError); ok {
						stderr = exit.Stderr
					}
					t.Fatalf("%s: %v\n%s", strings.Join(words, " "), err, stderr)
				}
				return strings.TrimSpace(string(out))
			}
			if got := join("readlink", "/proc/self/ns/net"); got != r.NetNS {
				t.Errorf("%s readlink /proc/self/ns/net: %s, want the lab's %s", r.Join, got, r.NetNS)
			}
			if ip, err := exec.LookPath("ip"); err == nil {
				links := strings.Split(join(ip, "-o", "link"), "\n")
				if len(links) != 1 || !strings.Contains(links[0], ": lo: <LOOPBACK,UP") {
					t.Errorf("%s ip -o link: want lo alone, up; got\n%s", r.Join, strings.Join(links, "\n"))
				}
			}

			// What this program reads on stdin reaches the lab, and
			// the lab's exit status comes back.
			p.send("echo hello from outside")
			if l := p.line(); l != "hello from outside" {
				t.Errorf("echo: %q", l)
			}
			p.send("exit 7")
			if code := p.exit(); code != 7 {
				t.Errorf("exit status %d, want 7; stderr:\n%s", code, p.stderr.String())
			}
			if s := p.stderr.String(); s != "" {
				t.Errorf("stderr: %s", s)
			}
		})
	}
}

// Ctrl-C reaches the program outside (the lab is in a process group of
// its own, out of the terminal's reach): it passes SIGINT on, and a lab
// that dies of it makes the program outside exit with 130, as a shell
// reports it.
func TestReexecSIGINT(t *testing.T) {
	bin := program(t)
	for _, user := range users(t) {
		t.Run(user, func(t *testing.T) {
			skipWithoutLab(t, bin, user)
			p := startLab(t, bin, user, nil)
			p.report()
			p.send("wait-sigint")
			if l := p.line(); l != "waiting for SIGINT" {
				t.Fatalf("got %q", l)
			}
			if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if l := p.line(); l != "got SIGINT" {
				t.Errorf("got %q", l)
			}
			if code := p.exit(); code != 130 {
				t.Errorf("exit status %d, want 130; stderr:\n%s", code, p.stderr.String())
			}
		})
	}
}

// On a terminal, the lab reads what is typed there through the program
// outside, and knows its stdin is a terminal's.
func TestReexecTerminal(t *testing.T) {
	bin := program(t)
	user := users(t)[0]
	skipWithoutLab(t, bin, user)
	master, tty, err := openTerminal()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer master.Close()
	defer tty.Close()
	p := startLab(t, bin, user, tty)
	if r := p.report(); !r.StdinTTY {
		t.Error("in the lab, stdin is not a terminal's")
	}
	if _, err := io.WriteString(master, "echo typed\n"); err != nil {
		t.Fatal(err)
	}
	if l := p.line(); l != "typed" {
		t.Errorf("echo: %q", l)
	}
	if _, err := io.WriteString(master, "exit 0\n"); err != nil {
		t.Fatal(err)
	}
	if code := p.exit(); code != 0 {
		t.Errorf("exit status %d; stderr:\n%s", code, p.stderr.String())
	}
}

// openTerminal opens a pseudo-terminal, echo off.
func openTerminal() (master, tty *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err == nil {
		var n int
		if n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN); err == nil {
			tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		}
	}
	if err == nil {
		var term *unix.Termios
		if term, err = unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err == nil {
			term.Lflag &^= unix.ECHO
			err = unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, term)
		}
	}
	if err != nil {
		if tty != nil {
			tty.Close()
		}
		master.Close()
		return nil, nil, err
	}
	return master, tty, nil
}

// A lab that cannot set itself up (a sysctl the kernel does not have)
// tells the program outside why and exits before its program runs:
// Reexec reports it as refused, with the reason, so that a lesson says
// it in one line and goes on on the host.
func TestReexecSetupFails(t *testing.T) {
	bin := program(t)
	user := users(t)[0]
	skipWithoutLab(t, bin, user)
	p := startLab(t, bin, user, nil, envSysctl+"=net.ipv4.tcp_no_such_setting=1")
	var r labReport
	if err := json.Unmarshal([]byte(p.line()), &r); err != nil || r.Refused == nil {
		t.Fatalf("want a refusal, got %+v (%v)", r, err)
	}
	if !strings.Contains(r.Refused.Cause, "the lab could not set itself up: sysctl net.ipv4.tcp_no_such_setting = 1: ") {
		t.Errorf("the refusal should say why the lab could not set itself up: cause %q", r.Refused.Cause)
	}
	if s := p.stderr.String(); s != "" {
		t.Errorf("the lab should say nothing on stderr (the program outside says why), said %q", s)
	}
	if code := p.exit(); code != 3 {
		t.Errorf("exit status %d", code)
	}
}

// Where the system refuses namespaces, Reexec names the cause and a
// fix. Each case runs the program in a user namespace of its own whose
// limits forbid what the lab needs, made with unshare(1) as the user
// running the tests (the machine's own limits do not change):
//
//   - root there (as root runs a lesson): it makes a network namespace
//     alone, and user.max_net_namespaces = 0 refuses it;
//   - another user there (1000, keeping the capabilities to set the
//     limits): it makes a user namespace, and user.max_user_namespaces = 0
//     refuses it;
//   - the same, where the limit is reached in the namespace above
//     (user.max_user_namespaces = 1 there, one made already): ENOSPC,
//     with no limit of 0 to name.
func TestReexecRefused(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed: these cases make user namespaces with it")
	}
	bin := program(t)
	// Run by sh -c SCRIPT PROGRAM ARGS, in the user namespace unshare
	// made: "$0" is the program.
	const limits = `echo 0 >/proc/sys/user/max_user_namespaces && echo 0 >/proc/sys/user/max_net_namespaces && exec "$0" "$@"`
	for _, tc := range []struct {
		name   string
		args   []string // unshare's, then sh -c's script
		cause  string
		fix    string
		prefix bool // cause is the start of the cause
	}{
		{"root, no network namespaces", []string{"-U", "-r", "sh", "-c", limits},
			"network namespaces are turned off (user.max_net_namespaces = 0)", "sudo sysctl -w user.max_net_namespaces=15000", false},
		{"user, no user namespaces", []string{"-U", "--map-user=1000", "--map-group=1000", "--keep-caps", "sh", "-c", limits},
			"user namespaces are turned off (user.max_user_namespaces = 0)", "sudo sysctl -w user.max_user_namespaces=15000, or run the lesson with sudo", false},
		{"user, limit reached", []string{"-U", "-r", "sh", "-c", `echo 1 >/proc/sys/user/max_user_namespaces && exec unshare -U --map-user=1000 --map-group=1000 "$0" "$@"`},
			"no more user or network namespaces may be made", "raise the limit, or run the lesson with sudo", true},
		{"root without CAP_SYS_ADMIN", []string{"-U", "-r", "setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"},
			"root here lacks CAP_SYS_ADMIN, which a network namespace needs", "run the lesson outside the container, or in one given the capability (docker run --cap-add SYS_ADMIN); meanwhile --host runs it without a lab", true},
		{"user, no ids mapped", []string{"-U", "sh", "-c", `exec "$0" "$@"`},
			"this program runs in a user namespace that maps no user ids, in which no other may be made", "run the lesson from a shell outside it (unshare -U without -r makes one), or with --host", true},
	} {
		for _, user := range users(t) {
			t.Run(tc.name+"/"+user, func(t *testing.T) {
				args := append(tc.args[:len(tc.args):len(tc.args)], bin, "-test.run=^TestLabProgram$")
				cmd := command(user, unshare, args...)
				cmd.Dir = filepath.Dir(bin)
				cmd.Env = append(os.Environ(), envProgram+"=1", goraceEnv())
				var stderr lockedBuffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if strings.HasPrefix(stderr.String(), "unshare: ") {
					t.Skipf("unshare %s as %s: %v: %s", strings.Join(tc.args[:len(tc.args)-3], " "), user, err, stderr.String())
				}
				var r labReport
				if err := json.Unmarshal(out, &r); err != nil || r.Refused == nil {
					t.Fatalf("want a refusal, got %q (%v); stderr:\n%s", out, err, stderr.String())
				}
				if cause := r.Refused.Cause; !(cause == tc.cause || tc.prefix && strings.HasPrefix(cause, tc.cause)) || r.Refused.Fix != tc.fix {
					t.Errorf("cause %q, fix %q;\nwant %q, %q", cause, r.Refused.Fix, tc.cause, tc.fix)
				}
				if want := "no lab here: " + r.Refused.Cause + ": " + r.Refused.Fix; r.Refused.Error != want || strings.Contains(want, "\n") {
					t.Errorf("error %q, want one line %q", r.Refused.Error, want)
				}
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 3 {
					t.Errorf("exit: %v", err)
				}
			})
		}
	}
}

// Outside a lab, Setup does nothing and says so with a nil Info.
func TestSetupOutsideLab(t *testing.T) {
	if lab.Inside() {
		t.Skip("this test runs in a lab")
	}
	info, err := lab.Setup([]lab.Sysctl{{Name: "net.ipv4.tcp_fin_timeout", Value: "7"}})
	if info != nil || err != nil {
		t.Errorf("Setup outside a lab: %+v, %v", info, err)
	}
}
