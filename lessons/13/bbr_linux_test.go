package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

// bbrAllowed reports whether this kernel lets a socket here use BBR, as
// step 4 asks: the trace then has its transfer, and otherwise a note
// that says why not.
func bbrAllowed(t *testing.T) bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, "bbr")
	t.Logf("setsockopt TCP_CONGESTION bbr: %v", err)
	return err == nil
}
