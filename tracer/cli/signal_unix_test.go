//go:build !windows

package cli_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"tcptour/tracer/cli"
)

func TestOnSignal(t *testing.T) {
	ctx := cli.OnSignal()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	var intr *cli.Interrupted
	if !errors.As(context.Cause(ctx), &intr) || intr.ExitCode() != 143 {
		t.Fatalf("cause %v, want an interruption by SIGTERM", context.Cause(ctx))
	}
}
