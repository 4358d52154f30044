//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// A socket no program holds leaves no file descriptor to read its
// TCP_INFO through, and once the kernel releases it socket diagnostics
// find nothing. But the kernel can say goodbye: to a netlink socket
// that joined the group SKNLGRP_INET_TCP_DESTROY it sends each TCP
// socket it destroys, in the form of a socket-diagnostics answer, its
// TCP_INFO included, read as the socket dies. Joining takes
// CAP_NET_ADMIN, as the socket filters do.

// The group of sock_diag's destroy broadcasts for TCP
// (SKNLGRP_INET_TCP_DESTROY in linux/sock_diag.h), and the attribute
// that carries TCP_INFO (INET_DIAG_INFO in linux/inet_diag.h).
const (
	groupTCPDestroy = 1
	attrInfo        = 2
)

// farewells reads the kernel's reports of the TCP sockets it destroys.
type farewells struct {
	fd int
}

// listenFarewells joins the destroy broadcasts. It fails with EPERM
// without CAP_NET_ADMIN.
func listenFarewells() (*farewells, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, groupTCPDestroy); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("join the TCP destroy broadcasts: %w", os.NewSyscallError("setsockopt", err))
	}
	// Every TCP socket of the machine that dies is reported; room for
	// a burst of them.
	// NOTE: ignoring the error; the default buffer holds hundreds.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return &farewells{fd: fd}, nil
}

// wait returns the TCP_INFO the kernel reported as it destroyed the
// socket ft, waiting for it at most timeout.
func (f *farewells) wait(ft tracer.FiveTuple, timeout time.Duration) (*kernel.Info, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1<<16)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("no report of %s's destruction within %v", ft, timeout)
		}
		// A zero timeout would wait for ever: a microsecond at least.
		tv := unix.NsecToTimeval(max(left, time.Microsecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(f.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, os.NewSyscallError("setsockopt", err)
		}
		n, _, err := unix.Recvfrom(f.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue // the loop checks the deadline
		case errors.Is(err, unix.ENOBUFS):
			continue // reports were lost: ours may come yet
		case err != nil:
			return nil, os.NewSyscallError("recvfrom", err)
		}
		if info, ok := farewell(buf[:n], ft); ok {
			return info, nil
		}
	}
}

func (f *farewells) Close() error { return unix.Close(f.fd) }

// farewell looks in the netlink messages b for the report of the socket
// ft: a struct inet_diag_msg (72 bytes: family, state, timer, retrans,
// ports, addresses, …) and its attributes.
func farewell(b []byte, ft tracer.FiveTuple) (*kernel.Info, bool) {
	for len(b) >= unix.NLMSG_HDRLEN {
		size := int(binary.NativeEndian.Uint32(b[0:4]))
		if size < unix.NLMSG_HDRLEN || size > len(b) {
			return nil, false
		}
		m := b[unix.NLMSG_HDRLEN:size]
		b = b[min(len(b), (size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		if len(m) < 72 || m[0] != unix.AF_INET {
			continue // the lesson's sockets are IPv4
		}
		local := netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[8:12])), binary.BigEndian.Uint16(m[4:6]))
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[24:28])), binary.BigEndian.Uint16(m[6:8]))
		if local != ft.Local || remote != ft.Remote {
			continue
		}
		for a := m[72:]; len(a) >= 4; {
			l := int(binary.NativeEndian.Uint16(a[0:2]))
			if l < 4 || l > len(a) {
				break
			}
			if binary.NativeEndian.Uint16(a[2:4]) == attrInfo {
				return tcpInfo(a[4:l]), true
			}
			a = a[min(len(a), (l+3)&^3):]
		}
		return nil, true // reported without TCP_INFO
	}
	return nil, false
}

// tcpInfo reads the fields of struct tcp_info that the lesson shows. A
// shorter struct, from an older kernel, leaves the newer fields 0.
func tcpInfo(b []byte) *kernel.Info {
	var ti unix.TCPInfo
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti)), b)
	return &kernel.Info{
		State:        kernel.State(ti.State),
		RTO:          time.Duration(ti.Rto) * time.Microsecond,
		Unacked:      ti.Unacked,
		Retransmits:  ti.Retransmits,
		TotalRetrans: ti.Total_retrans,
		Backoff:      ti.Backoff,
		CAState:      kernel.CAState(ti.Ca_state),
		TotalRTO:     ti.Total_rto,
	}
}

// countsTimeouts reports whether the kernel counts the retransmission
// timeouts of each socket in TCP_INFO (tcpi_total_rto, Linux 6.7).
func countsTimeouts() bool {
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
