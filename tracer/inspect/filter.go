package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"tcptour/tracer"
)

// filter says which packets to show: those that pass every part given.
type filter struct {
	ports []uint16
	hosts []netip.Prefix
	conns []int
}

// newFilter parses the filters of cfg.
func newFilter(cfg config) (filter, error) {
	var f filter
	for _, s := range fields(cfg.port) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return f, fmt.Errorf("-port %s: %q is not a port number (1 to 65535)", cfg.port, s)
		}
		f.ports = append(f.ports, uint16(n))
	}
	for _, s := range fields(cfg.host) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return f, fmt.Errorf("-host %s: %q is not an IP address or prefix (192.0.2.1, 2001:db8::/32)", cfg.host, s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		f.hosts = append(f.hosts, p.Masked())
	}
	for _, s := range fields(cfg.conn) {
		n, err := strconv.Atoi(strings.TrimPrefix(s, "#"))
		if err != nil || n <= 0 {
			return f, fmt.Errorf("-conn %s: %q is not a connection number (1, 2, … as inspect numbers them)", cfg.conn, s)
		}
		f.conns = append(f.conns, n)
	}
	return f, nil
}

// fields splits a comma-separated list, dropping empty items.
func fields(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// active reports whether any filter is set.
func (f *filter) active() bool { return len(f.ports)+len(f.hosts)+len(f.conns) > 0 }

// shows reports whether the packet of e passes the filter.
func (f *filter) shows(e *tracer.Event) bool {
	p := e.Packet
	if p == nil {
		return !f.active()
	}
	if len(f.ports) > 0 && !slices.Contains(f.ports, p.Src.Port()) && !slices.Contains(f.ports, p.Dst.Port()) {
		return false
	}
	if len(f.hosts) > 0 && !f.hostIn(p.Src.Addr()) && !f.hostIn(p.Dst.Addr()) {
		return false
	}
	if len(f.conns) > 0 && !slices.Contains(f.conns, e.Conn) {
		return false
	}
	return true
}

func (f *filter) hostIn(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range f.hosts {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// String says what the filter keeps, for the summary: "port 80, host
// 192.0.2.1/32 and connection 3".
func (f *filter) String() string {
	var parts []string
	if len(f.ports) > 0 {
		parts = append(parts, "port "+join(f.ports, func(p uint16) string { return strconv.Itoa(int(p)) }))
	}
	if len(f.hosts) > 0 {
		parts = append(parts, "host "+join(f.hosts, func(p netip.Prefix) string {
			if p.IsSingleIP() {
				return p.Addr().String()
			}
			return p.String()
		}))
	}
	if len(f.conns) > 0 {
		w := "connection "
		if len(f.conns) > 1 {
			w = "connections "
		}
		parts = append(parts, w+join(f.conns, func(n int) string { return "#" + strconv.Itoa(n) }))
	}
	return joinAnd(parts)
}

func join[T any](xs []T, str func(T) string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = str(x)
	}
	return strings.Join(s, " or ")
}
