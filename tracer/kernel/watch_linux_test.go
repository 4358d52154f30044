package kernel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tcptour/tracer/kernel"
)

// recorder collects the changes a Watcher hands to it, and notes a call
// made while another one runs.
type recorder struct {
	mu      sync.Mutex
	changes []kernel.Change
	in      atomic.Int32
	overlap atomic.Bool
}

func (r *recorder) handle(c kernel.Change) {
	if r.in.Add(1) != 1 {
		r.overlap.Store(true)
	}
	defer r.in.Add(-1)
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) all() []kernel.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes)
}

// startWatch starts a Watcher on ports that hands its changes to a
// recorder, and closes it at the end of the test, checking that the
// kernel lost nothing. Where the kernel's state changes cannot be read
// (no root, no tracefs) the test is skipped.
func startWatch(t *testing.T, ports ...uint16) (*kernel.Watcher, *recorder) {
	t.Helper()
	rec := &recorder{}
	w, err := kernel.Watch(kernel.WatchConfig{Ports: ports, Handler: rec.handle})
	if errors.Is(err, kernel.ErrPermission) || errors.Is(err, kernel.ErrUnsupported) {
		t.Skipf("cannot read the kernel's state changes here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st, err := w.Close()
		if err != nil {
			t.Errorf("Close: %v", err)
		}
		if st.Lost != 0 {
			t.Errorf("the kernel lost %d changes", st.Lost)
		}
		if st.Changes != uint64(rec.len()) {
			t.Errorf("Close counts %d changes, the handler got %d", st.Changes, rec.len())
		}
		if rec.overlap.Load() {
			t.Error("the handler was called while it ran")
		}
	})
	return w, rec
}

func syncWatch(t *testing.T, w *kernel.Watcher) {
	t.Helper()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

// addrOf returns a's address and port, unmapped as the package gives
// them.
func addrOf(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func endOf(c net.Conn) kernel.FiveTuple {
	return kernel.FiveTuple{Proto: "tcp", Local: addrOf(c.LocalAddr()), Remote: addrOf(c.RemoteAddr())}
}

// freePort returns a port that was free a moment ago on host, so that
// a Watcher can watch it before anything listens on it.
func freePort(t *testing.T, network, host string) uint16 {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no %s on %s here: %v", network, host, err)
	}
	defer ln.Close()
	return addrOf(ln.Addr()).Port()
}

func listenOn(t *testing.T, network, host string, port uint16) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		t.Fatalf("listening on the port just free: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dialAccept(t *testing.T, network string, ln net.Listener, addr string) (client, server net.Conn) {
	t.Helper()
	client, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// step is a change of state, without the rest of the Change.
type step struct{ from, to kernel.State }

func (s step) String() string { return s.from.String() + "→" + s.to.String() }

// of returns the changes of the socket sk, in the order handed over.
func of(changes []kernel.Change, sk uint64) []kernel.Change {
	var mine []kernel.Change
	for _, c := range changes {
		if c.Socket == sk {
			mine = append(mine, c)
		}
	}
	return mine
}

func steps(changes []kernel.Change) []step {
	s := make([]step, len(changes))
	for i, c := range changes {
		s[i] = step{c.From, c.To}
	}
	return s
}

// find returns the first change that ok accepts.
func find(t *testing.T, changes []kernel.Change, what string, ok func(kernel.Change) bool) kernel.Change {
	t.Helper()
	for _, c := range changes {
		if ok(c) {
			return c
		}
	}
	t.Fatalf("no change %s among:\n%s", what, dump(changes))
	return kernel.Change{}
}

func dump(changes []kernel.Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "\t%s %#x %s %s %s→%s\n", c.Time.Format("15:04:05.000000"), c.Socket, c.Local, c.Remote, c.From, c.To)
	}
	return b.String()
}

func has(changes []kernel.Change, local, remote netip.AddrPort, from, to kernel.State) bool {
	return slices.ContainsFunc(changes, func(c kernel.Change) bool {
		return c.Local == local && c.Remote == remote && c.From == from && c.To == to
	})
}

