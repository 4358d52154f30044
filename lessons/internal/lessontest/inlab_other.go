//go:build !linux

package lessontest

import "syscall"

// labAttr is nil: network namespaces are Linux's.
func labAttr() *syscall.SysProcAttr { return nil }

// loUp does nothing: there is no lab.
func loUp() error { return nil }
