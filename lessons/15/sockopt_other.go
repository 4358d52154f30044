//go:build !linux

package main

import (
	"errors"
	"net"
	"time"
)

// The lesson runs only on Linux, whose link joins two network
// namespaces: these are not read or set elsewhere.

type keepAliveOpts struct{ on, idle, interval, count int }

func keepAliveOf(c net.Conn) (keepAliveOpts, error) {
	return keepAliveOpts{}, errors.ErrUnsupported
}

func setUserTimeout(c net.Conn, d time.Duration) error { return errors.ErrUnsupported }

func userTimeoutOf(c net.Conn) (time.Duration, error) { return 0, errors.ErrUnsupported }

func sysctlInt(name string) (int, error) { return 0, errors.ErrUnsupported }
