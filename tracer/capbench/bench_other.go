//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

func run(ctx context.Context, cfg config, stdin io.Reader, stdout io.Writer) error {
	return fmt.Errorf("capture is only supported on Linux, not %s", runtime.GOOS)
}
