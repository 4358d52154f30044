//go:build linux

package early

import (
	"strconv"
	"syscall"
)

// The environment this package and package lab share (netns_linux.go
// there names them again: TestTaken fails where they differ).
const (
	envInside = "TCPTOUR_LAB"       // in the lab's program: "user" or "net"
	envReady  = "TCPTOUR_LAB_READY" // its descriptor that says it is set up
	envGo     = "TCPTOUR_LAB_GO"    // its descriptor on which it waits to begin
	envEarly  = "TCPTOUR_LAB_EARLY" // here: what was started, for lab.Reexec
)

func init() {
	// Handed down by a program that started this one: not ours.
	// NOTE: ignoring the error: Reexec checks whose it is too.
	_ = syscall.Unsetenv(envEarly)
	if _, inside := syscall.Getenv(envInside); inside {
		return
	}
	args, err := cmdline()
	if err != nil || !Wanted(args) {
		return
	}
	if said := start(args); said != "" {
		// NOTE: ignoring the error: without it lab.Reexec starts
		// the lab the plain way.
		_ = syscall.Setenv(envEarly, strconv.Itoa(syscall.Getpid())+" "+said)
	}
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
// arguments and environment, and two pipes: on descriptor 3 it says it
// is set up (lab.Setup), on descriptor 4 it waits for the word to begin
// (lab.AwaitStart). It returns what lab.Reexec needs, as one line:
// "started KIND PID READY GO" (this program's ends of the pipes), or
// "failed KIND ERRNO"; "" where it could not try.
func start(args []string) string {
	kind := "net"
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if syscall.Geteuid() != 0 {
		kind = "user"
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: syscall.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: syscall.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	var ready, begin [2]int
	if err := syscall.Pipe2(ready[:], syscall.O_CLOEXEC); err != nil {
		return ""
	}
	if err := syscall.Pipe2(begin[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(ready[0])
		syscall.Close(ready[1])
		return ""
	}
	env := append(syscall.Environ(), envInside+"="+kind, envReady+"=3", envGo+"=4")
	// /proc/self/exe is this program's file even where it was
	// replaced or removed since it started (go build over it).
	pid, err := syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2, uintptr(ready[1]), uintptr(begin[0])},
		Sys:   attr,
	})
	syscall.Close(ready[1])
	syscall.Close(begin[0])
	if err != nil {
		syscall.Close(ready[0])
		syscall.Close(begin[1])
		errno, ok := err.(syscall.Errno)
		if !ok {
			return ""
		}
		return "failed " + kind + " " + strconv.Itoa(int(errno))
	}
	return "started " + kind + " " + strconv.Itoa(pid) + " " + strconv.Itoa(ready[0]) + " " + strconv.Itoa(begin[1])
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
