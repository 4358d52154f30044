//go:build linux

package lab

import (
	"os"
	"syscall"
	"testing"
)

// A Ctrl-C reaches a lab twice, from the terminal and passed on by the
// program outside as SIGUSR1: counted once. A signal sent to the
// program outside alone comes one way only: counted too.
func TestInterruptsCountedOnce(t *testing.T) {
	var c counter
	for i, step := range []struct {
		sig  os.Signal
		want bool
	}{
		{syscall.SIGINT, true},   // Ctrl-C, from the terminal
		{syscall.SIGUSR1, false}, // the same, passed on
		{syscall.SIGUSR1, true},  // kill -INT of the program outside
		{syscall.SIGUSR2, true},  // its SIGTERM
		{syscall.SIGTERM, false}, // the same, to the process group
		{syscall.SIGINT, false},  // the direct one of the second SIGINT
		{syscall.SIGINT, true},   // a third Ctrl-C
	} {
		kind, ok := c.add(step.sig)
		if ok != step.want {
			t.Errorf("signal %d (%v): delivered %v, want %v", i, step.sig, ok, step.want)
		}
		if want := map[os.Signal]os.Signal{syscall.SIGUSR1: syscall.SIGINT, syscall.SIGUSR2: syscall.SIGTERM}[step.sig]; want != nil && kind != want {
			t.Errorf("signal %d (%v) counted as %v, want %v", i, step.sig, kind, want)
		}
	}
}
