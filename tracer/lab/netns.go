package lab

import (
	"fmt"
	"strconv"
)

// Info describes the lab a program runs in (see [Setup]).
type Info struct {
	// User is set when the lab is in a user namespace of its own, made
	// without root: the program is root there, over the lab's network
	// only.
	User bool
	// PID is the lab's program, by whose namespaces another terminal
	// joins the lab (see [Info.Join]).
	PID int
	// Sudo is set when root made the lab for a user under sudo: that
	// user joins it with sudo too.
	Sudo bool
	// Sysctls are the settings the lab changed from the kernel's.
	Sysctls []Sysctl
}

// Sysctl is a setting of the lab's own network (net.ipv4.tcp_*, set per
// network namespace), and why the lab sets it.
type Sysctl struct {
	Name  string // "net.ipv4.tcp_fin_timeout"
	Value string
	Why   string
	// Default is the value the kernel gave the lab's network before
	// the lab set it.
	Default string
}

// String is "net.ipv4.tcp_fin_timeout = 5".
func (s Sysctl) String() string { return s.Name + " = " + s.Value }

// Join is the command that runs a command in the lab from another
// terminal, to be followed by the command: "nsenter -t 4242 -U -n
// --preserve-credentials" for a lab of the user's own (the same user
// may join it), "nsenter -t 4242 -n" for one root made, with sudo in
// front when the learner ran the lesson with sudo.
func (i *Info) Join() string {
	switch {
	case i.User:
		return "nsenter -t " + strconv.Itoa(i.PID) + " -U -n --preserve-credentials"
	case i.Sudo:
		return "sudo nsenter -t " + strconv.Itoa(i.PID) + " -n"
	}
	return "nsenter -t " + strconv.Itoa(i.PID) + " -n"
}

// Refused is the error of [Reexec] when the system does not let the
// program make a lab: Cause says why, in words, and Fix what to do.
type Refused struct {
	Cause, Fix string
	Err        error // the kernel's error, if any
}

func (r *Refused) Error() string {
	if r.Fix == "" {
		return "no lab here: " + r.Cause
	}
	return fmt.Sprintf("no lab here: %s: %s", r.Cause, r.Fix)
}

func (r *Refused) Unwrap() error { return r.Err }

// Process is a program, by its process id and name (/proc/PID/comm).
type Process struct {
	PID  int
	Name string
}

func (p Process) String() string { return p.Name + " (pid " + strconv.Itoa(p.PID) + ")" }