// The whole life of a connection over loopback, as the kernel made it:
// the client dials, writes and closes; the server reads to EOF and
// closes. Each socket's changes come in order, with their addresses,
// at times between time.Now before and after.
func TestWatchLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name           string
		listen, dial   string // networks
		lnHost, dialTo string
	}{
		{"IPv4", "tcp4", "tcp4", "127.0.0.1", "127.0.0.1"},
		{"IPv6", "tcp6", "tcp6", "::1", "::1"},
		// An IPv6 listener's connection from an IPv4 client has
		// IPv4-mapped addresses, which the Change gives unmapped.
		{"IPv4 to dual-stack listener", "tcp", "tcp4", "::", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t, tc.listen, tc.lnHost)
			w, rec := startWatch(t, port)

			before := time.Now()
			ln := listenOn(t, tc.listen, tc.lnHost, port)
			client, server := dialAccept(t, tc.dial, ln, net.JoinHostPort(tc.dialTo, fmt.Sprint(port)))
			if _, err := client.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			client.Close()
			if _, err := io.ReadAll(server); err != nil {
				t.Fatal(err)
			}
			server.Close()
			// The server's socket is gone once the client's last ACK
			// came; the client's, handed to a TIME_WAIT mini-socket,
			// changed to CLOSE before it sent that ACK on.
			if err := kernel.WaitState(waitCtx(t), endOf(client), kernel.TimeWait); err != nil {
				t.Fatal(err)
			}
			if err := kernel.WaitGone(waitCtx(t), endOf(server)); err != nil {
				t.Fatal(err)
			}
			syncWatch(t, w)
			after := time.Now()
			got := rec.all()
			t.Logf("changes:\n%s", dump(got))

			lnAddr := addrOf(ln.Addr())
			clientAddr, serverAddr := addrOf(client.LocalAddr()), addrOf(server.LocalAddr())
			dialed := addrOf(client.RemoteAddr())

			listener := find(t, got, "CLOSE→LISTEN of the listener", func(c kernel.Change) bool {
				return c.Local == lnAddr && c.To == kernel.Listen
			})
			if listener.From != kernel.Close || listener.Remote.IsValid() {
				t.Errorf("listener: %s→%s %s %s, want CLOSE→LISTEN and no remote", listener.From, listener.To, listener.Local, listener.Remote)
			}
			cl := of(got, find(t, got, "SYN_SENT→ESTABLISHED of the client", func(c kernel.Change) bool {
				return c.Local == clientAddr && c.From == kernel.SynSent
			}).Socket)
			sv := of(got, find(t, got, "LISTEN→SYN_RECV of the server", func(c kernel.Change) bool {
				return c.Local == serverAddr && c.Remote == clientAddr && c.From == kernel.Listen
			}).Socket)

			wantClient := []step{
				{kernel.Close, kernel.SynSent},
				{kernel.SynSent, kernel.Established},
				{kernel.Established, kernel.FinWait1},
				{kernel.FinWait1, kernel.FinWait2},
				{kernel.FinWait2, kernel.Close}, // not TIME_WAIT: no tracepoint there
			}
			wantServer := []step{
				{kernel.Listen, kernel.SynRecv},
				{kernel.SynRecv, kernel.Established},
				{kernel.Established, kernel.CloseWait},
				{kernel.CloseWait, kernel.LastAck},
				{kernel.LastAck, kernel.Close},
			}
			if !slices.Equal(steps(cl), wantClient) {
				t.Errorf("client's changes: %v, want %v", steps(cl), wantClient)
			}
			if !slices.Equal(steps(sv), wantServer) {
				t.Errorf("server's changes: %v, want %v", steps(sv), wantServer)
			}
			if len(got) != 1+len(wantClient)+len(wantServer) {
				t.Errorf("%d changes, want %d: the listener's, the client's and the server's", len(got), 1+len(wantClient)+len(wantServer))
			}
			if t.Failed() {
				t.FailNow()
			}

			// Before connect picks its port, the client's socket has
			// local port 0: its Socket tells it is the same.
			if want := netip.AddrPortFrom(clientAddr.Addr(), 0); cl[0].Local != want || cl[0].Remote != dialed {
				t.Errorf("client's CLOSE→SYN_SENT: %s → %s, want %s → %s", cl[0].Local, cl[0].Remote, want, dialed)
			}
			for _, c := range cl[1:] {
				if c.Local != clientAddr || c.Remote != dialed {
					t.Errorf("client's %s→%s: %s → %s, want %s → %s", c.From, c.To, c.Local, c.Remote, clientAddr, dialed)
				}
			}
			for _, c := range sv {
				if c.Local != serverAddr || c.Remote != clientAddr {
					t.Errorf("server's %s→%s: %s → %s, want %s → %s", c.From, c.To, c.Local, c.Remote, serverAddr, clientAddr)
				}
			}
			if cl[0].Socket == sv[0].Socket || cl[0].Socket == listener.Socket || sv[0].Socket == listener.Socket {
				t.Errorf("sockets %#x (client), %#x (server), %#x (listener): want three", cl[0].Socket, sv[0].Socket, listener.Socket)
			}

			for _, c := range got {
				if c.Time.Before(before) || c.Time.After(after) {
					t.Errorf("%s→%s at %s, not between %s and %s", c.From, c.To,
						c.Time.Format(time.StampMicro), before.Format(time.StampMicro), after.Format(time.StampMicro))
				}
			}
			// No ring got near its watermark, so Sync handed all in
			// one batch: in time order.
			if !slices.IsSortedFunc(got, func(a, b kernel.Change) int { return a.Time.Compare(b.Time) }) {
				t.Error("the batch is not in time order")
			}
			for _, changes := range [][]kernel.Change{cl, sv} {
				for i := 1; i < len(changes); i++ {
					if !changes[i-1].Time.Before(changes[i].Time) {
						t.Errorf("%s→%s at %s, not before %s→%s at %s", changes[i-1].From, changes[i-1].To, changes[i-1].Time.Format(time.StampMicro),
							changes[i].From, changes[i].To, changes[i].Time.Format(time.StampMicro))
					}
				}
			}
			// What one end did before the other could react.
			for _, o := range []struct {
				first, then kernel.Change
			}{
				{cl[0], sv[0]}, // the SYN before the connection it asks for
				{cl[1], sv[1]}, // the client's ACK ends the server's handshake
				{cl[2], sv[2]}, // the client's FIN
				{sv[3], cl[4]}, // the server's FIN
			} {
				if !o.first.Time.Before(o.then.Time) {
					t.Errorf("%s→%s not before %s→%s", o.first.From, o.first.To, o.then.From, o.then.To)
				}
			}

			// The listener's end is its last change.
			n := rec.len()
			ln.Close()
			syncWatch(t, w)
			got = rec.all()
			if len(got) != n+1 || got[n].Socket != listener.Socket || (step{got[n].From, got[n].To} != step{kernel.Listen, kernel.Close}) {
				t.Errorf("after the listener's Close:\n%s\nwant its LISTEN→CLOSE", dump(got[n:]))
			}
		})
	}
}

