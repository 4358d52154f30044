//go:build !linux

package main

import (
	"context"
	"net/netip"
	"time"
)

func listenerPID(netip.AddrPort) (int, error) { return 0, errNoProc }

func readMemory(int) (memory, error) { return memory{}, errNoProc }

func waitFDs(context.Context, int, int, time.Duration) {}
