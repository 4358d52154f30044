//go:build !linux

package main

import "syscall"

// procAttr is nothing special where the program cannot be tied to the
// check's life.
func procAttr() *syscall.SysProcAttr { return nil }
