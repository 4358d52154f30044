//go:build linux

package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Farewells are the kernel's reports of the TCP sockets it destroys. A
// socket no program holds leaves no file descriptor to read its
// TCP_INFO through, and once the kernel releases it socket diagnostics
// find nothing; but to a netlink socket that joined the group
// SKNLGRP_INET_TCP_DESTROY the kernel sends each TCP socket it
// destroys, as a socket-diagnostics answer with its TCP_INFO, read as
// the socket dies: how many times it sent its FIN again, and by which
// timer. Every TCP socket of the network namespace is reported.
type Farewells struct {
	fd int
}

// groupTCPDestroy is SKNLGRP_INET_TCP_DESTROY (linux/sock_diag.h).
const groupTCPDestroy = 1

// ListenFarewells joins the kernel's reports of destroyed TCP sockets.
// No privilege is needed (seen on Linux 6.18: the user nobody gets
// them); a kernel that asks for one fails with a wrapped
// [ErrPermission].
func ListenFarewells() (*Farewells, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("kernel: farewells: %w", os.NewSyscallError("socket", err))
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("kernel: farewells: %w", os.NewSyscallError("bind", err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, groupTCPDestroy); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EPERM) {
			err = fmt.Errorf("%w (%w)", ErrPermission, err)
		}
		return nil, fmt.Errorf("kernel: farewells: join the TCP destroy reports: %w", err)
	}
	// Every TCP socket that dies is reported: room for a burst.
	// NOTE: ignoring the error; the default buffer holds hundreds.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return &Farewells{fd: fd}, nil
}

// Wait returns the socket ft as the kernel reported it when it destroyed
// it, its TCP_INFO in Info, waiting for the report at most timeout.
func (f *Farewells) Wait(ft FiveTuple, timeout time.Duration) (Socket, error) {
	ft.Local, ft.Remote = norm(ft.Local), norm(ft.Remote)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1<<16)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Socket{}, fmt.Errorf("kernel: farewells: no report of %s's end within %v", ft, timeout)
		}
		// A zero timeout would wait for ever: a microsecond at least.
		tv := unix.NsecToTimeval(max(left, time.Microsecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(f.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return Socket{}, fmt.Errorf("kernel: farewells: %w", os.NewSyscallError("setsockopt", err))
		}
		n, _, err := unix.Recvfrom(f.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue // the loop checks the deadline
		case errors.Is(err, unix.ENOBUFS):
			continue // reports were lost: ours may come yet
		case err != nil:
			return Socket{}, fmt.Errorf("kernel: farewells: %w", os.NewSyscallError("recvfrom", err))
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			size := int(binary.NativeEndian.Uint32(b[0:4]))
			if size < unix.NLMSG_HDRLEN || size > len(b) {
				break
			}
			if s, ok := parseDiagMsg(b[unix.NLMSG_HDRLEN:size]); ok && s.Local == ft.Local && s.Remote == ft.Remote {
				return s, nil
			}
			b = b[min(len(b), (size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		}
	}
}

// Close stops the reports.
func (f *Farewells) Close() error { return unix.Close(f.fd) }

// CountsTimeouts reports whether the kernel counts each socket's
// retransmission timeouts in TCP_INFO ([Info].TotalRTO, Linux 6.7 and
// later): only then does a retransmission that leaves it unchanged show
// that no timeout sent it.
func CountsTimeouts() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 6 || major == 6 && minor >= 7
}
