//go:build linux

package early

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"tcptour/tracer/lab/outside"
)

func init() {
	// Handed down by a program that started this one: not ours.
	// NOTE: ignoring the error: lab.Reexec checks whose it is too.
	_ = syscall.Unsetenv(outside.EnvEarly)
	if _, inside := syscall.Getenv(outside.EnvInside); inside {
		return
	}
	// Only for the lab's program this one starts.
	// NOTE: ignoring the error: lab.Unchecked looks inside a lab only.
	_ = syscall.Unsetenv(outside.EnvUnchecked)
	args, err := cmdline()
	if err != nil || !Wanted(args) {
		return
	}
	pid, ready, kind, errno := start(args)
	switch {
	case errno != 0:
		// NOTE: ignoring the error: without it lab.Reexec starts
		// the lab the plain way, and is refused the same way.
		_ = syscall.Setenv(outside.EnvEarly, strconv.Itoa(syscall.Getpid())+" failed "+kind+" "+strconv.Itoa(int(errno)))
		return
	case pid == 0:
		return
	}
	// From here a Ctrl-C is passed on, not the end of this program
	// (and of its lab, Pdeathsig); asked for once the lab has started,
	// so that the thread os/signal starts does not hold it back.
	sigs := make(chan os.Signal, 4)
	outside.Notify(sigs)
	f := os.NewFile(uintptr(ready), "lab-ready")
	defer f.Close()
	end, err := outside.Wait(pid, f, sigs)
	signal.Stop(sigs)
	select {
	case sig := <-sigs:
		// Come once the lab had ended, not passed on: this program's.
		end.Signal = sig.(syscall.Signal)
	default:
	}
	switch {
	case err != nil:
		// Not waited for (which cannot be): the plain way.
	case end.Ready || end.Stopped() || end.Status.Signaled():
		// Done; or stopped before it was set up, by the learner (a
		// signal passed on, or come as it ended) or by a signal that
		// killed it (SIGKILL, the OOM killer): not a lab to start
		// again.
		os.Exit(end.Code())
	}
	// It declined (the flags or their files are wrong: this program
	// says so), or could not set itself up (lab.Reexec tries again the
	// plain way, and says why it cannot): this program goes on.
}

// Wanted reports whether a program run with args (os.Args, the
// program's name first) should start its lab now: not in a test
// binary (named *.test, or given -test. flags), and not when an
// argument before "--" asks for the host or for help (-host, --host,
// -host=true, -h, --help). It looks at every argument, a flag's value
// too, since it does not know which flags take one: a value that looks
// like -host keeps the lab from starting early, which costs time,
// never behaviour, since lab.Reexec decides.
func Wanted(args []string) bool {
	if len(args) == 0 || hasSuffix(args[0], ".test") {
		return false
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name := a[1:]
		if name[0] == '-' {
			name = name[1:]
		}
		value := ""
		for i := 0; i < len(name); i++ {
			if name[i] == '=' {
				name, value = name[:i], name[i+1:]
				break
			}
		}
		if len(name) >= 5 && name[:5] == "test." {
			return false
		}
		switch name {
		case "h", "help":
			return false
		case "host":
			switch value {
			case "0", "f", "F", "false", "FALSE", "False":
			default:
				return false
			}
		}
	}
	return true
}

// start starts the program again in a lab: in a network namespace, and
// a user namespace first where this user is not root, with the same
// arguments and environment, marked unchecked (outside.EnvUnchecked),
// and a pipe on descriptor 3 on which it says it is set up (lab.Setup).
// It returns its pid and this program's end of the pipe, and the kind
// of lab; errno where the kernel refused; pid 0 where it could not try.
func start(args []string) (pid, ready int, kind string, errno syscall.Errno) {
	kind = "net"
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if syscall.Geteuid() != 0 {
		kind = "user"
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: syscall.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: syscall.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return 0, 0, kind, 0
	}
	// This program's end in the runtime's poller (os.NewFile sees it
	// non-blocking): read while the lab starts, without a thread.
	// NOTE: ignoring the error: a blocking read works too.
	_ = syscall.SetNonblock(p[0], true)
	env := append(syscall.Environ(), outside.EnvInside+"="+kind, outside.EnvReady+"=3", outside.EnvUnchecked+"=1")
	// /proc/self/exe is this program's file even where it was
	// replaced or removed since it started (go build over it).
	pid, err := syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2, uintptr(p[1])},
		Sys:   attr,
	})
	syscall.Close(p[1])
	if err != nil {
		syscall.Close(p[0])
		if e, ok := err.(syscall.Errno); ok {
			return 0, 0, kind, e
		}
		return 0, 0, kind, 0
	}
	return pid, p[0], kind, 0
}

// cmdline is the program's arguments, as os.Args holds them.
func cmdline() ([]string, error) {
	fd, err := syscall.Open("/proc/self/cmdline", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var all []byte
	buf := make([]byte, 4096)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		all = append(all, buf[:n]...)
	}
	var args []string
	from := 0
	for i, c := range all {
		if c == 0 {
			args = append(args, string(all[from:i]))
			from = i + 1
		}
	}
	return args, nil
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
