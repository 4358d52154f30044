package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxSamples bounds the latencies kept (8 bytes each): past it, only
// every other one is kept, and so on, so the percentiles stay fair.
const maxSamples = 1 << 21

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	target, err := loopbackTarget(cfg.addr)
	if err != nil {
		return err
	}
	if cfg.idle > 0 {
		return holdIdle(ctx, cfg, target, stdout)
	}
	return echoLoad(ctx, cfg, target, stdout)
}

// loopbackTarget parses addr and refuses anything but loopback: this
// command is for loading this machine's own servers. It looks no name
// up (a DNS query would leave the machine): the host is an IP address,
// or localhost, taken as 127.0.0.1.
func loopbackTarget(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-addr %q: %v (want host:port, e.g. 127.0.0.1:6969)", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("-addr %q: port %q: want 1 to 65535", addr, port)
	}
	var ip netip.Addr
	if host == "localhost" {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	} else if ip, err = netip.ParseAddr(host); err != nil {
		return netip.AddrPort{}, fmt.Errorf("-addr %q: want a loopback IP address (127.0.0.1, ::1) or localhost: load looks no name up, so that nothing leaves this machine", addr)
	}
	if ip = ip.Unmap(); !ip.IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("-addr %q: %s is not a loopback address: load only runs against this machine's own servers (127.0.0.1, ::1, localhost)", addr, ip)
	}
	return netip.AddrPortFrom(ip.WithZone(""), uint16(p)), nil
}

// counts are the outcomes, by what failed.
type counts struct {
	ok                                  atomic.Int64
	dial, write, read, reply, closeErrs atomic.Int64
	mu                                  sync.Mutex
	first                               map[string]error
}

func (c *counts) fail(what string, n *atomic.Int64, err error) {
	n.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == nil {
		c.first = make(map[string]error)
	}
	if c.first[what] == nil {
		c.first[what] = err
	}
}

func (c *counts) errors() int64 {
	return c.dial.Load() + c.write.Load() + c.read.Load() + c.reply.Load() + c.closeErrs.Load()
}

func (c *counts) print(w io.Writer) {
	fmt.Fprintf(w, "errors       %d", c.errors())
	for _, k := range []struct {
		name string
		n    *atomic.Int64
	}{{"connect", &c.dial}, {"write", &c.write}, {"read", &c.read}, {"reply", &c.reply}, {"close", &c.closeErrs}} {
		if n := k.n.Load(); n > 0 {
			fmt.Fprintf(w, "\n  %-8s %d, first: %v", k.name, n, c.first[k.name])
		}
	}
	fmt.Fprintln(w)
}

// exchange is one client's conversation on an open connection: its
// message, and the seed's reply read whole and checked.
func exchange(c net.Conn, msg, want, buf []byte, cs *counts) bool {
	if _, err := c.Write(msg); err != nil {
		cs.fail("write", &cs.write, err)
		return false
	}
	if _, err := io.ReadFull(c, buf[:len(want)]); err != nil {
		cs.fail("read", &cs.read, err)
		return false
	}
	if !bytes.Equal(buf[:len(want)], want) {
		cs.fail("reply", &cs.reply, fmt.Errorf("got %q, want %q", buf[:len(want)], want))
		return false
	}
	return true
}

// echoLoad runs cfg.clients clients for cfg.dur.
func echoLoad(ctx context.Context, cfg config, target netip.AddrPort, stdout io.Writer) error {
	msg := []byte(cfg.msg)
	want := []byte(`You said "` + cfg.msg + `"`)
	addr := target.String()
	var cs counts
	lats := make([][]time.Duration, cfg.clients)
	start := time.Now()
	end := start.Add(cfg.dur)
	var wg sync.WaitGroup
	for i := range cfg.clients {
		wg.Go(func() {
			d := net.Dialer{Timeout: cfg.timeout}
			buf := make([]byte, len(want))
			keep := maxSamples / cfg.clients
			var mine []time.Duration
			every, n := 1, 0
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				if !connectOnce(ctx, &d, addr, cfg.timeout, msg, want, buf, &cs) {
					continue
				}
				cs.ok.Add(1)
				if n++; n%every == 0 {
					mine = append(mine, time.Since(t0))
					if len(mine) >= keep {
						// Keep every other sample from here on.
						mine, every = thin(mine), every*2
					}
				}
			}
			lats[i] = mine
		})
	}
	wg.Wait()
	took := time.Since(start)
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "interrupted")
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	fmt.Fprintf(stdout, "load: %d clients for %v against %s (loopback), each: connect, %q, read the reply, close\n",
		cfg.clients, took.Round(time.Millisecond), addr, cfg.msg)
	ok := cs.ok.Load()
	fmt.Fprintf(stdout, "connections  %d  (%.0f/s)\n", ok, float64(ok)/took.Seconds())
	if len(all) > 0 {
		fmt.Fprintf(stdout, "latency      p50 %s  p99 %s  max %s  (connect to close, %d samples)\n",
			ms(pct(all, 50)), ms(pct(all, 99)), ms(all[len(all)-1]), len(all))
	}
	cs.print(stdout)
	return cs.allFailed()
}

