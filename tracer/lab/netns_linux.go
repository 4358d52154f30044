//go:build linux

package lab

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/term"

	"tcptour/tracer/lab/outside"
)

// The environment of the program run again in the lab (package
// outside names it, for package early too).
const (
	envInside    = outside.EnvInside
	envReady     = outside.EnvReady
	envUnchecked = outside.EnvUnchecked
	envEarly     = outside.EnvEarly
)

// Inside reports whether this program runs in a lab that [Reexec] made.
func Inside() bool { return os.Getenv(envInside) != "" }

// StdinTerminal reports whether standard input is a terminal.
func StdinTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// Reexec runs this program again, with the same arguments and
// environment, in a network namespace of its own: inside a new user
// namespace, in which this user is root, when the user is not root. It
// returns the exit status the program ended with there, a shell's
// 128+n for a signal. The program there must call [Setup] first.
// (Where package early (tcptour/tracer/lab/early) started the program
// in its lab while this one was starting, this one waited for it in
// its init, and calls Reexec only where that lab declined, or could not
// set itself up: Reexec then starts another, or says why early could
// not start one.)
//
// The lab stays in this program's process group, on its terminal, so
// that job control works as without a lab: Ctrl-Z stops both, a
// background lab stops at its first read of the terminal, Ctrl-C
// reaches both (package outside waits). A SIGINT or SIGTERM sent to this program alone is passed
// on as SIGUSR1 or SIGUSR2 once the lab is set up, so that the lab,
// which [Interrupts] tells, counts a Ctrl-C once though it gets it
// twice; before that, as they are. SIGHUP and SIGQUIT are passed on as
// they are. A signal passed on before the lab was set up makes Reexec
// return 128+n.
//
// Where the system does not let it make the namespaces, Reexec returns
// a [*Refused] that says why and what to do, and the caller goes on
// without a lab. A lab that starts but cannot set itself up tells this
// program why and exits before its program runs: Reexec then returns a
// *Refused too.
func Reexec() (int, error) {
	sigs := make(chan os.Signal, 4)
	outside.Notify(sigs)
	defer signal.Stop(sigs)
	if err := earlyRefusal(); err != nil {
		return 0, err
	}
	p, ready, kind, err := start()
	if err != nil {
		return 0, err
	}
	defer ready.Close()
	end, err := outside.Wait(p.Pid, ready, sigs)
	// NOTE: ignoring the error: Wait reaped it.
	_ = p.Release()
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	if end.Stopped() {
		// Stopped with a signal passed on (Ctrl-C, SIGTERM, a
		// hang-up) before it was ready: the learner asked to stop,
		// not to go on without a lab.
		return end.Code(), nil
	}
	if !end.Ready {
		var why error
		if end.Failed() {
			why = errors.New(end.Exit())
		}
		return 0, notSetUp(kind, strings.TrimSpace(end.Said), why)
	}
	return end.Code(), nil
}

// start starts this program again in a lab, and returns it and the
// pipe on which it says it is set up. The error is a [*Refused] where
// the kernel would not make the namespaces.
func start() (p *os.Process, ready *os.File, kind string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, "", fmt.Errorf("lab: %w", err)
	}
	kind = "net"
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		kind = "user"
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		// This user is root in the lab, with the capabilities a
		// network of one's own needs (CAP_NET_ADMIN, CAP_NET_RAW)
		// over that network only; the files it writes are this
		// user's.
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, "", fmt.Errorf("lab: %w", err)
	}
	p, err = os.StartProcess(exe, os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), envInside+"="+kind, envReady+"=3"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, readyW},
		Sys:   attr,
	})
	readyW.Close()
	if err != nil {
		ready.Close()
		return nil, nil, "", refused(kind, err)
	}
	return p, ready, kind, nil
}

// earlyRefusal is why package early (tcptour/tracer/lab/early) could not
// start the lab when this program began, where it tried and the kernel
// refused the namespaces: Reexec says so without trying again. (A lab
// it started, this program waited for in its init, and goes on here
// only where that lab could not set itself up or declined: Reexec then
// starts one the plain way.)
func earlyRefusal() error {
	said := os.Getenv(envEarly)
	if said == "" {
		return nil
	}
	// Commands this program runs are not lessons starting.
	os.Unsetenv(envEarly)
	// "OWNER failed KIND ERRNO", OWNER the program that set it: this
	// one, or it is not ours.
	f := strings.Fields(said)
	if len(f) != 4 || f[1] != "failed" || f[0] != strconv.Itoa(os.Getpid()) {
		return nil
	}
	errno, err := strconv.Atoi(f[3])
	if err != nil {
		return nil
	}
	exe, _ := os.Executable()
	// As os.StartProcess would have said it.
	return refused(f[2], &os.PathError{Op: "fork/exec", Path: exe, Err: syscall.Errno(errno)})
}

