//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// socketInfo is what the kernel says about one of its TCP sockets.
type socketInfo struct {
	// RecvQ is ss's Recv-Q column. For a listening socket it counts the
	// connections whose handshake is done and that wait for Accept;
	// for a connection, the bytes received that no Read has taken.
	RecvQ int
	// Inode is the socket's inode: 0 while no file descriptor refers to
	// it, as for a connection that nobody has accepted yet.
	Inode uint32
}

// kernelSocket asks the kernel about the IPv4 TCP socket whose own end
// is local and whose peer is remote (zero for a listener), the way
// `ss -tan` asks: with socket diagnostics over netlink, which needs no
// privilege.
func kernelSocket(local, remote netip.AddrPort) (socketInfo, error) {
	var socks []*netlink.Socket
	var err error
	for range 3 { // a dump interrupted by a change is asked again
		socks, err = netlink.SocketDiagTCP(unix.AF_INET)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return socketInfo{}, fmt.Errorf("socket diagnostics: %w", err)
	}
	for _, s := range socks {
		src, _ := netip.AddrFromSlice(s.ID.Source.To4())
		dst, _ := netip.AddrFromSlice(s.ID.Destination.To4())
		if netip.AddrPortFrom(src, s.ID.SourcePort) != local {
			continue
		}
		if remote.IsValid() && netip.AddrPortFrom(dst, s.ID.DestinationPort) != remote {
			continue
		}
		if !remote.IsValid() && s.ID.DestinationPort != 0 {
			continue
		}
		return socketInfo{RecvQ: int(s.RQueue), Inode: s.INode}, nil
	}
	return socketInfo{}, fmt.Errorf("socket diagnostics: no TCP socket %v → %v", local, remote)
}

// waitRecvQ asks the kernel, every millisecond, until the socket's
// Recv-Q is want: the kernel cannot tell us when it changes. It gives up
// after a second.
func waitRecvQ(ctx context.Context, local, remote netip.AddrPort, want int) (socketInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s, err := kernelSocket(local, remote)
		if err == nil && s.RecvQ == want {
			return s, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("Recv-Q is %d, not %d", s.RecvQ, want)
			}
			return s, fmt.Errorf("waiting for the kernel: %v → %v: %w", local, remote, err)
		case <-tick.C:
		}
	}
}
