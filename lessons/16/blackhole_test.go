//go:build linux

package main

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// blackhole gives the test's namespace an IPv6 network where a SYN
// goes unanswered: 2001:db8:16::/64 on one end of a veth pair whose
// other end has no address, and a permanent neighbour entry for
// 2001:db8:16::99 there, so the SYN leaves at once and nothing
// answers. It returns that address.
func blackhole(t *testing.T) string {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo: %v", err)
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hole16"}, PeerName: "hole16p"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("veth pair: %v", err)
	}
	t.Cleanup(func() { netlink.LinkDel(v) })
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("2001:db8:16::1"), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrAdd(v, a); err != nil {
		t.Fatalf("address on the veth: %v", err)
	}
	for _, name := range []string{"hole16", "hole16p"} {
		l, err := netlink.LinkByName(name)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const addr = "2001:db8:16::99"
	n := &netlink.Neigh{LinkIndex: v.Attrs().Index, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
		IP: net.ParseIP(addr), HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0x16, 0x99}}
	if err := netlink.NeighAdd(n); err != nil {
		t.Fatalf("neighbour entry: %v", err)
	}
	return addr
}
