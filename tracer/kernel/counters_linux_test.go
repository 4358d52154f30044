//go:build linux

package kernel_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
)

// TestCountersInLab runs this test binary again as a program in a lab
// of its own (package lab), whose kernel counts for it alone:
// TestCountersProgram, with TCPTOUR_COUNTERSTEST set, opens one
// connection and closes it, has one refused, and prints what
// ReadCounters and Since said, and what nstat, run in the lab, says.
const envCounters = "TCPTOUR_COUNTERSTEST"

// countersNames are the counters the program's connections move.
var countersNames = []string{"TcpActiveOpens", "TcpPassiveOpens", "TcpAttemptFails", "TcpEstabResets", "TcpOutRsts", "TcpExtListenOverflows"}

type countersReport struct {
	NoLab  string // why there is no lab
	Before kernel.Counters
	Since  []kernel.CounterChange
	After  kernel.Counters
	Nstat  map[string]int64 // nstat -asjz in the lab, after; nil without nstat
	Err    string
}

func TestCountersProgram(t *testing.T) {
	if os.Getenv(envCounters) == "" {
		t.Skip("the program TestCountersInLab runs, not a test")
	}
	var r countersReport
	if err := countersProgram(&r); err != nil {
		r.Err = err.Error()
	}
	// NOTE: ignoring the error: the test reads stdout.
	_ = json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

func countersProgram(r *countersReport) error {
	if !lab.Inside() {
		code, err := lab.Reexec()
		if err != nil {
			r.NoLab = err.Error()
			return nil
		}
		os.Exit(code)
	}
	if _, err := lab.Setup(nil); err != nil {
		return err
	}
	var err error
	if r.Before, err = kernel.ReadCounters(); err != nil {
		return err
	}
	// One connection, closed by the client first and then by the
	// server: no RST.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	server, err := ln.Accept()
	if err != nil {
		return err
	}
	client.Close()
	if _, err := server.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("the server's read: %v, want EOF", err)
	}
	server.Close()
	// One connect refused: the port is closed, the kernel answers
	// the SYN with RST.
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if _, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port)); !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("dial a closed port: %v, want ECONNREFUSED", err)
	}
	if r.After, err = kernel.ReadCounters(); err != nil {
		return err
	}
	r.Since = r.After.Since(r.Before, countersNames)
	if nstat, err := exec.LookPath("nstat"); err == nil {
		// -a: absolute values, -s: no history kept, -j: JSON, -z:
		// zeros too.
		out, err := exec.Command(nstat, "-asjz").Output()
		if err != nil {
			return fmt.Errorf("nstat: %w", err)
		}
		var v struct{ Kernel map[string]int64 }
		if err := json.Unmarshal(out, &v); err != nil {
			return fmt.Errorf("nstat: %w: %s", err, out)
		}
		r.Nstat = v.Kernel
	}
	// Keep only the counters the test reads.
	for _, c := range []map[string]int64{r.Before, r.After, r.Nstat} {
		maps.DeleteFunc(c, func(name string, _ int64) bool { return !slices.Contains(countersNames, name) })
	}
	return nil
}

// A lab's counters start at zero and count its own connections alone:
// Since says exactly what the program's connections did, and nstat, run
// in the lab, agrees.
func TestCountersInLab(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"uid" + strconv.Itoa(os.Geteuid())}
	if os.Geteuid() == 0 {
		users = append(users, "nobody")
	}
	for _, user := range users {
		t.Run(user, func(t *testing.T) {
			bin := exe
			cmd := exec.Command(bin, "-test.run=^TestCountersProgram$")
			if user == "nobody" {
				bin = nobodyCopy(t, exe)
				cmd = exec.Command(bin, "-test.run=^TestCountersProgram$")
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
				cmd.Dir = filepath.Dir(bin)
			}
			cmd.Env = append(os.Environ(), envCounters+"=1")
			if os.Getenv("GORACE") == "" {
				// Built with -race, it would sleep 1 s at exit.
				cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			var r countersReport
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("the program's report %q: %v\n%s", out, err, stderr.String())
			}
			switch {
			case r.NoLab != "":
				t.Skip(r.NoLab)
			case r.Err != "":
				t.Fatal(r.Err)
			}
			for _, n := range countersNames {
				if r.Before[n] != 0 {
					t.Errorf("a new lab's %s is %d, want 0", n, r.Before[n])
				}
			}
			want := []kernel.CounterChange{
				{Name: "TcpActiveOpens", Delta: 2, Value: 2},  // two SYNs sent
				{Name: "TcpPassiveOpens", Delta: 1, Value: 1}, // one accepted
				{Name: "TcpAttemptFails", Delta: 1, Value: 1}, // one refused
				{Name: "TcpOutRsts", Delta: 1, Value: 1},      // the RST that refused it
			}
			if fmt.Sprint(r.Since) != fmt.Sprint(want) {
				t.Errorf("Since: %v\nwant   %v", r.Since, want)
			}
			if r.Nstat == nil {
				t.Log("no nstat here: its agreement is not checked")
				return
			}
			t.Logf("nstat -asjz in the lab: %v", r.Nstat)
			for _, n := range countersNames {
				if r.Nstat[n] != r.After[n] {
					t.Errorf("%s: nstat says %d, ReadCounters %d", n, r.Nstat[n], r.After[n])
				}
			}
		})
	}
}

// nobodyCopy copies the test binary where the user nobody may run it.
func nobodyCopy(t *testing.T, exe string) string {
	t.Helper()
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
	bin := filepath.Join(dir, "kernel.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
