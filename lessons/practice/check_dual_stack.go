package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

func init() {
	register(&Exercise{
		Name: "dual-stack", Lesson: "16", Order: 1, Role: "server",
		Title: "One server, both address families: 127.0.0.1 and ::1",
		Hints: []string{
			"A socket listens at one address of one family (or, bound to the wildcard [::], at every address of both, on every interface). Connection refused to [::1] means no socket listens there.",
			"net.Listen(\"tcp\", \"localhost:6969\") is not enough: with a host name, Listen listens on one of its addresses, the IPv4 one. Name the addresses yourself.",
			"Listen twice, net.Listen(\"tcp4\", \"127.0.0.1:\"+port) and net.Listen(\"tcp6\", \"[::1]:\"+port), and run acceptLoop for each (one in a goroutine).",
		},
		Check: checkDualStack,
	})
}

// checkDualStack connects over IPv4 and over IPv6, and wants each
// answered with the client's own address.
func checkDualStack(c *Check) error {
	p, err := c.Start()
	if err != nil {
		return err
	}
	if err := c.WaitListening(p); err != nil {
		return err
	}
	v6 := netip.AddrPortFrom(netip.IPv6Loopback(), c.Addr.Port())
	if !ipv6Here() {
		return errors.New("this system has no IPv6 loopback (::1): the check cannot connect over IPv6 here")
	}
	for _, to := range []netip.AddrPort{c.Addr, v6} {
		conn, err := c.DialTo(to)
		if err != nil {
			var why string
			if errors.Is(err, syscall.ECONNREFUSED) {
				why = refusedWhy(c, to)
			}
			return c.Fail("a client connecting to %s was refused: %v%s", to, errors.Unwrap(err), why)
		}
		defer conn.Close()
		local, _ := Ends(conn)
		want := "you are " + local.String()
		if err := askLine(conn, "who am I?", want, 2*time.Second); err != nil {
			c.Show(conn)
			return c.Fail("a client at %s sent a line and %v", local, err)
		}
		c.Holds("a client connected to %s, over %s, and was answered %q", to, family(to.Addr()), want)
	}
	socks, err := c.Sockets(kernel.Listen)
	if err != nil {
		return err
	}
	var at []string
	for _, s := range socks {
		if s.Local.Port() == c.Addr.Port() {
			at = append(at, s.Local.String())
		}
	}
	c.Holds("the kernel lists your program's listening sockets at %s", strings.Join(at, " and "))
	for _, a := range at {
		if strings.HasPrefix(a, "[::]:") {
			c.Holds("%s is a wildcard: one socket for every address of this machine, IPv6 and IPv4 (as ::ffff:a.b.c.d: Go turns IPV6_V6ONLY off), not only loopback. It serves both families here, and any network the machine is on as well", a)
		}
	}
	return nil
}

// refusedWhy says what the wire and the kernel's listening sockets show
// about a refused connection to addr.
func refusedWhy(c *Check, addr netip.AddrPort) string {
	// The SYN to addr, and the RST that answered it.
	var syn, rst *tracer.Packet
	for _, e := range c.Events() {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		if p.Dst == addr && HasFlag(p, "SYN") && !HasFlag(p, "ACK") {
			syn, rst = p, nil
		}
		if syn != nil && p.Src == addr && p.Dst == syn.Src && HasFlag(p, "RST") {
			rst = p
		}
	}
	if syn == nil || rst == nil {
		return ""
	}
	c.ShowEnds(syn.Src, addr)
	var at []string
	if socks, err := c.Sockets(kernel.Listen); err == nil {
		for _, s := range socks {
			if s.Local.Port() == addr.Port() {
				at = append(at, s.Local.String())
			}
		}
	}
	listening := "no socket listens at that port"
	if len(at) > 0 {
		listening = fmt.Sprintf("the kernel lists your program's listening sockets at %s, none at %s", strings.Join(at, " and "), addr.Addr())
	}
	return fmt.Sprintf(". On the wire the kernel answered the SYN with RST: %s", listening)
}

// family is "IPv4" or "IPv6".
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// ipv6Here reports whether the lab's network has ::1.
func ipv6Here() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
