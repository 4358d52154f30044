//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tcptour/tracer/capture"
	"tcptour/tracer/link"
)

var scenarios = []scenario{
	{
		// reuse: 12 HTTP/1.0-like requests, one connection each, from a
		// client whose ephemeral ports are only 40000 and 40001, so
		// that each five-tuple carries several connections one after
		// the other. The server answers and closes first (its end
		// waits in TIME_WAIT, which takes a new SYN with a higher
		// sequence number); the client reads to the end and closes.
		// Both ends captured.
		name: "reuse", file: "reuse.pcapng", both: true,
		cfg:    link.Config{DelayToServer: time.Millisecond, DelayToClient: time.Millisecond},
		client: map[string]string{"net/ipv4/ip_local_port_range": "40000 40001"},
		run:    func(r *runner) (int, error) { return r.requests(12) },
	},
	{
		// lossy: the client sends 12,000 bytes in segments of 200
		// (the server's MSS) through a link that delays each
		// direction by 5 ms and drops 5 % of the segments each way at
		// random (seed 3), and holds back the client's 8th, 20th and
		// 33rd data segments (sent after the next: reordered), and
		// sends its 15th twice. Both ends captured.
		name: "lossy", file: "lossy.pcapng", both: true,
		cfg: link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond, Loss: 0.05, Seed: 3,
			Rules: []link.Rule{
				{Dir: link.FromClient, Kind: link.Data, Index: 8, Action: link.Hold},
				{Dir: link.FromClient, Kind: link.Data, Index: 20, Action: link.Hold},
				{Dir: link.FromClient, Kind: link.Data, Index: 33, Action: link.Hold},
				{Dir: link.FromClient, Kind: link.Data, Index: 15, Action: link.Duplicate},
			}},
		run: func(r *runner) (int, error) { return r.transfer(transfer{size: 12000, mss: 200}) },
	},
	{
		// gap: lossy's client end with frames cut out, as a capture
		// that missed them would: the client's 10th and 11th data
		// segments (their first copies) and the server's ACK after
		// them.
		name: "gap", file: "gap.pcapng",
		cfg: link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond},
		run: func(r *runner) (int, error) { return r.transfer(transfer{size: 6000, mss: 200}) },
		cut: cutGap,
	},
	{
		// keepalive: the client's socket sends keepalives after 1 s
		// idle, every 1 s; it sends 3 bytes, and closes after the
		// server has answered two keepalives. Client's end.
		name: "keepalive", file: "keepalive.pcapng",
		cfg: link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond},
		run: keepalive,
	},
	{
		// zerowindow: the server's socket has a receive buffer of
		// 2 KB (SO_RCVBUF, doubled by the kernel) and its program
		// does not read until the client has probed the zero window
		// twice; then it reads everything. The client sends 12,000
		// bytes in segments of 500. Client's end.
		name: "zerowindow", file: "zerowindow.pcapng",
		cfg: link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond},
		run: func(r *runner) (int, error) {
			return r.transfer(transfer{size: 12000, mss: 500, rcvbuf: 2048, stallProbes: 2})
		},
	},
	{
		// synack: the link drops the server's first SYN-ACK; the
		// server's SYN-ACK timer and the client's SYN timer (1 s
		// each) decide which is sent again first. Then a request and
		// an answer. Both ends captured.
		name: "synack", file: "synack.pcapng", both: true,
		cfg: link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond,
			Rules: []link.Rule{{Dir: link.FromServer, Kind: link.SYNACK, Index: 1, Action: link.Drop}}},
		run: func(r *runner) (int, error) { return r.requests(1) },
	},
	{
		// tfo: TCP Fast Open (net.ipv4.tcp_fastopen=3 at both ends,
		// TCP_FASTOPEN on the listener, TCP_FASTOPEN_CONNECT on the
		// client): the first request gets a cookie, the second is
		// sent in the SYN, 18 bytes. Client's end.
		name: "tfo", file: "tfo.pcapng",
		cfg:    link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond},
		client: map[string]string{"net/ipv4/tcp_fastopen": "3"},
		server: map[string]string{"net/ipv4/tcp_fastopen": "3"},
		run:    func(r *runner) (int, error) { return r.requestsWith(2, true) },
	},
	{
		// simclose: the client sends a request, the server answers,
		// and then both close at once: their FINs cross on a link
		// that delays each direction by 10 ms. Both ends captured.
		name: "simclose", file: "simclose.pcapng", both: true,
		cfg: link.Config{DelayToServer: 10 * time.Millisecond, DelayToClient: 10 * time.Millisecond},
		run: simclose,
	},
	{
		// finlost: the client's route to the server has rto_min 5 ms
		// (ip route ... rto_min 5ms); the client sends a request,
		// reads the answer and closes; the link drops its FIN and the
		// copy after, so that it is sent a third time. Client's end.
		name: "finlost", file: "finlost.pcapng",
		cfg: link.Config{DelayToServer: 10 * time.Millisecond, DelayToClient: 10 * time.Millisecond,
			Rules: []link.Rule{{Dir: link.FromClient, Kind: link.FIN, Index: 1, Retransmits: 1, Action: link.Drop}}},
		run: func(r *runner) (int, error) {
			if err := r.l.InClient(func() error { return rtoMin(5) }); err != nil {
				return 0, err
			}
			return r.requests(1)
		},
	},
	// The large ones, made only when named: for comparing with tshark
	// by hand (go test ./tracer/wire -run TestAnalysisOfFiles compares
	// those in testdata only).
	{
		// bigloss: 600,000 bytes in full segments, 3 % random loss each
		// way (seed 7), 10 ms each way, a few segments reordered. Both
		// ends.
		name: "bigloss", file: "bigloss.pcapng", both: true, large: true,
		cfg: link.Config{DelayToServer: 10 * time.Millisecond, DelayToClient: 10 * time.Millisecond, Loss: 0.03, Seed: 7,
			Rules: []link.Rule{
				{Dir: link.FromClient, Kind: link.Data, Index: 30, Action: link.Hold},
				{Dir: link.FromClient, Kind: link.Data, Index: 90, Action: link.Hold},
				{Dir: link.FromClient, Kind: link.Data, Index: 150, Action: link.Duplicate},
			}},
		run: func(r *runner) (int, error) { return r.transfer(transfer{size: 600000, mss: 1460}) },
	},
	{
		// queue: 1,000,000 bytes into a direction limited to 1 MB/s
		// with a queue of 8 frames (tail drops), 5 ms each way.
		// Client's end.
		name: "queue", file: "queue.pcapng", large: true,
		cfg: link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond, RateToServer: 1 << 20, Queue: 8},
		run: func(r *runner) (int, error) { return r.transfer(transfer{size: 1000000, mss: 1460}) },
	},
	{
		// manyreuse: 200 requests from 2 ephemeral ports. Both ends.
		name: "manyreuse", file: "manyreuse.pcapng", both: true, large: true,
		cfg:    link.Config{DelayToServer: time.Millisecond, DelayToClient: time.Millisecond, Loss: 0.02, Seed: 5},
		client: map[string]string{"net/ipv4/ip_local_port_range": "40000 40001"},
		run:    func(r *runner) (int, error) { return r.requests(200) },
	},
}

