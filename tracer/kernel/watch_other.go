//go:build !linux

package kernel

import (
	"fmt"
	"io/fs"
	"net/netip"
	"runtime"
	"time"
)

// The types below are those of watch_linux.go, kept the same so that a
// program that watches compiles everywhere.

// Change is one change of a TCP socket's state as the kernel made it.
// Only Linux reports them (the tracepoint sock:inet_sock_set_state).
type Change struct {
	// Time is when the kernel changed the state, as wall-clock time.
	Time time.Time
	// Socket is the kernel's address of the socket (skaddr).
	Socket uint64
	// Local and Remote are the socket's addresses seen from its own
	// end; a part the socket does not have yet is the zero AddrPort.
	Local, Remote netip.AddrPort
	From, To      State
}

// WatchConfig configures [Watch].
type WatchConfig struct {
	// Ports selects what is reported: only changes of TCP sockets
	// whose local or remote port is one of these.
	Ports []uint16
	// Handler receives the changes in batches, never concurrently.
	Handler func(Change)
}

// WatchStats counts what a [Watcher] saw, as [Watcher.Close] returns it.
type WatchStats struct {
	Changes uint64 // changes handed to Handler
	// Lost counts the changes the kernel dropped because a ring was
	// full.
	Lost uint64
}

// ErrPermission is matched by the error [Watch] returns on Linux when
// the kernel refuses to report state changes: that needs root. It is
// [fs.ErrPermission].
var ErrPermission = fs.ErrPermission

// Watcher reads the kernel's changes of TCP state, on Linux only: here
// [Watch] returns none.
type Watcher struct{}

// Watch returns an error matching [ErrUnsupported]: the kernel's changes
// of TCP state are read from a tracepoint of Linux.
func Watch(cfg WatchConfig) (*Watcher, error) {
	return nil, watchUnsupported()
}

// SetPorts returns an error matching [ErrUnsupported].
func (w *Watcher) SetPorts(ports []uint16) error {
	return watchUnsupported()
}

// Sync returns an error matching [ErrUnsupported].
func (w *Watcher) Sync() error {
	return watchUnsupported()
}

// Close returns an error matching [ErrUnsupported].
func (w *Watcher) Close() (WatchStats, error) {
	return WatchStats{}, watchUnsupported()
}

func watchUnsupported() error {
	return fmt.Errorf("kernel: state changes are only read on Linux (tracepoint sock:inet_sock_set_state), not %s: %w", runtime.GOOS, ErrUnsupported)
}
