//go:build !linux

package kernel

import (
	"context"
	"fmt"
	"runtime"

	"tcptour/tracer"
)

// StateOf returns an error matching [ErrUnsupported]: socket
// diagnostics are only supported on Linux.
func StateOf(ft tracer.FiveTuple) (State, error) {
	return 0, unsupported()
}

// States returns an error matching [ErrUnsupported].
func States(fts ...tracer.FiveTuple) (map[tracer.FiveTuple]State, error) {
	return nil, unsupported()
}

// WaitState returns an error matching [ErrUnsupported].
func WaitState(ctx context.Context, ft tracer.FiveTuple, want State) error {
	return unsupported()
}

// WaitGone returns an error matching [ErrUnsupported].
func WaitGone(ctx context.Context, ft tracer.FiveTuple) error {
	return unsupported()
}

func unsupported() error {
	return fmt.Errorf("kernel: socket diagnostics are only supported on Linux, not %s: %w", runtime.GOOS, ErrUnsupported)
}