// Each operation's change is handed over by a Sync called after the
// operation returns, without waiting.
func TestWatchSync(t *testing.T) {
	port := freePort(t, "tcp4", "127.0.0.1")
	w, rec := startWatch(t, port)
	before := time.Now()
	ln := listenOn(t, "tcp4", "127.0.0.1", port)
	after := time.Now()
	lnAddr := addrOf(ln.Addr())
	syncWatch(t, w)
	got := rec.all()
	if len(got) != 1 || !has(got, lnAddr, netip.AddrPort{}, kernel.Close, kernel.Listen) {
		t.Fatalf("after Listen:\n%s\nwant CLOSE→LISTEN", dump(got))
	}
	// The kernel's time of the change is comparable with time.Now:
	// it falls within the call to Listen.
	if got[0].Time.Before(before) || got[0].Time.After(after) {
		t.Errorf("CLOSE→LISTEN at %s, not within Listen: %s to %s", got[0].Time.Format(time.StampMicro),
			before.Format(time.StampMicro), after.Format(time.StampMicro))
	}
	t.Logf("Listen took %s; the kernel changed the state %s after it began", after.Sub(before), got[0].Time.Sub(before))

	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	clientAddr := addrOf(client.LocalAddr())
	syncWatch(t, w)
	if !has(rec.all(), clientAddr, lnAddr, kernel.SynSent, kernel.Established) {
		t.Fatalf("after Dial:\n%s\nwant the client's SYN_SENT→ESTABLISHED", dump(rec.all()))
	}

	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	syncWatch(t, w)
	if !has(rec.all(), lnAddr, clientAddr, kernel.SynRecv, kernel.Established) {
		t.Fatalf("after Accept:\n%s\nwant the server's SYN_RECV→ESTABLISHED", dump(rec.all()))
	}

	client.Close()
	syncWatch(t, w)
	if !has(rec.all(), clientAddr, lnAddr, kernel.Established, kernel.FinWait1) {
		t.Fatalf("after the client's Close:\n%s\nwant its ESTABLISHED→FIN_WAIT_1", dump(rec.all()))
	}

	// EOF is read once the FIN has moved the server to CLOSE_WAIT.
	if _, err := io.ReadAll(server); err != nil {
		t.Fatal(err)
	}
	syncWatch(t, w)
	if !has(rec.all(), lnAddr, clientAddr, kernel.Established, kernel.CloseWait) {
		t.Fatalf("after EOF:\n%s\nwant the server's ESTABLISHED→CLOSE_WAIT", dump(rec.all()))
	}

	server.Close()
	syncWatch(t, w)
	if !has(rec.all(), lnAddr, clientAddr, kernel.CloseWait, kernel.LastAck) {
		t.Fatalf("after the server's Close:\n%s\nwant its CLOSE_WAIT→LAST_ACK", dump(rec.all()))
	}
}

