//go:build !linux

package kernel

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"time"
)

// Lookup returns an error matching [ErrUnsupported]: socket
// diagnostics are only supported on Linux.
func Lookup(ft FiveTuple) (Socket, error) {
	return Socket{}, unsupported()
}

// Diag is a socket for socket diagnostics: only on Linux.
type Diag struct{}

// OpenDiag returns an error matching [ErrUnsupported].
func OpenDiag() (*Diag, error) {
	return nil, unsupported()
}

// Lookup returns an error matching [ErrUnsupported].
func (d *Diag) Lookup(ft FiveTuple) (Socket, error) {
	return Socket{}, unsupported()
}

// LookupAll puts an error matching [ErrUnsupported] in each answer,
// and returns it.
func (d *Diag) LookupAll(fts []FiveTuple, into []Answer) error {
	err := unsupported()
	for i := range min(len(fts), len(into)) {
		into[i] = Answer{Err: err}
	}
	return err
}

// Close does nothing.
func (d *Diag) Close() error { return nil }

// TimeWaitCount returns an error matching [ErrUnsupported].
func TimeWaitCount() (int, error) {
	return 0, unsupported()
}

// StateOf returns an error matching [ErrUnsupported].
func StateOf(ft FiveTuple) (State, error) {
	return 0, unsupported()
}

// States returns an error matching [ErrUnsupported].
func States(fts ...FiveTuple) (map[FiveTuple]State, error) {
	return nil, unsupported()
}

// Sockets returns an error matching [ErrUnsupported].
func Sockets(states ...State) ([]Socket, error) {
	return nil, unsupported()
}

// Wait returns an error matching [ErrUnsupported].
func Wait(ctx context.Context, ft FiveTuple, want string, ok func(Socket) bool) (Socket, error) {
	return Socket{}, unsupported()
}

// WaitState returns an error matching [ErrUnsupported].
func WaitState(ctx context.Context, ft FiveTuple, want State) error {
	return unsupported()
}

// WaitGone returns an error matching [ErrUnsupported].
func WaitGone(ctx context.Context, ft FiveTuple) error {
	return unsupported()
}

// TCPInfo returns an error matching [ErrUnsupported]: TCP_INFO as this
// package reads it is Linux's.
func TCPInfo(c net.Conn) (*Info, error) {
	return nil, unsupported()
}

// TCPInfoFD returns an error matching [ErrUnsupported].
func TCPInfoFD(fd uintptr, i *Info) error {
	return unsupported()
}

func unsupported() error {
	return fmt.Errorf("kernel: socket diagnostics are only supported on Linux, not %s: %w", runtime.GOOS, ErrUnsupported)
}

// Farewells are the kernel's reports of the TCP sockets it destroys;
// Linux only.
type Farewells struct{}

// ListenFarewells returns an error matching [ErrUnsupported].
func ListenFarewells() (*Farewells, error) { return nil, unsupported() }

// Wait returns an error matching [ErrUnsupported].
func (f *Farewells) Wait(ft FiveTuple, timeout time.Duration) (Socket, error) {
	return Socket{}, unsupported()
}

// Close does nothing.
func (f *Farewells) Close() error { return nil }

// CountsTimeouts reports false: no TCP_INFO here.
func CountsTimeouts() bool { return false }
