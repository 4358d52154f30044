//go:build !linux

package lessontest

import "syscall"

// labAttr is nil: network namespaces are Linux's.
func labAttr() *syscall.SysProcAttr { return nil }
