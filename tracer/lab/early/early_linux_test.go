//go:build linux

// The tests are in a package of their own: one that imports gopacket
// (as a lesson does) and package lab, as a lesson's program does.
package early_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/google/gopacket/layers"

	"tcptour/tracer/lab"
	"tcptour/tracer/lab/early"
)

// envProgram makes this test binary, run without test flags (so that
// package early's init sees a program's arguments), a small lesson-like
// program: outside a lab it prints what it sees and runs itself again
// in a lab with lab.Reexec; in the lab it sets the lab up and prints
// what it found, or, with "decline" as its argument, where package
// early started it (lab.Unchecked), declines, as a lesson whose flags
// are wrong.
const envProgram = "TCPTOUR_EARLYTEST"

// envInterrupt, a signal's number, makes the lab's program, before it
// is set up, send that signal to the program outside alone (as `kill`
// would), which passes it on; envKilled makes it die of SIGKILL, which
// the program outside never got; envSetupFails makes its setup fail.
const (
	envInterrupt  = "TCPTOUR_EARLYTEST_INTERRUPT"
	envKilled     = "TCPTOUR_EARLYTEST_KILLED"
	envSetupFails = "TCPTOUR_EARLYTEST_SETUP_FAILS"
	// envDeclineInterrupted: with "decline", a SIGINT comes as it does.
	envDeclineInterrupted = "TCPTOUR_EARLYTEST_DECLINE_INTERRUPTED"
)

// report is one line the program prints.
type report struct {
	Where     string // "outside" or "lab"
	Early     string // outside, before Reexec: TCPTOUR_LAB_EARLY
	After     string // outside, after Reexec: TCPTOUR_LAB_EARLY again
	PID, PPID int
	NetNS     string
	Euid      int
	Unchecked bool // in the lab: started by package early
	Refused   string
}

func TestMain(m *testing.M) {
	if os.Getenv(envProgram) != "" {
		os.Exit(program())
	}
	os.Exit(m.Run())
}

func program() int {
	out := json.NewEncoder(os.Stdout)
	ns, _ := os.Readlink("/proc/self/ns/net")
	if !lab.Inside() {
		r := report{Where: "outside", Early: os.Getenv("TCPTOUR_LAB_EARLY"), PID: os.Getpid(), NetNS: ns}
		code, err := lab.Reexec()
		r.After = os.Getenv("TCPTOUR_LAB_EARLY")
		var no *lab.Refused
		if errors.As(err, &no) {
			r.Refused = no.Error()
		} else if err != nil {
			r.Refused = "not a refusal: " + err.Error()
		}
		_ = out.Encode(r) // NOTE: ignoring the error: the test reads stdout
		return code
	}
	unchecked := lab.Unchecked()
	if unchecked && len(os.Args) > 1 && os.Args[1] == "decline" {
		if os.Getenv(envDeclineInterrupted) != "" {
			// A Ctrl-C sent to the program outside alone while this
			// one is declining: passed on, it changes nothing here.
			passed := make(chan os.Signal, 1)
			signal.Notify(passed, syscall.SIGINT)
			_ = syscall.Kill(os.Getppid(), syscall.SIGINT) // NOTE: ignoring the error: the test sees the outcome
			<-passed
		}
		lab.Decline()
	}
	if n, err := strconv.Atoi(os.Getenv(envInterrupt)); err == nil {
		// Not listening yet: passed on as it is, the signal ends
		// this program. Passed on as another, which the Go runtime
		// ignores, it would not: the program would go on a while
		// later, set up, and run.
		_ = syscall.Kill(os.Getppid(), syscall.Signal(n)) // NOTE: ignoring the error: the test sees the outcome
		time.Sleep(time.Second)
	}
	if os.Getenv(envKilled) != "" {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL) // NOTE: ignoring the error: the test sees the outcome
		select {}
	}
	var sysctls []lab.Sysctl
	if os.Getenv(envSetupFails) != "" {
		sysctls = []lab.Sysctl{{Name: "net.ipv4.no_such_setting", Value: "1"}}
	}
	if _, err := lab.Setup(sysctls); err != nil {
		return 1
	}
	_ = out.Encode(report{Where: "lab", PID: os.Getpid(), PPID: os.Getppid(), NetNS: ns, Euid: os.Geteuid(), Unchecked: unchecked}) // NOTE: ignoring the error: the test reads stdout
	return 7
}

// copyProgram is a copy of this test binary that the user nobody may run.
func copyProgram(t *testing.T) string {
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
	bin := filepath.Join(dir, "earlytest")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// run runs the program as user with args and env added, and returns
// its reports and exit status.
func run(t *testing.T, bin, user string, env []string, args ...string) ([]report, int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// A lab left running holds stdout: Output returns 30 s after the
	// program ends all the same, and the test says what still runs.
	cmd.WaitDelay = 30 * time.Second
	cmd.Dir = filepath.Dir(bin)
	if user == "nobody" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TCPTOUR_") && !strings.HasPrefix(kv, "SUDO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envProgram+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.Is(err, exec.ErrWaitDelay) {
		t.Errorf("%s ended, but what it started still held its stdout 30 s later", bin)
	} else if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", bin, err)
	}
	var reports []report
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("the program printed %q: %v; stderr:\n%s", sc.Text(), err, stderr.String())
		}
		reports = append(reports, r)
	}
	return reports, cmd.ProcessState.ExitCode(), stderr.String()
}

