//go:build unix

package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// lockName is the file whose lock one browser of this package holds at
// a time on the machine: test packages run side by side (go test runs
// several), and a browser each would take the CPU and memory the
// programs under test need.
var lockName = filepath.Join(os.TempDir(), "tcptour-chromium.lock")

// lock waits, until ctx is done, for the machine-wide lock, and returns
// the file that holds it (closing it lets go). Any user may take it: the
// file is opened for reading, made if missing.
func lock(ctx context.Context) (*os.File, error) {
	f, err := os.Open(lockName)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(lockName, os.O_RDONLY|os.O_CREATE, 0o644)
	}
	if err != nil {
		// No lock to share (a read-only /tmp): go on without one.
		return nil, nil
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("browser: waiting for another browser of this package to close (%s): %w", lockName, ctx.Err())
		case <-t.C:
		}
	}
}
