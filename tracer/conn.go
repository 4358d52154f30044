package tracer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listen opens a listening socket like [net.Listen] and returns it
// wrapped by [WrapListener]. The Listen hook reports the address the
// kernel bound, which is how a program asking for port 0 learns its port.
func Listen(ctx context.Context, h *Hooks, network, address string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, address)
	info := ListenInfo{Time: time.Now(), Network: network, Addr: address, Err: err}
	if err == nil {
		info.Local = addrPort(ln.Addr())
	}
	if h != nil && h.Listen != nil {
		h.Listen(info)
	}
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = &Hooks{}
	}
	// Made here with no Control function: nothing has set SO_LINGER on
	// its sockets, unless the program reaches one through NetConn.
	return &listener{Listener: ln, h: h, plain: true}, nil
}

// WrapListener returns a listener whose Accept calls h.Accept and wraps
// each new connection with [WrapConn], and whose Close calls h.Close.
// Like golang.org/x/net/netutil.LimitListener it embeds the listener and
// overrides only what it traces.
func WrapListener(l net.Listener, h *Hooks) net.Listener {
	if h == nil {
		h = &Hooks{}
	}
	return &listener{Listener: l, h: h}
}

type listener struct {
	net.Listener
	h         *Hooks
	plain     bool // made by Listen: its sockets have SO_LINGER off
	closeOnce sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	now := time.Now()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) && l.h.Accept != nil {
			l.h.Accept(AcceptInfo{Time: now, Local: addrPort(l.Addr()), Err: err})
		}
		return nil, err
	}
	wc := wrapConn(c, l.h, !l.plain)
	if l.h.Accept != nil {
		i := AcceptInfo{Local: wc.local, Remote: wc.remote, Conn: c, wc: wc}
		i.TCP, _ = wc.sockInfo(false)
		i.Time = now
		l.h.Accept(i)
	}
	return wc, nil
}

func (l *listener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		if l.h.Close != nil {
			l.h.Close(CloseInfo{Time: time.Now(), Listener: true, Local: addrPort(l.Addr())})
		}
	})
	err := l.Listener.Close()
	if err != nil && first && l.h.Error != nil {
		l.h.Error(ErrorInfo{Time: time.Now(), Op: "close", Local: addrPort(l.Addr()), Err: err})
	}
	return err
}

// WrapConn returns a connection that calls h's Read, Write, CloseWrite
// and Close hooks and otherwise behaves as c. The returned connection
// also has the methods
//
//	CloseWrite() error  // shut down the write half (TCP: send FIN)
//	NetConn() net.Conn  // the wrapped connection, e.g. a *net.TCPConn
//
// so a program can half-close it or reach socket options:
// conn.(interface{ CloseWrite() error }).CloseWrite().
func WrapConn(c net.Conn, h *Hooks) net.Conn { return wrapConn(c, h, true) }

// wrapConn wraps c. mayLinger says whether SO_LINGER may have been set on
// its socket already (by a Control function, or before it was wrapped):
// then Close reads it, to say whether it sends RST.
func wrapConn(c net.Conn, h *Hooks, mayLinger bool) *conn {
	if h == nil {
		h = &Hooks{}
	}
	wc := &conn{
		Conn:   c,
		h:      h,
		local:  addrPort(c.LocalAddr()),
		remote: addrPort(c.RemoteAddr()),
		start:  time.Now(),
	}
	wc.mayLinger.Store(mayLinger)
	return wc
}

type conn struct {
	net.Conn
	h             *Hooks
	local, remote netip.AddrPort
	start         time.Time
	in, out       atomic.Int64
	eof           atomic.Bool
	wclosed       atomic.Bool
	reset         atomic.Bool // a Read or Write failed with ECONNRESET or EPIPE
	// mayLinger is set when the program may have set SO_LINGER: Close
	// then reads it. Only NetConn, or a socket made elsewhere, lets it.
	mayLinger atomic.Bool
	closeOnce sync.Once

	optMu sync.Mutex // guards opts
	opts  sockopts   // what the events read from the socket

	// ref is what the trace of its events remembers of the connection:
	// its id, found once rather than at each event.
	ref ConnRef

	// Writes are numbered; failMu guards failures, the Writes that
	// failed, by number, with the bytes each had written.
	writes   atomic.Uint64
	failMu   sync.Mutex
	failures map[uint64]int
}

// written reports whether Write number seq failed, and how many bytes
// it had written when it did.
func (c *conn) written(seq uint64) (n int, failed bool) {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	n, failed = c.failures[seq]
	return n, failed
}