func users() []string {
	if os.Geteuid() == 0 {
		return []string{"root", "nobody"}
	}
	return []string{"uid" + strconv.Itoa(os.Geteuid())}
}

// The lab's program starts while this one starts, and this one waits
// for it in package early's init: it runs in a network namespace of its
// own, as root there, marked unchecked, and its exit status is this
// one's; this one never reaches its main.
func TestWaited(t *testing.T) {
	bin := copyProgram(t)
	self, _ := os.Readlink("/proc/self/ns/net")
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user, nil)
			if len(reports) == 1 && reports[0].Refused != "" {
				t.Skipf("no lab here for %s: %s", user, reports[0].Refused)
			}
			if len(reports) != 1 || reports[0].Where != "lab" {
				t.Fatalf("reports %+v (exit %d): want the lab's alone; stderr:\n%s", reports, code, stderr)
			}
			in := reports[0]
			if !in.Unchecked {
				t.Errorf("the lab's program is not marked unchecked: it was not the one package early started")
			}
			if in.NetNS == "" || in.NetNS == self || in.Euid != 0 {
				t.Errorf("the lab in %q as euid %d, this test in %q: want a network of its own, as root there", in.NetNS, in.Euid, self)
			}
			if code != 7 {
				t.Errorf("exit status %d, want the lab's 7; stderr:\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr: %s", stderr)
			}
		})
	}
}

// A SIGINT, SIGTERM or SIGHUP sent to the program outside alone before
// the lab is set up stops the lesson: passed on as it is, it ends the
// lab, which does not listen yet, and the program outside exits 128+n,
// and does not go on without a lab, nor start another.
func TestInterruptedBeforeReady(t *testing.T) {
	bin := copyProgram(t)
	for _, user := range users() {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
			t.Run(user+" "+sig.String(), func(t *testing.T) {
				if signal.Ignored(sig) {
					// As under nohup: the programs the test runs
					// start with it ignored too, as asked.
					t.Skipf("%v is ignored here, and so in the programs the test runs", sig)
				}
				reports, code, stderr := run(t, bin, user, []string{envInterrupt + "=" + strconv.Itoa(int(sig))})
				if len(reports) == 1 && reports[0].Refused != "" && !strings.Contains(reports[0].Refused, "could not set itself up") {
					t.Skipf("no lab here for %s: %s", user, reports[0].Refused)
				}
				if len(reports) != 0 || code != 128+int(sig) {
					t.Errorf("reports %+v, exit %d: want none (the program outside ends in its init), %d; stderr:\n%s", reports, code, 128+int(sig), stderr)
				}
			})
		}
	}
}

// A lab killed before it is set up by a signal the program outside did
// not get (SIGKILL, the OOM killer): the program outside ends as it
// did, and starts no other.
func TestKilledBeforeReady(t *testing.T) {
	bin := copyProgram(t)
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user, []string{envKilled + "=1"})
			if len(reports) == 1 && reports[0].Refused != "" && !strings.Contains(reports[0].Refused, "could not set itself up") {
				t.Skipf("no lab here for %s: %s", user, reports[0].Refused)
			}
			if len(reports) != 0 || code != 128+int(syscall.SIGKILL) {
				t.Errorf("reports %+v, exit %d: want none, %d; stderr:\n%s", reports, code, 128+int(syscall.SIGKILL), stderr)
			}
		})
	}
}

// A lab that declines (a lesson whose flags are wrong) goes having said
// nothing, and the program outside goes on the plain way: its main runs,
// and Reexec starts a lab that is not unchecked.
func TestDeclined(t *testing.T) {
	bin := copyProgram(t)
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user, nil, "decline")
			if len(reports) == 1 && reports[0].Refused != "" {
				t.Skipf("no lab here for %s: %s", user, reports[0].Refused)
			}
			if len(reports) != 2 || reports[0].Where != "lab" || reports[1].Where != "outside" || code != 7 || stderr != "" {
				t.Fatalf("reports %+v, exit %d, stderr %q: want the lab's, then the program's outside, 7, nothing", reports, code, stderr)
			}
			in, out := reports[0], reports[1]
			if in.Unchecked || in.PPID != out.PID || out.Early != "" {
				t.Errorf("the lab %+v, the program outside %+v: want a lab Reexec started, not unchecked, and no TCPTOUR_LAB_EARLY", in, out)
			}
		})
	}
}

