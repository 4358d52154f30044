//go:build !linux

package main

import (
	"context"
	"errors"
	"net/netip"
)

// socketInfo is what the kernel says about one of its TCP sockets.
type socketInfo struct {
	RecvQ int
	Inode uint32
}

var errNoDiag = errors.New("socket diagnostics: Linux only: " + errors.ErrUnsupported.Error())

// kernelSocket needs Linux's socket diagnostics.
func kernelSocket(local, remote netip.AddrPort) (socketInfo, error) {
	return socketInfo{}, errNoDiag
}

// waitRecvQ needs Linux's socket diagnostics.
func waitRecvQ(ctx context.Context, local, remote netip.AddrPort, want int) (socketInfo, error) {
	return socketInfo{}, errNoDiag
}
