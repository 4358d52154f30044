//go:build linux

// The tests are in a package of their own: one that imports gopacket
// (as a lesson does) and package lab, which takes the lab started here.
package early_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"tcptour/tracer/lab"
	"tcptour/tracer/lab/early"
)

// envProgram makes this test binary, run without test flags (so that
// package early's init sees a program's arguments), a small lesson-like
// program: outside a lab it prints what package early started, then
// takes it with lab.Reexec, or, with "decline" as its argument, exits
// without taking it; in the lab it waits to begin (lab.AwaitStart), sets
// the lab up and prints what it found.
const envProgram = "TCPTOUR_EARLYTEST"

// report is one line the program prints.
type report struct {
	Where   string // "outside" or "lab"
	Early   string // outside, before Reexec: TCPTOUR_LAB_EARLY
	After   string // outside, after Reexec: TCPTOUR_LAB_EARLY again
	PID     int
	NetNS   string
	Euid    int
	Refused string
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
		if len(os.Args) > 1 && os.Args[1] == "decline" {
			// As a lesson whose flags are wrong: it exits, and the
			// lab started for it dies having said nothing.
			_ = out.Encode(r) // NOTE: ignoring the error: the test reads stdout
			return 0
		}
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
	lab.AwaitStart()
	if _, err := lab.Setup(nil); err != nil {
		return 1
	}
	_ = out.Encode(report{Where: "lab", PID: os.Getpid(), NetNS: ns, Euid: os.Geteuid()}) // NOTE: ignoring the error: the test reads stdout
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

// run runs the program as user with args, and returns its reports and
// exit status.
func run(t *testing.T, bin, user string, args ...string) ([]report, int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
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
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
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

// The lab's program starts while this one starts, and Reexec takes it:
// it runs in a network namespace of its own, as root there, begins only
// when told, and its exit status comes back.
func TestTaken(t *testing.T) {
	bin := copyProgram(t)
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user)
			if len(reports) == 2 && strings.HasPrefix(reports[1].Early, "failed ") {
				t.Skipf("no lab here for %s: %s", user, reports[1].Refused)
			}
			if len(reports) != 2 || reports[0].Where != "lab" || reports[1].Where != "outside" {
				t.Fatalf("reports %+v (exit %d): want the lab's, then the program's outside; stderr:\n%s", reports, code, stderr)
			}
			in, out := reports[0], reports[1]
			if f := strings.Fields(out.Early); len(f) != 5 || f[0] != "started" || f[2] != strconv.Itoa(in.PID) {
				t.Errorf("TCPTOUR_LAB_EARLY before Reexec %q: want \"started KIND %d READY GO\", the lab's pid", out.Early, in.PID)
			}
			if out.After != "" {
				t.Errorf("TCPTOUR_LAB_EARLY after Reexec %q: want it cleared, for the commands the lesson runs", out.After)
			}
			if out.Refused != "" {
				t.Errorf("Reexec: %s", out.Refused)
			}
			if in.NetNS == "" || in.NetNS == out.NetNS || in.Euid != 0 {
				t.Errorf("the lab in %q as euid %d, the program outside in %q: want a network of its own, as root there", in.NetNS, in.Euid, out.NetNS)
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

// A program that goes on without the lab started for it leaves nothing:
// the lab prints nothing, and is gone once the program has ended.
func TestDeclined(t *testing.T) {
	bin := copyProgram(t)
	for _, user := range users() {
		t.Run(user, func(t *testing.T) {
			reports, code, stderr := run(t, bin, user, "decline")
			if len(reports) != 1 || reports[0].Where != "outside" || code != 0 || stderr != "" {
				t.Fatalf("reports %+v, exit %d, stderr %q: want the program's alone, 0, nothing", reports, code, stderr)
			}
			f := strings.Fields(reports[0].Early)
			if len(f) == 3 && f[0] == "failed" {
				t.Skipf("no lab here for %s: %s", user, reports[0].Early)
			}
			if len(f) != 5 || f[0] != "started" {
				t.Fatalf("TCPTOUR_LAB_EARLY %q: want a lab started", reports[0].Early)
			}
			pid, _ := strconv.Atoi(f[2])
			fd, err := unix.PidfdOpen(pid, 0)
			if errors.Is(err, unix.ESRCH) {
				return // gone, and reaped
			}
			if err != nil {
				t.Skipf("pidfd_open: %v", err)
			}
			defer unix.Close(fd)
			// Readable when the process has ended.
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				n, err := unix.Poll(pfd, int((30 * time.Second).Milliseconds()))
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err != nil || n != 1 {
					t.Fatalf("the lab started for the program (pid %d) still runs 30 s after it ended (poll: %d, %v)", pid, n, err)
				}
				break
			}
		})
	}
}

// Nothing is started in a test binary, nor where the flags ask for the
// host or for help: TCPTOUR_LAB_EARLY stays empty, and Reexec starts
// the lab the plain way.
func TestNotStarted(t *testing.T) {
	bin := copyProgram(t)
	for _, args := range [][]string{{"-test.v"}, {"--host"}, {"-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			reports, code, stderr := run(t, bin, users()[0], args...)
			if len(reports) == 0 || reports[len(reports)-1].Early != "" {
				t.Fatalf("reports %+v: want TCPTOUR_LAB_EARLY empty", reports)
			}
			if out := reports[len(reports)-1]; out.Refused == "" && (len(reports) != 2 || code != 7) {
				t.Errorf("reports %+v, exit %d: want the lab started the plain way; stderr:\n%s", reports, code, stderr)
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
		{[]string{"lesson", "-h"}, false},
		{[]string{"lesson", "--help"}, false},
		{[]string{"lesson.test", "-test.run=^TestX$"}, false},
		{[]string{"lesson.test", "-test.paniconexit0", "-test.timeout=10m0s"}, false},
		{[]string{"/tmp/go-build1/b001/16.test"}, false}, // a test binary run again by a test

		// package flag stops at the first argument that is not a flag
		{[]string{"lesson", "extra", "--host"}, true},
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
	for _, later := range []string{"time", "github.com/google/gopacket/layers", "github.com/vishvananda/netlink"} {
		us, them := order["tcptour/tracer/lab/early"], order[later]
		if us == 0 || them == 0 || us > them {
			t.Errorf("inittrace: early's init on line %d, %s's on line %d: want both, early's first\n%s", us, later, them, out)
		}
	}
}