// connIDs is a trace's id of one end of a connection, and the key the
// trace files it under.
type connIDs struct {
	t   *Trace
	id  int
	key connKey
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	now := time.Now()
	c.in.Add(int64(n))
	if errors.Is(err, io.EOF) {
		c.eof.Store(true)
	}
	if isReset(err) {
		c.reset.Store(true)
	}
	// A Read cut short because this program closed the connection is
	// not news: the Close event says it.
	if errors.Is(err, net.ErrClosed) && n == 0 {
		return n, err
	}
	if c.h.Read != nil && (n > 0 || err != nil) {
		i := IOInfo{Time: now, Local: c.local, Remote: c.remote, N: n, Data: p[:n], Err: err, Conn: c.Conn, wc: c}
		i.TCP, _ = c.sockInfo(false)
		c.h.Read(i)
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	seq := c.writes.Add(1)
	if c.h.Write != nil {
		i := IOInfo{Local: c.local, Remote: c.remote, N: len(p), Data: p, Conn: c.Conn, wc: c, wseq: seq}
		i.TCP, _ = c.sockInfo(false)
		i.Time = time.Now()
		c.h.Write(i)
	}
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	if err != nil {
		// EPIPE after this side's CloseWrite is its own doing, not the
		// peer's reset.
		if isReset(err) && !(errors.Is(err, syscall.EPIPE) && c.wclosed.Load()) {
			c.reset.Store(true)
		}
		c.failMu.Lock()
		if c.failures == nil {
			c.failures = map[uint64]int{}
		}
		c.failures[seq] = n
		c.failMu.Unlock()
		c.failWrite(err, len(p), n)
	}
	return n, err
}

// failWrite reports a Write of size bytes that failed with err after
// written of them.
func (c *conn) failWrite(err error, size, written int) {
	if c.h.Error != nil {
		i := ErrorInfo{Time: time.Now(), Op: "write", Local: c.local, Remote: c.remote, Err: err, Conn: c.Conn, wc: c, Size: size, Written: written}
		i.TCP, _ = c.sockInfo(false)
		c.h.Error(i)
	}
}

func (c *conn) fail(op string, err error) {
	if c.h.Error != nil {
		i := ErrorInfo{Time: time.Now(), Op: op, Local: c.local, Remote: c.remote, Err: err, Conn: c.Conn, wc: c}
		i.TCP, _ = c.sockInfo(false)
		c.h.Error(i)
	}
}

// CloseWrite shuts down the write half of the connection when the
// wrapped connection supports it (*net.TCPConn does).
func (c *conn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return &net.OpError{Op: "close-write", Net: "tcp", Addr: c.RemoteAddr(), Err: errors.ErrUnsupported}
	}
	if c.h.CloseWrite != nil {
		i := CloseWriteInfo{Local: c.local, Remote: c.remote, Conn: c.Conn, wc: c}
		i.TCP, _ = c.sockInfo(false)
		i.Time = time.Now()
		c.h.CloseWrite(i)
	}
	err := cw.CloseWrite()
	if err != nil {
		c.fail("close-write", err)
	} else {
		c.wclosed.Store(true)
	}
	return err
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn {
	// Its socket options are the program's now: SO_LINGER among them.
	c.mayLinger.Store(true)
	return c.Conn
}

func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		if c.h.Close != nil {
			tcp, linger0 := c.sockInfo(c.mayLinger.Load())
			now := time.Now()
			c.h.Close(CloseInfo{
				Time:  now,
				Local: c.local, Remote: c.remote,
				BytesIn: c.in.Load(), BytesOut: c.out.Load(),
				PeerClosed: c.eof.Load(), WriteClosed: c.wclosed.Load(),
				Reset: c.reset.Load(), Linger0: linger0,
				Lifetime: now.Sub(c.start),
				Conn:     c.Conn,
				TCP:      tcp,
				wc:       c,
			})
		}
	})
	err := c.Conn.Close()
	if err != nil && first {
		c.fail("close", err)
	}
	return err
}

// addrPort converts a *net.TCPAddr or *net.UDPAddr to a netip.AddrPort,
// with IPv4-mapped IPv6 addresses unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// isReset reports whether err says the peer reset the connection.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// connRef returns c's ConnRef, nil for a nil c.
func (c *conn) connRef() *ConnRef {
	if c == nil {
		return nil
	}
	return &c.ref
}
