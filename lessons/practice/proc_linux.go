package main

import "syscall"

// procAttr makes the learner's program die with the check: a check
// killed mid-way leaves no server listening in the lab.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
