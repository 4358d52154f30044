package lab

import (
	"fmt"
	"os"
)

// Enter puts a program that is not a lesson (a tool that makes test
// captures) in a lab of its own, with no sysctls: called outside, it
// runs the program again inside (Reexec) and exits with its exit code,
// or with 1, saying why, when that cannot be done; inside, it sets the
// lab up (Setup) and returns, or exits 1 when that fails (the program
// outside has said why). Call it before the program's work.
func Enter() {
	if !Inside() {
		code, err := Reexec()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(code)
	}
	if _, err := Setup(nil); err != nil {
		os.Exit(1)
	}
}
