//go:build linux

package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRun runs capbench on a small burst, in a network namespace of its
// own (root only): its pcapng file and the pipeline's each hold every
// segment the kernel sent, once, with every frame tcpdump's file holds
// (where tcpdump is installed); the pipeline's trace shows them all.
func TestRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the burst runs in a network namespace of its own")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-n", "40", "-c", "2", "-timeout", "1m"}
	tcpdump := true
	if _, err := exec.LookPath("tcpdump"); err != nil {
		args = append(args, "-tcpdump", "")
		tcpdump = false
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "CAPBENCH_TEST_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	out := string(b)
	if err != nil {
		t.Fatalf("capbench %q: %v\n%s\n%s", args, err, out, stderr.String())
	}
	t.Logf("capbench %q:\n%s", args, out)
	// Two tables: the pcapng child's burst, the pipeline's; each with
	// tcpdump's column after ours.
	cols := 1
	if tcpdump {
		cols = 2
	}
	expected := rows(t, out, "packets expected", cols)
	captured := rows(t, out, "captured (in its file)", cols)
	dups := rows(t, out, "duplicated", cols)
	lost := rows(t, out, "lost (expected - distinct)", cols)
	for i, name := range []string{"capture → pcapng", "lesson pipeline"} {
		if expected[i][0] == "0" {
			t.Fatalf("%s: no packets expected:\n%s", name, out)
		}
		if captured[i][0] != expected[i][0] || dups[i][0] != "0" || lost[i][0] != "0" {
			t.Errorf("%s: %s packets in its file, %s duplicated, %s lost; want %s, 0, 0",
				name, captured[i][0], dups[i][0], lost[i][0], expected[i][0])
		}
		if tcpdump {
			// tcpdump may drop (its count is then no reference), but
			// every frame in its file is in ours.
			m := regexp.MustCompile(`(?m)^` + name + ` and tcpdump's files: (\d+) frames in both; only in .*: \d+; only in tcpdump's: (\d+)`).FindStringSubmatch(out)
			if m == nil || m[1] != captured[i][1] || m[2] != "0" {
				t.Errorf("%s: want every frame of tcpdump's file in ours (tcpdump's has %s):\n%s", name, captured[i][1], out)
			}
		}
	}
	m := regexp.MustCompile(`lesson pipeline: (\d+) packets in the trace, printed to a file of [1-9]\d* bytes`).FindStringSubmatch(out)
	if m == nil || m[1] != expected[1][0] {
		t.Errorf("the pipeline's trace: want %s packets, printed:\n%s", expected[1][0], out)
	}
}

// rows returns the values of the tables' rows label: one row of n
// values for each of the two tables.
func rows(t *testing.T, out, label string, n int) [][]string {
	t.Helper()
	var rs [][]string
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, label); ok {
			if f := strings.Fields(rest); len(f) == n {
				rs = append(rs, f)
			}
		}
	}
	if len(rs) != 2 {
		t.Fatalf("want 2 rows %q of %d values in:\n%s", label, n, out)
	}
	return rs
}