// Changes of sockets on other ports are not reported.
func TestWatchOtherPort(t *testing.T) {
	watched, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer watched.Close()
	other, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w, rec := startWatch(t, addrOf(watched.Addr()).Port())

	// First a connection to the other port, then one to the watched
	// port: once the second's changes are handed over, the first's
	// would have been too.
	oc, osrv := dialAccept(t, "tcp4", other, other.Addr().String())
	oc.Close()
	osrv.Close()
	wc, _ := dialAccept(t, "tcp4", watched, watched.Addr().String())
	syncWatch(t, w)

	got := rec.all()
	if !has(got, addrOf(wc.LocalAddr()), addrOf(watched.Addr()), kernel.SynSent, kernel.Established) {
		t.Errorf("no SYN_SENT→ESTABLISHED of the watched connection among:\n%s", dump(got))
	}
	// Every change of the other connection's two ends has the other
	// listener's port at one end.
	otherPort := addrOf(other.Addr()).Port()
	for _, c := range got {
		if c.Local.Port() == otherPort || c.Remote.Port() == otherPort {
			t.Errorf("a change on a port not watched: %s", dump([]kernel.Change{c}))
		}
	}
}

// SetPorts changes what is reported while the Watcher runs; with no
// ports nothing is.
func TestWatchSetPorts(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnAddr := addrOf(ln.Addr())
	w, rec := startWatch(t)

	dialAccept(t, "tcp4", ln, ln.Addr().String())
	syncWatch(t, w)
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("no port watched, yet:\n%s", dump(got))
	}

	if err := w.SetPorts([]uint16{lnAddr.Port()}); err != nil {
		t.Fatal(err)
	}
	client, _ := dialAccept(t, "tcp4", ln, ln.Addr().String())
	syncWatch(t, w)
	got := rec.all()
	if !has(got, addrOf(client.LocalAddr()), lnAddr, kernel.SynSent, kernel.Established) ||
		!has(got, lnAddr, addrOf(client.LocalAddr()), kernel.SynRecv, kernel.Established) {
		t.Fatalf("after SetPorts(%d):\n%s\nwant the handshake of both ends", lnAddr.Port(), dump(got))
	}

	if err := w.SetPorts(nil); err != nil {
		t.Fatal(err)
	}
	n := len(got)
	client.Close()
	syncWatch(t, w)
	if got := rec.all(); len(got) != n {
		t.Errorf("after SetPorts(nil):\n%s", dump(got[n:]))
	}

	if err := w.SetPorts([]uint16{0}); err == nil {
		t.Error("SetPorts(0): no error")
	}
	many := make([]uint16, 1000)
	for i := range many {
		many[i] = uint16(10000 + i)
	}
	if err := w.SetPorts(many); err == nil {
		t.Error("SetPorts(1000 ports): no error, the kernel takes a filter shorter than a page")
	} else {
		t.Log(err)
	}
}

