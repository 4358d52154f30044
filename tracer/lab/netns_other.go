//go:build !linux

package lab

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// Inside reports false: labs are Linux's.
func Inside() bool { return false }

// StdinTerminal reports whether standard input is a terminal.
func StdinTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// Reexec returns a [*Refused]: network namespaces are Linux's.
func Reexec() (int, error) {
	return 0, &Refused{Cause: "a lab of network namespaces needs Linux"}
}

// Unchecked reports false: labs are Linux's.
func Unchecked() bool { return false }

// UserNamespace reports false: labs are Linux's.
func UserNamespace() bool { return false }

// Decline ends the program: there is no lab to decline.
func Decline() { os.Exit(0) }

// Setup returns (nil, nil): no lab.
func Setup(sysctls []Sysctl) (*Info, error) { return nil, nil }

// Interrupts delivers the SIGINTs and SIGTERMs this program gets.
func Interrupts() <-chan os.Signal {
	c := make(chan os.Signal, 8)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c
}

// Others returns nil: no lab.
func Others() []Process { return nil }