// Unchecked reports whether this program runs in a lab that package
// early started before the program's flags were read: the program must
// check its flags and the files they name before [Setup], and where
// anything is wrong, [Decline] without a word: the program outside
// then goes on the plain way, and says what is wrong itself (with the
// learner's own ids, where a lab in a user namespace sees every other
// user's files as nobody's).
func Unchecked() bool { return Inside() && os.Getenv(envUnchecked) != "" }

// UserNamespace reports whether this program runs in a lab made in a
// user namespace (by a user who is not root), where it is root, with
// capabilities over the user's own files that the user has not
// (CAP_DAC_OVERRIDE: it may write in a directory of theirs that they
// made read-only).
func UserNamespace() bool { return os.Getenv(envInside) == "user" }

// Decline ends the program in a lab that [Unchecked] reports, before
// [Setup], having printed nothing: the program outside goes on the plain
// way.
func Decline() { os.Exit(0) }

// readSetting is a setting under /proc/sys, "" where there is none.
func readSetting(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// notSetUp explains a lab that started but could not set itself up, as
// it said (why) or did not (it died first).
func notSetUp(kind, why string, err error) *Refused {
	if why == "" {
		why = "it ended before it was ready"
		if err != nil {
			why += " (" + err.Error() + ")"
		}
	}
	r := &Refused{Cause: "the lab could not set itself up: " + why, Fix: "run the lesson with sudo, or with --host", Err: err}
	if kind == "net" {
		r.Fix = "run the lesson with --host"
	}
	if kind == "user" && readSetting("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
		// Ubuntu lets the user namespace be made, without the
		// capabilities a network of one's own needs.
		r.Cause = "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, as on Ubuntu 23.10 and later), so the lab " + why
		r.Fix = "give the lesson's binary an AppArmor profile that allows userns (docs/lab.md shows one), or run it with sudo"
	}
	return r
}

// refused explains why the kernel would not make the namespaces: each
// cause that the system's settings tell apart, with its fix.
func refused(kind string, err error) *Refused {
	r := &Refused{Err: err}
	read := readSetting
	switch {
	case kind == "net":
		r.Cause = "the kernel would not make a network namespace (" + err.Error() + ")"
		r.Fix = "run the lesson with --host"
		switch {
		case read("/proc/sys/user/max_net_namespaces") == "0":
			r.Cause = "network namespaces are turned off (user.max_net_namespaces = 0)"
			r.Fix = "sudo sysctl -w user.max_net_namespaces=15000"
		case !capable(capSysAdmin):
			r.Cause = "root here lacks CAP_SYS_ADMIN, which a network namespace needs (" + err.Error() + "; a container's root does, by default)"
			r.Fix = "run the lesson outside the container, or in one given the capability (docker run --cap-add SYS_ADMIN); meanwhile --host runs it without a lab"
		}
	case read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
		r.Cause = "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, as on Ubuntu 23.10 and later)"
		r.Fix = "give the lesson's binary an AppArmor profile that allows userns (docs/lab.md shows one), or run it with sudo"
	case read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
		r.Cause = "unprivileged user namespaces are turned off (kernel.unprivileged_userns_clone = 0)"
		r.Fix = "sudo sysctl -w kernel.unprivileged_userns_clone=1, or run the lesson with sudo"
	case read("/proc/sys/user/max_user_namespaces") == "0":
		r.Cause = "user namespaces are turned off (user.max_user_namespaces = 0)"
		r.Fix = "sudo sysctl -w user.max_user_namespaces=15000, or run the lesson with sudo"
	case read("/proc/sys/user/max_net_namespaces") == "0":
		r.Cause = "network namespaces are turned off (user.max_net_namespaces = 0)"
		r.Fix = "sudo sysctl -w user.max_net_namespaces=15000, or run the lesson with sudo"
	case errors.Is(err, syscall.ENOSPC):
		r.Cause = "no more user or network namespaces may be made (a limit in user.max_user_namespaces or user.max_net_namespaces is reached)"
		r.Fix = "raise the limit, or run the lesson with sudo"
	case (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)) && read("/proc/self/uid_map") == "":
		r.Cause = "this program runs in a user namespace that maps no user ids, in which no other may be made (" + err.Error() + ")"
		r.Fix = "run the lesson from a shell outside it (unshare -U without -r makes one), or with --host"
	case (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)) && !seccomp():
		r.Cause = "the kernel refused a user namespace (" + err.Error() + ")"
		r.Fix = "run the lesson with sudo, or with --host"
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		r.Cause = "the system refuses unprivileged user namespaces (" + err.Error() + "; this program runs under a seccomp filter, as a container's)"
		r.Fix = "run the lesson outside the container, or in one whose seccomp profile allows user namespaces (docker run --security-opt seccomp=unconfined); meanwhile --host runs it without a lab"
	default:
		r.Cause = "the kernel would not make the namespaces (" + err.Error() + ")"
		r.Fix = "run the lesson with sudo"
	}
	return r
}

