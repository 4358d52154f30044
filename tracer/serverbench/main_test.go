package main

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain is also the untraced reference server when the bench run by
// TestShortRun starts this test binary again as one.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "untraced" {
		if err := serveUntraced(os.Getenv(addrEnv), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	goleak.VerifyTestMain(m)
}
