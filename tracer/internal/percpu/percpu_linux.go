//go:build linux

package percpu

import (
	"errors"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrStopped is returned by Do after Stop.
var ErrStopped = errors.New("percpu: stopped")

// Threads are the pinned threads.
type Threads struct {
	reqs []chan req
	wg   sync.WaitGroup
	stop chan struct{}
	once sync.Once
}

type req struct {
	f     func(i int) error
	reply chan<- error
}

// Start starts a thread pinned to each CPU the process may run on, or,
// with perCPU false or where they cannot be listed, one thread, not
// pinned. Stop ends them.
func Start(perCPU bool) *Threads {
	var cpus []int
	var set unix.CPUSet
	if perCPU && unix.SchedGetaffinity(0, &set) == nil {
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, i)
			}
		}
	}
	if len(cpus) == 0 {
		cpus = []int{-1} // cannot pin: one thread, best effort
	}
	t := &Threads{stop: make(chan struct{})}
	for range cpus {
		t.reqs = append(t.reqs, make(chan req))
	}
	t.wg.Add(len(cpus))
	for i, cpu := range cpus {
		go t.run(i, cpu, t.reqs[i])
	}
	return t
}

// N is the number of threads.
func (t *Threads) N() int { return len(t.reqs) }

func (t *Threads) run(i, cpu int, reqs <-chan req) {
	defer t.wg.Done()
	// Never unlocked: the pinned thread ends with this goroutine.
	runtime.LockOSThread()
	if cpu >= 0 {
		var one unix.CPUSet
		one.Set(cpu)
		// NOTE: ignoring the error: unpinned, the thread still
		// works, from whatever CPU it is on.
		_ = unix.SchedSetaffinity(0, &one)
	}
	for {
		select {
		case r := <-reqs:
			r.reply <- r.f(i)
		case <-t.stop:
			return
		}
	}
}

// Do runs f(i) on thread i, for every thread, all at once, and waits
// for them; it returns the first error. After Stop it returns
// ErrStopped.
func (t *Threads) Do(f func(i int) error) error {
	reply := make(chan error, len(t.reqs))
	sent := 0
	var first error
	for _, ch := range t.reqs {
		select {
		case ch <- req{f: f, reply: reply}:
			sent++
		case <-t.stop:
			first = ErrStopped
		}
		if first != nil {
			break
		}
	}
	for range sent {
		if err := <-reply; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stop ends the threads, after the calls of f under way.
func (t *Threads) Stop() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
}
