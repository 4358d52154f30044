package lessontest

import (
	"flag"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// A lesson's tests mostly wait: on the kernel's timers (retransmissions,
// keepalive probes, a SYN into a full queue), on a browser loading the
// page, on a lesson's pauses; a run of a lesson takes a fraction of a
// second of a CPU. The tests that run the lesson's program in a lab of
// its own run side by side (t.Parallel), more of them at once than
// there are CPUs: see Main.

// parallel is how many tests run at once by default in the packages
// whose TestMain is Main or InLab, where -test.parallel is not given
// (its default is GOMAXPROCS).
const parallel = 10

// Main is the TestMain of a lesson without a link: up to 10 of its
// parallel tests run at once unless -test.parallel says otherwise, and
// no goroutine may be left behind.
func Main(m *testing.M) {
	defaultParallel()
	goleak.VerifyTestMain(m)
}

// defaultParallel sets -test.parallel to parallel unless it was given.
func defaultParallel() {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(parallel))
	}
}

// envAlone marks a test binary that Alone runs again for one test.
const envAlone = "TCPTOUR_LESSONTEST_ALONE"

// Alone runs t, a test that runs a lesson in the test's own process
// (Run checks that the lesson leaves no goroutine behind, which other
// tests' goroutines would fail), in parallel with the package's other
// parallel tests all the same: it runs the test binary again with only
// t, in a process of its own (in the same lab, which the binary
// inherits), and passes, skips or fails as t does there. It reports
// whether it did: the test returns then. In that process it reports
// false, and the test goes on; so it does where the test binary writes
// files (writesFiles: go test's cached runs, profiles), and t then runs
// here, before the parallel tests.
//
//	if lessontest.Alone(t) {
//		return
//	}
func Alone(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envAlone) != "" || writesFiles() {
		return false
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := t.Name()
	// The flags it was given (-test.timeout, -test.short...), but only t,
	// once, on this run's GOMAXPROCS, no benchmark, no fuzzing, with
	// each test's result for the switch below.
	args := append(os.Args[1:len(os.Args):len(os.Args)], "-test.run=^"+regexp.QuoteMeta(name)+"$", "-test.count=1",
		"-test.cpu="+strconv.Itoa(runtime.GOMAXPROCS(0)), "-test.bench=", "-test.fuzz=", "-test.v")
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envAlone+"=1")
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("%s, in a process of its own: %v\n%s", name, err, out)
	case strings.Contains(string(out), "--- SKIP: "+name):
		t.Skipf("%s, in a process of its own, skipped:\n%s", name, out)
	case !strings.Contains(string(out), "--- PASS: "+name):
		t.Fatalf("%s, in a process of its own, did not pass:\n%s", name, out)
	}
	if testing.Verbose() {
		t.Logf("%s, in a process of its own:\n%s", name, out)
	}
	return true
}

// writesFiles reports whether the test binary was given a file to
// write: the go command's log of what the tests read, which its test
// cache keys results on (a process of its own would write it too, over
// this one's, and what it read would be missing from it), a profile, a
// trace, coverage. The test then runs in this process, one at a time.
func writesFiles() bool {
	for _, name := range []string{"test.testlogfile", "test.trace", "test.cpuprofile", "test.memprofile",
		"test.blockprofile", "test.mutexprofile", "test.coverprofile", "test.gocoverdir"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}