// listenWith listens on the server's address, in its namespace.
func (r *runner) listenWith(lc net.ListenConfig) (net.Listener, error) {
	var ln net.Listener
	err := r.l.InServer(func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(link.ServerAddr, serverPort).String())
		return err
	})
	return ln, err
}

// setInt returns a Control function that sets a socket option.
func setInt(level, opt, v int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
			return err
		}
		return serr
	}
}

// controls runs several Control functions.
func controls(fs ...func(string, string, syscall.RawConn) error) func(string, string, syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		for _, f := range fs {
			if f == nil {
				continue
			}
			if err := f(network, address, rc); err != nil {
				return err
			}
		}
		return nil
	}
}

// rtoMin sets rto_min on the routes of this thread's namespace to the
// server's address.
func rtoMin(ms int) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, rt := range routes {
		if rt.Dst != nil && rt.Dst.Contains(link.ServerAddr.AsSlice()) {
			rt.RtoMin, rt.RtoMinLock = ms, true
			return h.RouteReplace(&rt)
		}
	}
	return fmt.Errorf("no route to %s", link.ServerAddr)
}

// transfer is a one-way transfer from the client to the server.
type transfer struct {
	size, mss int
	// rcvbuf, if set, is the server's SO_RCVBUF.
	rcvbuf int
	// stallProbes, if set: the server reads nothing until the client
	// has sent so many zero-window probes.
	stallProbes int
}

