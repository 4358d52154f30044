//go:build !linux

package capture

import (
	"context"
	"fmt"
	"runtime"
)

// Capture is a running packet capture. On this system Open always fails,
// so no Capture exists; the type is here so code using it compiles.
type Capture struct{}

// Open returns an error matching ErrUnsupported: capture is only supported
// on Linux.
func Open(cfg Config) (*Capture, error) {
	ifname := cfg.Interface
	if ifname == "" {
		ifname = DefaultInterface
	}
	return nil, fmt.Errorf("capture: open %s: capture is only supported on Linux, not %s: %w", ifname, runtime.GOOS, ErrUnsupported)
}

// SetPorts returns an error matching ErrUnsupported.
func (c *Capture) SetPorts(tcp, udp []uint16) error {
	return fmt.Errorf("capture: capture is only supported on Linux: %w", ErrUnsupported)
}

// Sync returns an error matching ErrUnsupported.
func (c *Capture) Sync(ctx context.Context) error {
	return fmt.Errorf("capture: capture is only supported on Linux: %w", ErrUnsupported)
}

// Stats returns zero counters and an error matching ErrUnsupported.
func (c *Capture) Stats() (Stats, error) {
	return Stats{}, fmt.Errorf("capture: capture is only supported on Linux: %w", ErrUnsupported)
}

// Close returns zero counters and no error.
func (c *Capture) Close() (Stats, error) { return Stats{}, nil }
