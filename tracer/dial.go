package tracer

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Dialer connects like [net.Dialer] and reports each phase to Hooks:
// the name lookup (or its absence for an IP literal), then a connect per
// address tried until one succeeds, the way Node's lookupAndConnect does.
// The returned connection is wrapped by [WrapConn].
//
// The zero value is usable: it looks names up with Go's own resolver
// (reading /etc/hosts and /etc/resolv.conf) and traces nothing.
type Dialer struct {
	// Hooks receives the events; nil traces nothing.
	Hooks *Hooks
	// Resolver, if not nil, supplies StrictErrors and the Dial function
	// for DNS queries. Lookups always use Go's resolver (PreferGo), so
	// that the trace can see which server was asked.
	Resolver *net.Resolver
	// DNSServer, if set ("127.0.0.1:53531"), is asked instead of the
	// servers in /etc/resolv.conf. /etc/hosts is still read first.
	DNSServer string
	// Net is the dialer used for the DNS server and each connect; its
	// Timeout, Deadline and LocalAddr apply to each of them separately.
	// To bound the whole dial, lookup included, give DialContext a
	// context with a deadline.
	Net net.Dialer
}

// Dial connects to address on the named network ("tcp", "tcp4", "tcp6").
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on the named network using ctx.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	h := d.Hooks
	if h == nil {
		h = &Hooks{}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := d.lookupPort(ctx, network, portStr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	addrs, err := d.lookup(ctx, h, network, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var firstErr error
	for _, ip := range addrs {
		remote := netip.AddrPortFrom(ip, uint16(port))
		if h.ConnectStart != nil {
			h.ConnectStart(ConnectStartInfo{Time: time.Now(), Network: network, Remote: remote})
		}
		start := time.Now()
		c, err := d.Net.DialContext(ctx, network, remote.String())
		end := time.Now()
		info := ConnectDoneInfo{Time: end, Network: network, Remote: remote, Duration: end.Sub(start), Err: err}
		var wc *conn
		if err == nil {
			// A Control function may have set SO_LINGER.
			wc = wrapConn(c, h, d.Net.Control != nil || d.Net.ControlContext != nil)
			info.Local, info.Conn, info.wc = wc.local, c, wc
			info.TCP, _ = wc.sockInfo(false)
		}
		if h.ConnectDone != nil {
			h.ConnectDone(info)
		}
		if err == nil {
			return wc, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// numericPort is the resolver that turns a port number into a port:
// LookupPort looks nothing up for one, whatever the resolver, so one
// made once does, rather than one made per dial.
var numericPort = &net.Resolver{PreferGo: true}

// lookupPort is d's resolver's LookupPort.
func (d *Dialer) lookupPort(ctx context.Context, network, service string) (int, error) {
	if service != "" && strings.Trim(service, "0123456789") == "" {
		return numericPort.LookupPort(ctx, network, service)
	}
	return d.resolver(nil).LookupPort(ctx, network, service)
}

// lookup resolves host, or parses it when it is an IP literal, calling
// the DNS hooks either way.
func (d *Dialer) lookup(ctx context.Context, h *Hooks, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if h.DNSDone != nil {
			h.DNSDone(DNSDoneInfo{Time: time.Now(), Host: host, Literal: true, Addrs: []netip.Addr{ip}})
		}
		return []netip.Addr{ip}, nil
	}
	if h.DNSStart != nil {
		h.DNSStart(DNSStartInfo{Time: time.Now(), Host: host})
	}
	var (
		mu      sync.Mutex
		servers []string
	)
	r := d.resolver(func(network, address string) {
		mu.Lock()
		defer mu.Unlock()
		s := network + " " + address
		for _, have := range servers {
			if have == s {
				return
			}
		}
		servers = append(servers, s)
	})
	start := time.Now()
	addrs, err := r.LookupNetIP(ctx, ipNetwork(network), host)
	end := time.Now()
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && d.DNSServer != "" {
		// Go names the server from /etc/resolv.conf; the query went here.
		dnsErr.Server = d.DNSServer
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	mu.Lock()
	info := DNSDoneInfo{Time: end, Host: host, Servers: servers, Addrs: addrs, Duration: end.Sub(start), Err: err}
	mu.Unlock()
	if h.DNSDone != nil {
		h.DNSDone(info)
	}
	return addrs, err
}

// resolver returns a Go resolver that sends its queries to d.DNSServer
// (when set) and tells asked about each server it dials.
func (d *Dialer) resolver(asked func(network, address string)) *net.Resolver {
	r := &net.Resolver{PreferGo: true}
	var dial func(ctx context.Context, network, address string) (net.Conn, error)
	if d.Resolver != nil {
		r.StrictErrors = d.Resolver.StrictErrors
		dial = d.Resolver.Dial
	}
	if dial == nil {
		dial = d.Net.DialContext
	}
	server := d.DNSServer
	r.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		if server != "" {
			address = server
		}
		if asked != nil {
			asked(network, address)
		}
		return dial(ctx, network, address)
	}
	return r
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4", "udp4":
		return "ip4"
	case "tcp6", "udp6":
		return "ip6"
	}
	return "ip"
}
