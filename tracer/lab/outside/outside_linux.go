//go:build linux

package outside

import (
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"unsafe"
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

// Notify asks for the Signals on c. Those this program started with
// ignored (nohup's SIGHUP, a script's background job's SIGINT) are asked
// for too, as the lab's program asks for SIGINT and SIGTERM
// (lab.Interrupts), which un-ignores them there: a `kill -INT` of the
// program outside stops a held lesson. (Until the lab asks, it ignores
// them as it started.)
func Notify(c chan<- os.Signal) { signal.Notify(c, Signals...) }

// passedAs are the signals passed on as others once the lab is set up,
// so that the lab, which gets a Ctrl-C from the terminal too, counts it
// once (lab.Interrupts, which listens before the lab says it is set
// up). Before that they are passed on as they are: a lab that does not
// listen yet dies of them, as the learner asked, where it would ignore
// SIGUSR1 and SIGUSR2.
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
	// Status is its exit.
	Status syscall.WaitStatus
	// Signal is the last signal the program outside got and passed on
	// while it waited, 0 for none.
	Signal syscall.Signal
}

// Wait waits for the lab's program, process pid, a child of this one,
// to end, passing on each signal that comes on sigs (which the caller
// has asked for Signals), and reads what it said on ready (EnvReady's
// other end; best in the runtime's poller, non-blocking, or a thread
// waits on it), then reaps it.
//
// It waits on the calling goroutine (a program waiting in an init,
// package early's, starts no thread more for it) and passes signals on
// from another; the lab's program is reaped only once that one has
// stopped, so that no signal goes to a process id the kernel has given
// to another.
func Wait(pid int, ready io.Reader, sigs <-chan os.Signal) (End, error) {
	var end End
	// What it says, read as it says it: from then on SIGINT and
	// SIGTERM are passed on as SIGUSR1 and SIGUSR2.
	saidc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(ready, 4096))
		saidc <- b
	}()
	var said []byte
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		heard := saidc
		for {
			select {
			case sig := <-sigs:
				end.Signal = sig.(syscall.Signal)
				if as, ok := passedAs[sig]; ok && heard == nil && len(said) > 0 && said[0] == 1 {
					sig = as
				}
				// NOTE: ignoring the error: the lab may have ended.
				_ = syscall.Kill(pid, sig.(syscall.Signal))
			case said = <-heard:
				heard = nil
			case <-stop:
				if heard != nil {
					said = <-heard
				}
				return
			}
		}
	}()
	// Ended, not yet reaped (WNOWAIT).
	var info [128]byte // siginfo_t
	var err error
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pWaitPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			if errno != 0 {
				err = os.NewSyscallError("waitid", errno)
			}
			break
		}
	}
	close(stop)
	<-stopped
	if err != nil {
		return end, err
	}
	for {
		_, err = syscall.Wait4(pid, &end.Status, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return end, os.NewSyscallError("wait4", err)
	}
	end.Ready = len(said) > 0 && said[0] == 1
	if !end.Ready {
		end.Said = string(said)
	}
	return end, nil
}

// waitid(2)'s P_PID and WNOWAIT, which package syscall lacks.
const (
	pWaitPID = 1
	wNoWait  = 0x01000000
)

// Stopped reports whether the lab ended before it was set up after a
// signal the program outside passed on (a Ctrl-C, SIGTERM, a hang-up),
// whatever it ended with (it may have been going already, declining):
// the program outside then ends too (with Code), as the learner asked,
// rather than go on without a lab or start another.
func (e End) Stopped() bool {
	return !e.Ready && e.Signal != 0
}

// Exit describes the lab's exit as os.ProcessState does: "exit status
// 1", "signal: killed".
func (e End) Exit() string {
	if e.Status.Signaled() {
		return "signal: " + e.Status.Signal().String()
	}
	return "exit status " + strconv.Itoa(e.Status.ExitStatus())
}

// Failed reports whether the lab's program ended otherwise than with
// status 0.
func (e End) Failed() bool { return !e.Status.Exited() || e.Status.ExitStatus() != 0 }

// Code is the exit status for the program outside: the lab's, a shell's
// 128+n where a signal ended it; for a lab Stopped after a signal the
// program outside passed on, 128+n for that signal.
func (e End) Code() int {
	if e.Stopped() {
		return 128 + int(e.Signal)
	}
	if e.Status.Signaled() {
		// Killed by a signal passed on before it listened: the
		// status of the signal this program got.
		got, _ := Passed(e.Status.Signal())
		return 128 + int(got.(syscall.Signal))
	}
	return e.Status.ExitStatus()
}
