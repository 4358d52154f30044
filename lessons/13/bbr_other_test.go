//go:build !linux

package main

import "testing"

// bbrAllowed: BBR is Linux's (the lesson's tests skip elsewhere).
func bbrAllowed(t *testing.T) bool { return false }