// A Ctrl-C that comes while the lab declines still stops the program:
// it exits 130, and starts no lab the plain way.
func TestInterruptedWhileDeclining(t *testing.T) {
	bin := copyProgram(t)
	if signal.Ignored(syscall.SIGINT) {
		t.Skip("SIGINT is ignored here, and so in the programs the test runs")
	}
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user, []string{envDeclineInterrupted + "=1"}, "decline")
			if len(reports) == 1 && reports[0].Refused != "" {
				t.Skipf("no lab here for %s: %s", user, reports[0].Refused)
			}
			if len(reports) != 0 || code != 130 {
				t.Errorf("reports %+v, exit %d: want none, 130; stderr:\n%s", reports, code, stderr)
			}
		})
	}
}

// A lab started early that cannot set itself up: the program outside
// goes on, and Reexec, trying the plain way, says why.
func TestSetupFailsEarly(t *testing.T) {
	bin := copyProgram(t)
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user, []string{envSetupFails + "=1"})
			if len(reports) != 1 || reports[0].Where != "outside" {
				t.Fatalf("reports %+v, exit %d: want the program's outside alone; stderr:\n%s", reports, code, stderr)
			}
			if r := reports[0].Refused; !strings.Contains(r, "could not set itself up") || !strings.Contains(r, "no_such_setting") {
				if r != "" && !strings.Contains(r, "could not set itself up") {
					t.Skipf("no lab here for %s: %s", user, r)
				}
				t.Errorf("Reexec said %q: want the lab could not set itself up, with the sysctl", r)
			}
			if code != 0 || stderr != "" {
				t.Errorf("exit %d, stderr %q: want 0 (the program's own), nothing", code, stderr)
			}
		})
	}
}

// Nothing is started in a test binary, nor where the flags ask for the
// host or for help: TCPTOUR_LAB_EARLY stays empty, and Reexec starts
// the lab the plain way. One handed down by the program that started
// this one is not taken for this one's.
func TestNotStarted(t *testing.T) {
	bin := copyProgram(t)
	stale := []string{"TCPTOUR_LAB_EARLY=1 failed net 1", "TCPTOUR_LAB_UNCHECKED=1"}
	for _, c := range []struct {
		args, env []string
	}{{[]string{"-test.v"}, nil}, {[]string{"--host"}, nil}, {[]string{"-h"}, nil}, {[]string{"--host"}, stale}} {
		t.Run(strings.Join(append(c.args, c.env...), " "), func(t *testing.T) {
			reports, code, stderr := run(t, bin, users()[0], c.env, c.args...)
			if len(reports) == 0 || reports[len(reports)-1].Early != "" {
				t.Fatalf("reports %+v: want TCPTOUR_LAB_EARLY empty", reports)
			}
			if out := reports[len(reports)-1]; out.Refused == "" && (len(reports) != 2 || code != 7) {
				t.Errorf("reports %+v, exit %d: want the lab started the plain way; stderr:\n%s", reports, code, stderr)
			}
			if len(reports) == 2 && reports[0].Unchecked {
				t.Errorf("the lab Reexec started is unchecked: TCPTOUR_LAB_UNCHECKED came down from outside")
			}
		})
	}
}

func TestWanted(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"lesson"}, true},
		{[]string{"lesson", "--no-color", "--pcap", "x.pcapng"}, true},
		{[]string{"lesson", "--host=false", "-step"}, true},
		{[]string{"lesson", "-host=0"}, true},
		{[]string{"lesson", "--host"}, false},
		{[]string{"lesson", "-host"}, false},
		{[]string{"lesson", "--json", "-host=true"}, false},
		{[]string{"lesson", "-host=1"}, false},
		{[]string{"lesson", "--pcap", "x.pcapng", "--host"}, false}, // a flag's value, then -host
		{[]string{"lesson", "-h"}, false},
		{[]string{"lesson", "--help"}, false},
		{[]string{"lesson.test", "-test.run=^TestX$"}, false},
		{[]string{"lesson.test", "-test.paniconexit0", "-test.timeout=10m0s"}, false},
		{[]string{"/tmp/go-build1/b001/16.test"}, false}, // a test binary run again by a test

		// after "--", arguments are not flags
		{[]string{"lesson", "--", "--host"}, true},
		{[]string{"lesson", "-"}, true},
		{nil, false},
	} {
		if got := early.Wanted(c.args); got != c.want {
			t.Errorf("Wanted(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

// The lab starts before gopacket fills its tables: package early's init
// runs before gopacket/layers' (GODEBUG=inittrace=1 prints each
// package's init in the order they run).
func TestInitFirst(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	order := map[string]int{}
	for i, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order[f[1]] = i + 1
		}
	}
	for _, later := range []string{"github.com/google/gopacket/layers", "github.com/vishvananda/netlink"} {
		us, them := order["tcptour/tracer/lab/early"], order[later]
		if us == 0 || them == 0 || us > them {
			t.Errorf("inittrace: early's init on line %d, %s's on line %d: want both, early's first\n%s", us, later, them, out)
		}
	}
}