// Setup, in the program [Reexec] runs in the lab, brings up the lab's
// loopback interface and sets its sysctls, then tells the program
// outside that the lab is ready, or why it is not: on error, the
// program here should exit without a word, and the program outside says
// why and goes on without a lab. It returns the lab's description. A
// program not in a lab gets (nil, nil): it runs on the host.
func Setup(sysctls []Sysctl) (*Info, error) {
	kind := os.Getenv(envInside)
	if kind == "" {
		return nil, nil
	}
	// Checked, if it was not: not for the programs the lab runs.
	os.Unsetenv(envUnchecked)
	info, err := setup(kind, sysctls)
	// The program outside learns that the lab is ready, or why not,
	// and says it: the program here exits without a word on error.
	if fd, ferr := strconv.Atoi(os.Getenv(envReady)); ferr == nil {
		f := os.NewFile(uintptr(fd), "lab-ready")
		say := []byte{1}
		if err != nil {
			say = []byte(err.Error())
		}
		// NOTE: ignoring the error: the program outside only reads it.
		_, _ = f.Write(say)
		f.Close()
	}
	return info, err
}

// loIndex is the loopback interface's index in every network namespace.
const loIndex = 1

func setup(kind string, sysctls []Sysctl) (*Info, error) {
	info := &Info{User: kind == "user", PID: os.Getpid(), Sudo: os.Getenv("SUDO_UID") != ""}
	// A new network namespace's loopback is always interface 1
	// (LOOPBACK_IFINDEX): one request brings it up, without looking
	// it up first.
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: loIndex, Name: "lo"}}
	if err := netlink.LinkSetUp(lo); err != nil {
		return nil, fmt.Errorf("bringing up lo: %w", err)
	}
	for _, s := range sysctls {
		path := "/proc/sys/" + strings.ReplaceAll(s.Name, ".", "/")
		host, _ := os.ReadFile(path) // the lab's starts as the kernel's default
		if err := os.WriteFile(path, []byte(s.Value), 0); err != nil {
			return nil, fmt.Errorf("sysctl %s = %s: %w", s.Name, s.Value, err)
		}
		s.Default = strings.TrimSpace(string(host))
		info.Sysctls = append(info.Sysctls, s)
	}
	return info, nil
}

// Interrupts delivers the SIGINTs and SIGTERMs this program gets, each
// once: in a lab, a Ctrl-C reaches it from the terminal and again from
// the program outside (as SIGUSR1; SIGTERM as SIGUSR2), and a signal
// sent to the program outside alone comes only that way. The n-th
// signal of a kind is delivered when either way has brought n of them.
// It listens until the program exits; call it once, in the program
// that runs the lesson.
func Interrupts() <-chan os.Signal {
	in := make(chan os.Signal, 8)
	out := make(chan os.Signal, 8)
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if Inside() {
		sigs = append(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	}
	signal.Notify(in, sigs...)
	go func() {
		var c counter
		for sig := range in {
			if kind, ok := c.add(sig); ok {
				out <- kind
			}
		}
	}()
	return out
}

// counter counts the signals of each kind that reach a lab both ways:
// directly, and passed on by the program outside.
type counter struct {
	direct, passed, sent map[os.Signal]int
}

// add counts sig and reports its kind (SIGINT for SIGUSR1, SIGTERM for
// SIGUSR2) when it makes one more of that kind than either way brought
// before.
func (c *counter) add(sig os.Signal) (os.Signal, bool) {
	if c.sent == nil {
		c.direct, c.passed, c.sent = map[os.Signal]int{}, map[os.Signal]int{}, map[os.Signal]int{}
	}
	kind, passed := outside.Passed(sig)
	if !passed {
		c.direct[kind]++
	} else {
		c.passed[kind]++
	}
	if n := max(c.direct[kind], c.passed[kind]); n > c.sent[kind] {
		c.sent[kind] = n
		return kind, true
	}
	return kind, false
}

// Others lists the other programs in this program's network namespace,
// as far as this user may see them: those joined to the lab from
// another terminal, which keep it, and its sockets, after the lesson.
func Others() []Process {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil
	}
	dirs, _ := os.ReadDir("/proc")
	var others []Process
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if ns, err := os.Readlink("/proc/" + d.Name() + "/ns/net"); err != nil || ns != self {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
		others = append(others, Process{PID: pid, Name: strings.TrimSpace(string(comm))})
	}
	return others
}

// capSysAdmin is CAP_SYS_ADMIN's bit in /proc/self/status's CapEff.
const capSysAdmin = 21

// capable reports whether this program has the capability bit in its
// effective set (true where that cannot be read).
func capable(bit uint) bool {
	v, ok := statusField("CapEff")
	if !ok {
		return true
	}
	mask, err := strconv.ParseUint(v, 16, 64)
	return err != nil || mask&(1<<bit) != 0
}

// seccomp reports whether this program runs under a seccomp filter
// (true where that cannot be read).
func seccomp() bool {
	v, ok := statusField("Seccomp")
	return !ok || v == "2"
}

// statusField is a field of /proc/self/status.
func statusField(name string) (string, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
