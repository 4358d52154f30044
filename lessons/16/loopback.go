package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"tcptour/tracer/lab"
)

// loopbackName is the name the loopback demo dials: the lab DNS server
// answers ::1 and 127.0.0.1 for it, as /etc/hosts often does for
// localhost.
const loopbackName = "dual.loopback.test"

// onLoopback is what lesson 16 shows where it cannot have its lab (the
// system refuses it, or --host): the case a learner meets at home with
// localhost. A server listens on 127.0.0.1 only, and a client dials a
// name with both ::1 and 127.0.0.1. Go's resolver sorts ::1 first (RFC
// 6724: its precedence is 50, 127.0.0.1's 35); nothing listens on ::1,
// so the kernel answers that SYN with RST, and the dialer starts the
// IPv4 attempt at once instead of after FallbackDelay. Without a lab
// there is no capture and no link: the times of the attempts tell the
// story.
func onLoopback(w io.Writer) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener closed
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	// Is there IPv6 on this loopback? Without it, the ::1 attempt fails
	// before any packet.
	v6 := true
	if probe, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		v6 = false
	} else {
		probe.Close()
	}

	// A small DNS server on loopback (package lab) answers for the name,
	// and the dialer's resolver asks it, as in the lab.
	dns, err := lab.Start("127.0.0.1:0", map[string][]netip.Addr{
		loopbackName: {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")},
	})
	if err != nil {
		return err
	}
	defer dns.Close()

	// `ControlContext` runs as each attempt's socket is made, just
	// before its connect(2): it records when each attempt began.
	var mu sync.Mutex
	type attempt struct {
		at      time.Duration
		network string
		address string
	}
	var tries []attempt
	var start time.Time
	d := net.Dialer{
		Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", dns.Addr().String())
		}},
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			mu.Lock()
			defer mu.Unlock()
			tries = append(tries, attempt{time.Since(start), network, address})
			return nil
		},
	}
	fmt.Fprintf(w, "A server listens on 127.0.0.1:%s only (\"tcp4\"). A lab DNS server on\n", port)
	fmt.Fprintf(w, "%s answers %s with ::1 and 127.0.0.1,\n", dns.Addr(), loopbackName)
	fmt.Fprintf(w, "as /etc/hosts often does for localhost. The client dials it on \"tcp\":\n")
	start = time.Now()
	c, err := d.Dial("tcp", net.JoinHostPort(loopbackName, port))
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("dial %s:%s: %w", loopbackName, port, err)
	}
	local := c.LocalAddr().String()
	c.Close()

	mu.Lock()
	defer mu.Unlock()
	for _, a := range tries {
		fmt.Fprintf(w, "  +%.3f ms  %s connect to %s\n", ms(a.at), a.network, a.address)
	}
	fmt.Fprintf(w, "  +%.3f ms  connected from %s\n", ms(took), local)
	if len(tries) < 2 || tries[0].network != "tcp6" {
		fmt.Fprintln(w, "The dialer did not try ::1 first here; the lesson in its lab shows\nthe fallback on a link.")
		return nil
	}
	gap := tries[1].at - tries[0].at
	switch {
	case gap >= fallbackDelay/2:
		fmt.Fprintf(w, "The IPv4 attempt began %.3f ms after the IPv6 one: the dialer waited\n"+
			"for FallbackDelay (300 ms): the IPv6 attempt had no answer by then.\n", ms(gap))
	case v6:
		fmt.Fprintf(w, "The IPv6 attempt failed: nothing listens on [::1]:%s, so the kernel\n"+
			"answered its SYN with RST (ECONNREFUSED), and the dialer started the IPv4\n"+
			"attempt at once, %.3f ms after the first, not FallbackDelay (300 ms) later:\n"+
			"a refused family costs a round trip, on loopback almost nothing. A silently\n"+
			"lost one costs the whole delay: the lesson shows that on a link.\n", port, ms(gap))
	default:
		fmt.Fprintf(w, "The IPv6 attempt failed at once, %.3f ms before the IPv4 one: this\n"+
			"loopback has no IPv6 (::1), so connect(2) failed without sending a\n"+
			"packet, and the dialer went on to IPv4.\n", ms(gap))
	}
	return nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