// allFailed says, as an error, that not one connection worked: the
// figures above then measure nothing (no server there, or the wrong
// one).
func (c *counts) allFailed() error {
	if c.ok.Load() > 0 || c.errors() == 0 {
		return nil
	}
	for _, what := range []string{"connect", "write", "read", "reply", "close"} {
		if err := c.first[what]; err != nil {
			return fmt.Errorf("every connection failed (the first at %s: %v): is the server running, and is it the seed's?", what, err)
		}
	}
	return errors.New("every connection failed")
}

// connectOnce is one connection's life; it reports success.
func connectOnce(ctx context.Context, d *net.Dialer, addr string, timeout time.Duration, msg, want, buf []byte, cs *counts) bool {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil {
			cs.fail("connect", &cs.dial, err)
		}
		return false
	}
	// NOTE: ignoring the error; a failed deadline shows as a failed read.
	_ = c.SetDeadline(time.Now().Add(timeout))
	if !exchange(c, msg, want, buf, cs) {
		c.Close()
		return false
	}
	if err := c.Close(); err != nil {
		cs.fail("close", &cs.closeErrs, err)
		return false
	}
	return true
}

func thin(s []time.Duration) []time.Duration {
	out := s[:0]
	for i := 0; i < len(s); i += 2 {
		out = append(out, s[i])
	}
	return out
}

// pct is the p-th percentile of sorted s (nearest rank).
func pct(s []time.Duration, p int) time.Duration {
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

// holdIdle opens cfg.idle connections, holds them for cfg.dur, then has
// each say its message, and reports the server's memory.
func holdIdle(ctx context.Context, cfg config, target netip.AddrPort, stdout io.Writer) error {
	addr := target.String()
	pid := cfg.pid
	if pid == 0 {
		var err error
		if pid, err = listenerPID(target); err != nil {
			fmt.Fprintf(stdout, "server's memory not reported: %v (give -pid)\n", err)
		}
	}
	var before memory
	if pid > 0 {
		var err error
		if before, err = readMemory(pid); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "load: opening %d idle connections to %s (loopback), %d at a time\n", cfg.idle, addr, cfg.clients)
	conns := make([]net.Conn, cfg.idle)
	var cs counts
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.clients {
		wg.Go(func() {
			d := net.Dialer{Timeout: cfg.timeout}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					cs.fail("connect", &cs.dial, err)
					continue
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	fmt.Fprintf(stdout, "opened       %d in %v (%d failed)\n", open, time.Since(start).Round(time.Millisecond), cs.dial.Load())
	if pid > 0 {
		// The kernel completes handshakes before the server accepts:
		// wait until the server holds a descriptor for each.
		waitFDs(ctx, pid, before.fds+open, 30*time.Second)
	}
	hold := time.NewTimer(cfg.dur)
	defer hold.Stop()
	var after memory
	if pid > 0 {
		// Let the server settle, then read its memory halfway through.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.dur / 2):
		}
		var err error
		if after, err = readMemory(pid); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-hold.C:
	}
	// Each held connection still works: its message, the reply.
	msg := []byte(cfg.msg)
	want := []byte(`You said "` + cfg.msg + `"`)
	next.Store(0)
	for range cfg.clients {
		wg.Go(func() {
			buf := make([]byte, len(want))
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				c := conns[i]
				if c == nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(cfg.timeout))
				if exchange(c, msg, want, buf, &cs) {
					cs.ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(stdout, "held         %d for %v; then %d said %q and got the reply\n", open, cfg.dur, cs.ok.Load(), cfg.msg)
	cs.print(stdout)
	if err := cs.allFailed(); err != nil {
		return err
	}
	if pid > 0 && open > 0 {
		fmt.Fprintf(stdout, "server       pid %d: resident %s before, %s with %d connections (anonymous %s → %s, %d → %d threads)\n",
			pid, kib(before.rss), kib(after.rss), open, kib(before.anon), kib(after.anon), before.threads, after.threads)
		fmt.Fprintf(stdout, "per connection  %.1f KiB resident\n", float64(after.rss-before.rss)/1024/float64(open))
	}
	return nil
}

func kib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// memory is a process's memory as /proc shows it.
type memory struct {
	rss, anon int64 // bytes
	fds       int
	threads   int
}

var errNoProc = errors.New("not supported on this system")