// The handler may call SetPorts: here it watches a second listener's
// port once it sees the first listener's change.
func TestWatchSetPortsFromHandler(t *testing.T) {
	first := freePort(t, "tcp4", "127.0.0.1")
	second, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var watcher atomic.Pointer[kernel.Watcher]
	rec := &recorder{}
	errs := make(chan error, 1)
	w, err := kernel.Watch(kernel.WatchConfig{
		Ports: []uint16{first},
		Handler: func(c kernel.Change) {
			rec.handle(c)
			if c.To == kernel.Listen && c.Local.Port() == first {
				errs <- watcher.Load().SetPorts([]uint16{first, addrOf(second.Addr()).Port()})
			}
		},
	})
	if errors.Is(err, kernel.ErrPermission) || errors.Is(err, kernel.ErrUnsupported) {
		t.Skipf("cannot read the kernel's state changes here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	watcher.Store(w)

	listenOn(t, "tcp4", "127.0.0.1", first)
	syncWatch(t, w)
	if err := <-errs; err != nil {
		t.Fatalf("SetPorts from the handler: %v", err)
	}
	client, _ := dialAccept(t, "tcp4", second, second.Addr().String())
	syncWatch(t, w)
	if got := rec.all(); !has(got, addrOf(client.LocalAddr()), addrOf(second.Addr()), kernel.SynSent, kernel.Established) {
		t.Errorf("the second listener's connection is not reported:\n%s", dump(got))
	}
}

// The goroutine drains a ring once it is a quarter full, without Sync;
// the kernel loses nothing.
func TestWatchDrains(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w, rec := startWatch(t, addrOf(ln.Addr()).Port())
	// Each connection makes four changes, of about 100 bytes each in
	// a ring: a ring of 64 KiB is a quarter full after some 40
	// connections on one CPU.
	// Past a quarter (some 40 to 60 connections, if one CPU made all
	// their changes), the goroutine is woken. There is a ring per CPU,
	// and the changes of a connection fall on the CPUs that ran its
	// ends: on a loaded machine, spread over two, 60 connections may
	// fill no ring to a quarter. So the test dials until the goroutine
	// has handed changes over, up to 150 connections (600 changes, some
	// 60 KiB: less than one ring, if all fell on one CPU, so none is
	// lost), then waits for it.
	n := 0
	for ; n < 150 && rec.len() == 0; n++ {
		dialAccept(t, "tcp4", ln, ln.Addr().String())
	}
	for deadline := time.Now().Add(10 * time.Second); rec.len() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // NOTE: polling the goroutine's handover, which has no event to wait on
	}
	if rec.len() == 0 {
		t.Fatalf("nothing handed over within 10 s of %d connections (%d changes) without Sync", n, 4*n)
	}
	t.Logf("the goroutine handed over %d changes after %d connections", rec.len(), n)
	syncWatch(t, w)
	if got := rec.len(); got != 4*n {
		t.Errorf("%d changes of %d connections, want %d", got, n, 4*n)
	}
}

// Close hands over what is left, stops the goroutine, and may be called
// again; the Watcher is of no use after.
func TestWatchClose(t *testing.T) {
	running := goleak.IgnoreCurrent()
	port := freePort(t, "tcp4", "127.0.0.1")
	rec := &recorder{}
	w, err := kernel.Watch(kernel.WatchConfig{Ports: []uint16{port}, Handler: rec.handle})
	if errors.Is(err, kernel.ErrPermission) || errors.Is(err, kernel.ErrUnsupported) {
		t.Skipf("cannot read the kernel's state changes here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	listenOn(t, "tcp4", "127.0.0.1", port)
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes != 1 || st.Lost != 0 || rec.len() != 1 {
		t.Errorf("Close: %+v, handler got %d, want the listener's change handed over", st, rec.len())
	}
	if err := goleak.Find(running); err != nil {
		t.Errorf("after Close: %v", err)
	}
	if st2, err := w.Close(); err != nil || st2 != st {
		t.Errorf("Close again: %+v, %v; want %+v, nil", st2, err, st)
	}
	if err := w.Sync(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Sync after Close: %v, want ErrClosed", err)
	}
	if err := w.SetPorts([]uint16{port}); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("SetPorts after Close: %v, want ErrClosed", err)
	}
}

// What is wrong in the configuration is said before the kernel is asked,
// so without privilege too.
func TestWatchConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  kernel.WatchConfig
	}{
		{"no handler", kernel.WatchConfig{Ports: []uint16{80}}},
		{"port 0", kernel.WatchConfig{Ports: []uint16{80, 0}, Handler: func(kernel.Change) {}}},
	} {
		w, err := kernel.Watch(tc.cfg)
		if err == nil {
			w.Close()
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if errors.Is(err, kernel.ErrPermission) || !strings.HasPrefix(err.Error(), "kernel: ") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// SetPorts while changes are made on a port of both the old and the new
// ports: each change is handed over once, none is missed.
func TestWatchSetPortsWhileRunning(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnAddr := addrOf(ln.Addr())
	p, q := lnAddr.Port(), freePort(t, "tcp4", "127.0.0.1")
	w, rec := startWatch(t, p)

	stop := make(chan struct{})
	done := make(chan error)
	calls := 0
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			ports := []uint16{p}
			if calls%2 == 0 {
				ports = append(ports, q)
			}
			if err := w.SetPorts(ports); err != nil {
				done <- err
				return
			}
			calls++
		}
	}()
	var clients []netip.AddrPort
	// Few enough that no ring can fill: at most 800 records, in
	// rings of about 680 that SetPorts keeps replacing.
	for range 100 {
		client, _ := dialAccept(t, "tcp4", ln, ln.Addr().String())
		clients = append(clients, addrOf(client.LocalAddr()))
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	syncWatch(t, w)
	t.Logf("%d connections, %d calls of SetPorts", len(clients), calls)

	got := rec.all()
	for _, ca := range clients {
		cl := of(got, find(t, got, "SYN_SENT→ESTABLISHED of the client", func(c kernel.Change) bool {
			return c.Local == ca && c.From == kernel.SynSent
		}).Socket)
		sv := of(got, find(t, got, "LISTEN→SYN_RECV of the server", func(c kernel.Change) bool {
			return c.Local == lnAddr && c.Remote == ca && c.From == kernel.Listen
		}).Socket)
		if want := []step{{kernel.Close, kernel.SynSent}, {kernel.SynSent, kernel.Established}}; !slices.Equal(steps(cl), want) {
			t.Errorf("client %s: %v, want %v", ca, steps(cl), want)
		}
		if want := []step{{kernel.Listen, kernel.SynRecv}, {kernel.SynRecv, kernel.Established}}; !slices.Equal(steps(sv), want) {
			t.Errorf("server's end of %s: %v, want %v", ca, steps(sv), want)
		}
	}
	if len(got) != 4*len(clients) {
		t.Errorf("%d changes, want %d", len(got), 4*len(clients))
	}
}

// What the kernel cannot write into a full ring is counted lost: here
// the handler holds the goroutine while the rings fill.
func TestWatchLost(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var handed atomic.Uint64
	w, err := kernel.Watch(kernel.WatchConfig{
		Ports: []uint16{addrOf(ln.Addr()).Port()},
		Handler: func(kernel.Change) {
			once.Do(func() {
				close(held)
				<-release
			})
			handed.Add(1)
		},
	})
	if errors.Is(err, kernel.ErrPermission) || errors.Is(err, kernel.ErrUnsupported) {
		t.Skipf("cannot read the kernel's state changes here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The goroutine takes the first changes and is held; then far
	// more changes than two rings hold.
	n := 0
	for held != nil || n < 1000 {
		c, s := dialAccept(t, "tcp4", ln, ln.Addr().String())
		// Reset rather than closed, after w.Close: no change while
		// it runs, and no socket left in TIME_WAIT.
		c.(*net.TCPConn).SetLinger(0)
		s.(*net.TCPConn).SetLinger(0)
		n++
		select {
		case <-held:
			held = nil
		default:
		}
		if n > 5000 {
			t.Fatal("the goroutine never took a change")
		}
	}
	close(release)
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d connections: %+v", n, st)
	if st.Lost == 0 || st.Changes != handed.Load() || st.Changes+st.Lost != uint64(4*n) {
		t.Errorf("%d connections, 4 changes each: %+v, handler got %d; want some lost, and handed + lost = %d", n, st, handed.Load(), 4*n)
	}
}
