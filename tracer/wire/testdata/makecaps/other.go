//go:build !linux

// Command makecaps makes the captures of tracer/wire/testdata; it needs
// Linux's network namespaces.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "makecaps: the lab's link needs Linux")
	os.Exit(1)
}
