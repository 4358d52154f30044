//go:build !linux

// Command makecaps makes the captures of tracer/capture/testdata; it
// needs Linux's network namespaces.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "makecaps: it needs Linux")
	os.Exit(1)
}
