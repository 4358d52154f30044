//go:build !linux

package main

import (
	"context"
	"errors"
	"net"
)

// sockState is what the kernel says about one end of a TCP connection.
type sockState struct {
	Unacked uint32
	Backoff uint8
	Probes  uint8
	SndWnd  uint32
	RecvQ   int
	SendQ   int
}

var errNoTCPInfo = errors.New("kernel state: this lesson reads TCP_INFO, which needs Linux: " + errors.ErrUnsupported.Error())

// kernelState needs Linux's TCP_INFO.
func kernelState(conn net.Conn) (sockState, error) { return sockState{}, errNoTCPInfo }

// waitKernel needs Linux's TCP_INFO.
func waitKernel(ctx context.Context, conn net.Conn, what string, ok func(sockState) bool) (sockState, error) {
	return sockState{}, errNoTCPInfo
}