// transfer sends t.size bytes from the client, which then closes; the
// server reads to the end and closes.
func (r *runner) transfer(t transfer) (int, error) {
	lc := net.ListenConfig{Control: setInt(unix.IPPROTO_TCP, unix.TCP_MAXSEG, t.mss)}
	if t.rcvbuf > 0 {
		lc.Control = controls(lc.Control, setInt(unix.SOL_SOCKET, unix.SO_RCVBUF, t.rcvbuf))
	}
	ln, err := r.listenWith(lc)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	probed := make(chan struct{})
	if t.stallProbes > 0 {
		w := &probeWatch{want: t.stallProbes, done: probed}
		ec := r.caps[0]
		ec.mu.Lock()
		ec.watch = w.see
		ec.mu.Unlock()
	} else {
		close(probed)
	}
	read := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- err
			return
		}
		select {
		case <-probed:
		case <-time.After(time.Until(r.deadline)):
		}
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != int64(t.size) {
			err = fmt.Errorf("the server read %d bytes, want %d", n, t.size)
		}
		read <- errors.Join(err, c.Close())
	}()
	c, err := r.dial(nil)
	if err != nil {
		return 0, err
	}
	if _, err := c.Write(make([]byte, t.size)); err != nil {
		return 0, err
	}
	if err := c.CloseWrite(); err != nil {
		return 0, err
	}
	select {
	case err := <-read:
		if err != nil {
			return 0, err
		}
	case <-time.After(time.Until(r.deadline)):
		return 0, fmt.Errorf("the server: %w", errDeadline)
	}
	// The server closed: the client reads its FIN, and closes.
	if _, err := io.Copy(io.Discard, c); err != nil {
		return 0, err
	}
	return 1, c.Close()
}

// probeWatch counts the client's zero-window probes (no data, numbered
// one below its next byte, while the server's window is 0).
type probeWatch struct {
	want, n    int
	next       uint32
	serverZero bool
	done       chan struct{}
}

func (w *probeWatch) see(d capture.Decoded) {
	t := d.TCP
	if d.Src.Port() == serverPort {
		w.serverZero = t.Window == 0
		return
	}
	end := t.Seq + uint32(t.PayloadLen)
	if t.Flags.Has(capture.SYN) || t.Flags.Has(capture.FIN) {
		end++
	}
	if t.PayloadLen == 0 && w.serverZero && t.Seq == w.next-1 {
		w.n++
		if w.n == w.want {
			close(w.done)
		}
	}
	if int32(end-w.next) > 0 || t.Flags.Has(capture.SYN) {
		w.next = end
	}
}

// keepalive: the client sends 3 bytes, then idles with keepalives on
// until the server has answered two; then both close.
func keepalive(r *runner) (int, error) {
	ln, err := r.listenWith(net.ListenConfig{})
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	read := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- err
			return
		}
		_, err = io.Copy(io.Discard, c)
		read <- errors.Join(err, c.Close())
	}()
	answered := make(chan struct{})
	w := &keepaliveWatch{want: 2, done: answered}
	ec := r.caps[0]
	ec.mu.Lock()
	ec.watch = w.see
	ec.mu.Unlock()
	c, err := r.dial(&net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 5}})
	if err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("hi\n")); err != nil {
		return 0, err
	}
	select {
	case <-answered:
	case <-time.After(time.Until(r.deadline)):
		return 0, errors.New("no keepalive answered")
	}
	if err := c.Close(); err != nil {
		return 0, err
	}
	return 1, <-read
}

