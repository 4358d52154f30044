package lab_test

import (
	"errors"
	"syscall"
	"testing"

	"tcptour/tracer/lab"
)

func TestJoin(t *testing.T) {
	for _, tc := range []struct {
		info lab.Info
		want string
	}{
		// Made without root: the same user joins its user namespace
		// too, keeping their own uid for the files they write.
		{lab.Info{User: true, PID: 4242}, "nsenter -t 4242 -U -n --preserve-credentials"},
		// Made by root: root joins its network namespace alone.
		{lab.Info{PID: 4242}, "nsenter -t 4242 -n"},
		// Made by root for a learner under sudo: with sudo again.
		{lab.Info{PID: 4242, Sudo: true}, "sudo nsenter -t 4242 -n"},
	} {
		if got := tc.info.Join(); got != tc.want {
			t.Errorf("%+v: Join() = %q, want %q", tc.info, got, tc.want)
		}
	}
}

func TestRefusedError(t *testing.T) {
	r := &lab.Refused{Cause: "user namespaces are turned off (user.max_user_namespaces = 0)",
		Fix: "sudo sysctl -w user.max_user_namespaces=15000, or run the lesson with sudo", Err: syscall.ENOSPC}
	want := "no lab here: user namespaces are turned off (user.max_user_namespaces = 0): sudo sysctl -w user.max_user_namespaces=15000, or run the lesson with sudo"
	if r.Error() != want {
		t.Errorf("Error() = %q, want %q", r.Error(), want)
	}
	if !errors.Is(r, syscall.ENOSPC) {
		t.Error("the kernel's error is not wrapped")
	}
	r = &lab.Refused{Cause: "a lab of network namespaces needs Linux"}
	if want := "no lab here: a lab of network namespaces needs Linux"; r.Error() != want {
		t.Errorf("Error() = %q, want %q", r.Error(), want)
	}
}

func TestSysctlString(t *testing.T) {
	s := lab.Sysctl{Name: "net.ipv4.tcp_fin_timeout", Value: "5", Default: "60"}
	if got := s.String(); got != "net.ipv4.tcp_fin_timeout = 5" {
		t.Errorf("String() = %q", got)
	}
}
