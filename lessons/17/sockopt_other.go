//go:build !linux

package main

import "syscall"

// The lesson runs only on Linux, whose link joins two network
// namespaces: these do nothing elsewhere.

func reusePort(network, address string, c syscall.RawConn) error   { return nil }
func noReuseAddr(network, address string, c syscall.RawConn) error { return nil }
func reuseAddr(network, address string, c syscall.RawConn) error   { return nil }