// keepaliveWatch counts the server's answers to the client's
// keepalives.
type keepaliveWatch struct {
	want, n int
	next    uint32
	probe   bool // the client's last segment was a keepalive
	done    chan struct{}
}

func (w *keepaliveWatch) see(d capture.Decoded) {
	t := d.TCP
	if d.Src.Port() == serverPort {
		if w.probe && t.Flags.Has(capture.ACK) {
			w.probe = false
			if w.n++; w.n == w.want {
				close(w.done)
			}
		}
		return
	}
	end := t.Seq + uint32(t.PayloadLen)
	if t.Flags.Has(capture.SYN) {
		end++
	}
	w.probe = t.PayloadLen <= 1 && !t.Flags.Has(capture.SYN) && t.Seq == w.next-1
	if int32(end-w.next) > 0 || t.Flags.Has(capture.SYN) {
		w.next = end
	}
}

// simclose: a request and its answer, then both ends close at once.
func simclose(r *runner) (int, error) {
	ln, err := r.listenWith(net.ListenConfig{})
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := r.dial(nil)
	if err != nil {
		return 0, err
	}
	sc := <-accepted
	if sc == nil {
		return 0, errors.New("no connection accepted")
	}
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		return 0, err
	}
	buf := make([]byte, 100)
	if _, err := sc.Read(buf); err != nil {
		return 0, err
	}
	if _, err := sc.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhi")); err != nil {
		return 0, err
	}
	if _, err := c.Read(buf); err != nil {
		return 0, err
	}
	// Both FINs leave within microseconds; each takes 10 ms to cross.
	return 1, errors.Join(c.Close(), sc.Close())
}

// cutGap leaves out, as a capture that missed them, the client's 10th
// and 11th data segments (first copies) and the server's next ACK.
func cutGap(pkts []capture.Packet) []capture.Packet {
	var out []capture.Packet
	data, cutting := 0, false
	for _, p := range pkts {
		d, err := capture.Decode(p)
		if err != nil || d.TCP == nil {
			out = append(out, p)
			continue
		}
		if d.Dst.Port() == serverPort && d.TCP.PayloadLen > 0 {
			data++
			if data == 10 || data == 11 {
				cutting = true
				continue
			}
		}
		if cutting && d.Src.Port() == serverPort && d.TCP.PayloadLen == 0 {
			cutting = false
			continue
		}
		out = append(out, p)
	}
	return out
}

// dial connects from the client's namespace.
func (r *runner) dial(d *net.Dialer) (*net.TCPConn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	var c net.Conn
	err := r.l.InClient(func() (err error) {
		c, err = d.Dial("tcp4", netip.AddrPortFrom(link.ServerAddr, serverPort).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// requests makes n requests, each on a connection of its own, one after
// the other: each waits until the one before has ended at the client.
func (r *runner) requests(n int) (int, error) { return r.requestsWith(n, false) }

// requestsWith is requests, with TCP Fast Open if tfo.
func (r *runner) requestsWith(n int, tfo bool) (int, error) {
	lc := net.ListenConfig{}
	d := &net.Dialer{}
	if tfo {
		lc.Control = setInt(unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 16)
		d.Control = setInt(unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1)
	}
	ln, err := r.listenWith(lc)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			buf := make([]byte, 100)
			_, err = c.Read(buf)
			if err == nil {
				_, err = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhi"))
			}
			if err = errors.Join(err, c.Close()); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	for i := range n {
		c, err := r.dial(d)
		if err != nil {
			return 0, err
		}
		if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
			return 0, err
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			return 0, err
		}
		if err := c.Close(); err != nil {
			return 0, err
		}
		if err := r.caps[0].waitEnded(i+1, r.deadline); err != nil {
			return 0, err
		}
	}
	select {
	case err := <-served:
		return n, err
	case <-time.After(time.Until(r.deadline)):
		return 0, fmt.Errorf("the server: %w", errDeadline)
	}
}
