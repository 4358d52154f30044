//go:build linux

package percpu

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPinned: one thread a CPU the process may run on, each f(i) run on
// thread i, on its CPU; then ErrStopped, and no goroutine left.
func TestPinned(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Skipf("sched_getaffinity: %v", err)
	}
	th := Start(true)
	defer th.Stop()
	if th.N() != set.Count() {
		t.Errorf("%d threads, want one for each of %d CPUs", th.N(), set.Count())
	}
	cpus := make([]int, th.N())
	err := th.Do(func(i int) error {
		var mine unix.CPUSet
		if err := unix.SchedGetaffinity(0, &mine); err != nil {
			return err
		}
		if mine.Count() != 1 {
			return errors.New("thread not pinned")
		}
		for c := 0; c < len(mine)*64; c++ {
			if mine.IsSet(c) {
				cpus[i] = c
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, c := range cpus {
		if !set.IsSet(c) || seen[c] {
			t.Errorf("threads on CPUs %v, want each of the process's once", cpus)
			break
		}
		seen[c] = true
	}
	want := errors.New("f's error")
	if err := th.Do(func(i int) error { return want }); err != want {
		t.Errorf("Do: %v, want f's error", err)
	}
	th.Stop()
	th.Stop()
	if err := th.Do(func(int) error { return nil }); !errors.Is(err, ErrStopped) {
		t.Errorf("Do after Stop: %v, want ErrStopped", err)
	}
}

// TestOne: without perCPU, one thread.
func TestOne(t *testing.T) {
	th := Start(false)
	defer th.Stop()
	if th.N() != 1 {
		t.Errorf("%d threads, want 1", th.N())
	}
	ran := 0
	if err := th.Do(func(i int) error { ran++; return nil }); err != nil || ran != 1 {
		t.Errorf("Do: %v, ran %d times, want nil, once", err, ran)
	}
}
