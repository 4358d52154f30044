//go:build !linux

package lab_test

import (
	"errors"
	"testing"

	"tcptour/tracer/lab"
)

// Elsewhere than Linux there is no lab: Reexec says so and the program
// goes on as it is.
func TestNoLab(t *testing.T) {
	var no *lab.Refused
	if _, err := lab.Reexec(); !errors.As(err, &no) {
		t.Errorf("Reexec: %v, want a *Refused", err)
	}
	if info, err := lab.Setup(nil); info != nil || err != nil || lab.Inside() {
		t.Errorf("Setup: %+v, %v; Inside: %v", info, err, lab.Inside())
	}
}
