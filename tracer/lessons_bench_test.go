package tracer_test

import (
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tcptour/tracer/capture"
)

// BenchmarkLessons times each lesson as a learner runs it, built and
// non-interactive (stdin not a terminal), with --capture=off and, where
// capture is permitted, --capture=on:
//
//	go test ./tracer -run '^$' -bench Lessons -benchtime 5x
//
// ns/op is the wall time of one run of the built lesson; "cpu-ms/run" is
// the CPU time of its process (user and system), as the kernel counts
// it. Each lesson is built once, before it is timed.
func BenchmarkLessons(b *testing.B) {
	dirs, err := filepath.Glob(filepath.Join("..", "lessons", "[0-9][0-9]"))
	if err != nil || len(dirs) == 0 {
		b.Fatalf("no lessons found: %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("go not on PATH: cannot build the lessons")
	}
	canCapture := true
	if c, err := capture.Open(capture.Config{}); err != nil {
		canCapture = false
		b.Logf("capture not permitted here (%v): --capture=on skipped", err)
	} else {
		c.Close()
	}
	bin := b.TempDir()
	for _, dir := range dirs {
		num := filepath.Base(dir)
		exe := filepath.Join(bin, "lesson"+num)
		built := false
		for _, mode := range []string{"off", "on"} {
			b.Run(num+"/capture="+mode, func(b *testing.B) {
				if mode == "on" && !canCapture {
					b.Skip("capture needs root or CAP_NET_RAW")
				}
				if !built {
					out, err := exec.Command(goTool, "build", "-buildvcs=false", "-o", exe, dir).CombinedOutput()
					if err != nil {
						b.Fatalf("go build ./%s: %v\n%s", dir, err, out)
					}
					built = true
				}
				var cpu time.Duration
				runs := 0
				for b.Loop() {
					cmd := exec.Command(exe, "--capture="+mode, "--no-color")
					cmd.Stdout, cmd.Stderr = io.Discard, io.Discard // stdin: /dev/null
					if err := cmd.Run(); err != nil {
						b.Fatalf("lesson %s --capture=%s: %v", num, mode, err)
					}
					cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
					runs++
				}
				b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(runs), "cpu-ms/run")
			})
		}
	}
}
