//go:build linux

package outside

import (
	"io"
	"os"
	"syscall"
)

// The environment of the program run again in the lab.
const (
	// EnvInside says which namespaces it is in: "user" for a user and
	// a network namespace, "net" for a network namespace alone.
	EnvInside = "TCPTOUR_LAB"
	// EnvReady is its descriptor on which it says it is set up: one
	// byte, 1, or why not.
	EnvReady = "TCPTOUR_LAB_READY"
	// EnvUnchecked marks a lab's program that package early started
	// before its flags were read: nothing outside checked them or the
	// files they name, and the program outside waits in its init. The
	// program in the lab checks them, and where it finds anything
	// wrong it exits having printed nothing (lab.Decline), and the
	// program outside goes on the plain way, and says it.
	EnvUnchecked = "TCPTOUR_LAB_UNCHECKED"
	// EnvEarly, in the program outside, is what package early could
	// not start, for lab.Reexec to say why.
	EnvEarly = "TCPTOUR_LAB_EARLY"
)

// Signals are the signals the program outside passes on to the lab's:
// a Ctrl-C reaches both from the terminal, a signal sent to the
// program outside alone reaches the lab only this way.
var Signals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// passedAs are the signals passed on as others, so that the lab, which
// gets a Ctrl-C from the terminal too, counts it once (lab.Interrupts).
var passedAs = map[os.Signal]syscall.Signal{
	syscall.SIGINT:  syscall.SIGUSR1,
	syscall.SIGTERM: syscall.SIGUSR2,
}

// Passed reports, for a signal the lab's program got, the one the
// program outside got and passed on as sig (SIGINT for SIGUSR1, SIGTERM
// for SIGUSR2); ok is false for any other.
func Passed(sig os.Signal) (got os.Signal, ok bool) {
	for from, as := range passedAs {
		if sig == as {
			return from, true
		}
	}
	return sig, false
}

// End is how the lab's program ended.
type End struct {
	// Ready: it said it was set up (lab.Setup), and so ran the
	// program's work.
	Ready bool
	// Said is why not, as it said it ("" where it ended first).
	Said string
	// State is its exit.
	State *os.ProcessState
	// Interrupted is the last SIGINT or SIGTERM the program outside
	// got while it waited, 0 for none.
	Interrupted syscall.Signal
}

// Wait waits for the lab's program p to end, passing on each signal
// that comes on sigs (which the caller has asked for Signals), then
// reads what p said on ready (EnvReady's other end).
func Wait(p *os.Process, ready io.Reader, sigs <-chan os.Signal) (End, error) {
	type exit struct {
		state *os.ProcessState
		err   error
	}
	done := make(chan exit, 1)
	go func() {
		state, err := p.Wait()
		done <- exit{state, err}
	}()
	var end End
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGINT || sig == syscall.SIGTERM {
				end.Interrupted = sig.(syscall.Signal)
			}
			if as, ok := passedAs[sig]; ok {
				sig = as
			}
			// NOTE: ignoring the error: the lab may have ended.
			_ = p.Signal(sig)
			continue
		case x := <-done:
			if x.err != nil {
				return end, x.err
			}
			end.State = x.state
		}
		break
	}
	said, _ := io.ReadAll(io.LimitReader(ready, 4096))
	end.Ready = len(said) > 0 && said[0] == 1
	if !end.Ready {
		end.Said = string(said)
	}
	return end, nil
}

// Stopped reports whether the learner stopped the lab before it was set
// up, with Ctrl-C or SIGTERM: the program outside then ends too (with
// Code), rather than go on without a lab.
func (e End) Stopped() bool {
	return !e.Ready && e.Interrupted != 0 && !e.State.Success()
}

// Code is the exit status for the program outside: the lab's, a shell's
// 128+n where a signal ended it; after Stopped, 128+n for the signal
// the program outside got.
func (e End) Code() int {
	if e.Stopped() {
		return 128 + int(e.Interrupted)
	}
	ws, ok := e.State.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		// Killed by a signal passed on before it listened: the
		// status of the signal this program got.
		got, _ := Passed(ws.Signal())
		return 128 + int(got.(syscall.Signal))
	}
	return e.State.ExitCode()
}
