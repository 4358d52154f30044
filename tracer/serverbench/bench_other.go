//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// run needs Linux: the servers' CPU time comes from /proc, and tcpdump
// and the captured server record lo.
func run(ctx context.Context, cfg config, stdout, progress io.Writer) (*report, error) {
	return nil, fmt.Errorf("serverbench needs Linux (/proc for CPU time, capture on lo), not %s", runtime.GOOS)
}
