package kernel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

func listening(ln net.Listener) tracer.FiveTuple {
	return tracer.FiveTuple{Proto: "tcp", Local: ln.Addr().(*net.TCPAddr).AddrPort()}
}

// serverEnd is the tuple of the server's end of client's connection,
// which nobody may have accepted yet.
func serverEnd(client net.Conn) tracer.FiveTuple {
	ft := tuple(client)
	ft.Local, ft.Remote = ft.Remote, ft.Local
	return ft
}

// inode is the inode of c's socket, as fstat sees it.
func inode(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

// The listener's queue and a queued connection's unread bytes, as
// lesson 07 shows them (ss -tan: Recv-Q, Send-Q).
func TestLookupQueues(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var clients []net.Conn
	for range 2 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	if _, err := io.WriteString(clients[1], "hello?"); err != nil {
		t.Fatal(err)
	}

	// Two connections wait for Accept; Send-Q is the backlog.
	l, err := kernel.Wait(wait(t), listening(ln), "Recv-Q 2", func(s kernel.Socket) bool { return s.RecvQ == 2 })
	if err != nil {
		t.Fatal(err)
	}
	if l.State != kernel.Listen || l.SendQ == 0 || l.Remote.IsValid() {
		t.Errorf("listener: %v, want LISTEN with a backlog in Send-Q and no peer", l)
	}
	if l.Info == nil || l.Info.State != kernel.Listen || l.Info.Unacked != 2 {
		t.Errorf("listener's TCP_INFO: %v, want LISTEN with 2 waiting", l.Info)
	}

	// The second connection's server end holds the six bytes, and no
	// file descriptor refers to it yet.
	q, err := kernel.Wait(wait(t), serverEnd(clients[1]), "Recv-Q 6", func(s kernel.Socket) bool { return s.RecvQ == 6 })
	if err != nil {
		t.Fatal(err)
	}
	if q.State != kernel.Established || q.Inode != 0 {
		t.Errorf("queued connection: %v inode %d, want ESTABLISHED with inode 0", q, q.Inode)
	}
	if q.Info == nil || q.Info.BytesReceived != 6 {
		t.Errorf("queued connection's TCP_INFO: %v, want 6 bytes received", q.Info)
	}

	// Accept gives it a file descriptor: the inode fstat sees.
	var servers []net.Conn
	for range 2 {
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		servers = append(servers, s)
	}
	for _, s := range servers {
		got, err := kernel.Lookup(tuple(s))
		if err != nil {
			t.Fatal(err)
		}
		if want := inode(t, s.(*net.TCPConn)); uint64(got.Inode) != want {
			t.Errorf("accepted %s: inode %d, fstat says %d", tuple(s), got.Inode, want)
		}
	}
	if l, err := kernel.Lookup(listening(ln)); err != nil || l.RecvQ != 0 {
		t.Errorf("listener after Accept: %v, %v; want Recv-Q 0", l, err)
	}
	if got, err := kernel.Lookup(tuple(clients[0])); err != nil || uint64(got.Inode) != inode(t, clients[0].(*net.TCPConn)) || got.UID != uint32(unix.Getuid()) {
		t.Errorf("client: %v inode %d uid %d, %v; want its fd's inode and our uid", got, got.Inode, got.UID, err)
	}
}

// Send-Q counts bytes written and not yet acknowledged; Recv-Q bytes
// received and not yet read.
func TestLookupUnread(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	if _, err := io.WriteString(client, "twelve bytes"); err != nil {
		t.Fatal(err)
	}
	s, err := kernel.Wait(wait(t), tuple(server), "Recv-Q 12", func(s kernel.Socket) bool { return s.RecvQ == 12 })
	if err != nil {
		t.Fatal(err)
	}
	if s.SendQ != 0 {
		t.Errorf("server: %v, want Send-Q 0", s)
	}
	c, err := kernel.Wait(wait(t), tuple(client), "all acknowledged", func(s kernel.Socket) bool { return s.SendQ == 0 })
	if err != nil {
		t.Fatal(err)
	}
	// 12 bytes and the SYN.
	if c.Info == nil || c.Info.BytesAcked != 13 || c.Info.State != kernel.Established {
		t.Errorf("client's TCP_INFO from the kernel's answer: %v, want 13 acked (12 bytes and the SYN)", c.Info)
	}
}

// Go turns keepalive on for its connections; the kernel says so with
// the timer it runs. TIME_WAIT has its own timer, 60 s on Linux.
func TestLookupTimers(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	s, err := kernel.Lookup(tuple(client))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timer != kernel.TimerKeepalive || s.Expires <= 0 || s.Expires > 15*time.Second {
		t.Errorf("open connection: %v, want Go's keepalive timer (15 s)", s)
	}
	client.Close()
	readEOF(t, server)
	server.Close()
	if err := kernel.WaitState(wait(t), tuple(client), kernel.TimeWait); err != nil {
		t.Fatal(err)
	}
	s, err = kernel.Lookup(tuple(client))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timer != kernel.TimerTimeWait || s.Expires < 50*time.Second || s.Expires > 60*time.Second || s.Info != nil || s.Inode != 0 {
		t.Errorf("TIME_WAIT: %v inode %d info %v, want the timewait timer with about 60 s left, no TCP_INFO, no inode", s, s.Inode, s.Info)
	}
	if !strings.Contains(s.String(), "timer:(timewait,") {
		t.Errorf("String() = %q, want ss's timer:(timewait,…)", s)
	}
}

// dropFIN attaches a classic BPF socket filter to c's socket that drops
// every incoming segment with FIN set, before TCP sees it. For a TCP
// socket the filter sees the packet from the TCP header on: byte 13
// holds the flags.
func dropFIN(t *testing.T, c net.Conn) {
	t.Helper()
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 13, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x01, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff}, // keep
		bpf.RetConstant{Val: 0},      // drop
	})
	if err != nil {
		t.Fatal(err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]})
	}); err != nil {
		t.Fatal(err)
	}
	if errors.Is(serr, unix.EPERM) {
		// Recent kernels want CAP_NET_ADMIN for a filter on a TCP socket.
		t.Skipf("no socket filter on a TCP socket here: %v", serr)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// A FIN that the peer never acknowledges (its socket drops it) is sent
// again when the retransmission timer fires, 200 ms or so on loopback:
// the kernel shows the timer, the unacknowledged FIN and the count.
func TestLookupRetransmitting(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	dropFIN(t, server)
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	s, err := kernel.Lookup(tuple(client))
	if err != nil {
		t.Fatal(err)
	}
	if s.State != kernel.FinWait1 || s.Timer != kernel.TimerOn || s.SendQ != 1 || s.Expires > time.Second {
		t.Errorf("client after CloseWrite: %v, want FIN_WAIT_1 with its FIN unacknowledged (Send-Q 1) and the retransmission timer on", s)
	}
	info, err := kernel.TCPInfo(client)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != kernel.FinWait1 || info.Unacked != 1 || info.RTO < 200*time.Millisecond {
		t.Errorf("client's TCP_INFO: %v, want FIN_WAIT_1, 1 unacknowledged, RTO at least 200 ms", info)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err = kernel.Wait(ctx, tuple(client), "a retransmission", func(s kernel.Socket) bool { return s.Retrans > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if s.State != kernel.FinWait1 || s.Info == nil || s.Info.TotalRetrans == 0 || s.Info.Retransmits == 0 {
		t.Errorf("after the timer: %v %v, want FIN_WAIT_1 still and a retransmission counted", s, s.Info)
	}
	if st, err := kernel.StateOf(tuple(server)); err != nil || st != kernel.Established {
		t.Errorf("server: %s, %v; want ESTABLISHED: it never saw the FIN", st, err)
	}
}

func TestSockets(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	has := func(socks []kernel.Socket, ft tracer.FiveTuple) bool {
		return slices.ContainsFunc(socks, func(s kernel.Socket) bool { return s.Tuple() == ft })
	}
	all, err := kernel.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range []tracer.FiveTuple{listening(ln), tuple(client), tuple(server)} {
		if !has(all, ft) {
			t.Errorf("Sockets() lacks %s", ft)
		}
	}
	est, err := kernel.Sockets(kernel.Established)
	if err != nil {
		t.Fatal(err)
	}
	if !has(est, tuple(client)) || has(est, listening(ln)) {
		t.Errorf("Sockets(ESTABLISHED): has the client %v, has the listener %v; want only the first", has(est, tuple(client)), has(est, listening(ln)))
	}
	for _, s := range est {
		if s.State != kernel.Established {
			t.Errorf("Sockets(ESTABLISHED) returned %v", s)
		}
	}
	ls, err := kernel.Sockets(kernel.Listen, kernel.TimeWait)
	if err != nil {
		t.Fatal(err)
	}
	if !has(ls, listening(ln)) || has(ls, tuple(client)) {
		t.Errorf("Sockets(LISTEN, TIME_WAIT): has the listener %v, has the client %v; want only the first", has(ls, listening(ln)), has(ls, tuple(client)))
	}
}

func TestWaitOnGoneSocket(t *testing.T) {
	ft := tracer.FiveTuple{Proto: "tcp", Local: netip.MustParseAddrPort("127.0.0.1:1"), Remote: netip.MustParseAddrPort("127.0.0.1:2")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := kernel.Wait(ctx, ft, "Recv-Q 1", func(kernel.Socket) bool { return true })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "Recv-Q 1") || !strings.Contains(err.Error(), "still no socket") {
		t.Errorf("Wait on no socket = %v, want a deadline error naming what it waited for", err)
	}
}

// The JSON of a socket names its state and timer as ss does.
func TestSocketJSON(t *testing.T) {
	client, _ := pair(t, "tcp4", "127.0.0.1:0")
	s, err := kernel.Lookup(tuple(client))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"state":"ESTABLISHED"`, `"timer":"keepalive"`, `"local":"127.0.0.1:`, `"info":{"state":"ESTABLISHED","rtt_ns":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	var back kernel.Socket
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.State != s.State || back.Timer != s.Timer || back.Tuple() != s.Tuple() || *back.Info != *s.Info {
		t.Errorf("JSON round trip: %+v, want %+v", back, s)
	}
}

// A dual-stack listener's accepted IPv4 connection is an IPv6 socket
// with IPv4-mapped addresses; Sockets names it as the tracer does.
func TestSocketsUnmapped(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener here: %v", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
	if err != nil {
		t.Skipf("dual stack: %v", err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	want := serverEnd(client) // plain IPv4 addresses
	socks, err := kernel.Sockets(kernel.Established)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(socks, func(s kernel.Socket) bool { return s.Tuple() == want }) {
		t.Errorf("Sockets(ESTABLISHED) lacks the server's end %s with unmapped addresses", want)
	}
	if s, err := kernel.Lookup(want); err != nil || s.Tuple() != want {
		t.Errorf("Lookup(%s) = %v, %v; want the same tuple back", want, s, err)
	}
}

// After Close, a socket that reaches FIN_WAIT_2 has no program left:
// Linux hands the connection to a small TIME_WAIT socket that still
// reports FIN_WAIT_2, with the TIME_WAIT timer (net.ipv4.tcp_fin_timeout,
// 60 s by default) and no TCP_INFO.
func TestOrphanFinWait2(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	client.Close()
	readEOF(t, server)
	if err := kernel.WaitState(wait(t), tuple(client), kernel.FinWait2); err != nil {
		t.Fatal(err)
	}
	s, err := kernel.Lookup(tuple(client))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timer != kernel.TimerTimeWait || s.Info != nil || s.Inode != 0 {
		t.Errorf("orphaned FIN_WAIT_2: %v inode %d info %v; want the TIME_WAIT timer, no inode, no TCP_INFO", s, s.Inode, s.Info)
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A Diag answers as Lookup does, through the one socket it holds, and
// after Close goes on as Lookup.
func TestDiag(t *testing.T) {
	c, s := pair(t, "tcp4", "127.0.0.1:0")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	before := openFDs(t)
	d, err := kernel.OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t); got != before+1 {
		t.Errorf("OpenDiag: %d descriptors open, want %d (one socket)", got, before+1)
	}
	gone := tuple(c)
	gone.Remote = netip.AddrPortFrom(gone.Remote.Addr(), 1) // nobody's
	check := func(when string) {
		t.Helper()
		for _, ft := range []tracer.FiveTuple{listening(ln), tuple(c), tuple(s)} {
			want, werr := kernel.Lookup(ft)
			got, err := d.Lookup(ft)
			if err != nil || werr != nil {
				t.Fatalf("%s: %s: Diag.Lookup: %v; Lookup: %v", when, ft, err, werr)
			}
			if got.State != want.State || got.Local != want.Local || got.Remote != want.Remote || got.Inode != want.Inode {
				t.Errorf("%s: %s: Diag.Lookup %v, Lookup %v", when, ft, got, want)
			}
		}
		if _, err := d.Lookup(gone); !errors.Is(err, kernel.ErrNotFound) {
			t.Errorf("%s: %s: %v, want ErrNotFound", when, gone, err)
		}
	}
	for range 50 {
		check("open")
	}
	if got := openFDs(t); got != before+1 {
		t.Errorf("after 200 lookups: %d descriptors open, want %d: Diag opens no socket per lookup", got, before+1)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t); got != before {
		t.Errorf("Close: %d descriptors open, want %d", got, before)
	}
	check("closed")
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// One question finds a socket of either family by an IPv4 tuple: an
// IPv4 client of a dual-stack listener is served by an IPv6 socket
// (IPv4-mapped addresses), found by its tuple written either way.
func TestLookupFamily(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener here: %v", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Skipf("the [::] listener takes no IPv4 client here: %v", err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := kernel.OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	unmap := func(ft tracer.FiveTuple) tracer.FiveTuple {
		ft.Local = netip.AddrPortFrom(ft.Local.Addr().Unmap(), ft.Local.Port())
		ft.Remote = netip.AddrPortFrom(ft.Remote.Addr().Unmap(), ft.Remote.Port())
		return ft
	}
	served := tuple(s)
	if !served.Local.Addr().Is4In6() {
		t.Skipf("the server's socket has addresses %s: not IPv4-mapped", served)
	}
	for _, ft := range []tracer.FiveTuple{served, unmap(served), tuple(c)} {
		for name, lookup := range map[string]func(tracer.FiveTuple) (kernel.Socket, error){"Lookup": kernel.Lookup, "Diag.Lookup": d.Lookup} {
			got, err := lookup(ft)
			want := unmap(ft)
			if err != nil || got.State != kernel.Established || got.Local != want.Local || got.Remote != want.Remote {
				t.Errorf("%s(%s): %v, %v; want the ESTABLISHED socket", name, ft, got, err)
			}
		}
	}
}

// BenchmarkLookup compares a question through a Diag kept open with one
// through a socket of its own (Lookup), about a socket that is there
// and one already gone.
func BenchmarkLookup(b *testing.B) {
	c, s := pair(b, "tcp4", "127.0.0.1:0")
	d, err := kernel.OpenDiag()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	there := tuple(s)
	gone := there
	gone.Remote = netip.AddrPortFrom(gone.Remote.Addr(), 1)
	_ = c
	for _, bc := range []struct {
		name string
		ft   tracer.FiveTuple
		want error
	}{{"there", there, nil}, {"gone", gone, kernel.ErrNotFound}} {
		for name, lookup := range map[string]func(tracer.FiveTuple) (kernel.Socket, error){"Lookup": kernel.Lookup, "Diag": d.Lookup} {
			b.Run(name+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := lookup(bc.ft); !errors.Is(err, bc.want) {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// LookupAll answers as Lookup does, in order, over more questions than
// one batch holds: sockets there (a connection's two ends, a listener),
// sockets gone, a tuple that cannot be asked about, an IPv6 one.
func TestLookupAll(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var fts []tracer.FiveTuple
	listener := tracer.FiveTuple{Proto: "tcp", Local: ln.Addr().(*net.TCPAddr).AddrPort()}
	for i := range 70 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		gone := tuple(c)
		gone.Remote = netip.AddrPortFrom(gone.Remote.Addr(), 1)
		fts = append(fts, tuple(c), gone, tuple(s))
		if i == 30 {
			fts = append(fts, listener, tracer.FiveTuple{Proto: "udp", Local: listener.Local}, tracer.FiveTuple{Proto: "tcp"})
		}
	}
	c6, s6 := pair(t, "tcp6", "[::1]:0")
	fts = append(fts, tuple(c6), tuple(s6))
	d, err := kernel.OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	check := func(name string) {
		got := make([]kernel.Answer, len(fts))
		if err := d.LookupAll(fts, got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, ft := range fts {
			want, werr := kernel.Lookup(ft)
			g := got[i]
			switch {
			case werr != nil && g.Err == nil, werr == nil && g.Err != nil:
				t.Errorf("%s: %s: %v, want %v", name, ft, g.Err, werr)
			case errors.Is(werr, kernel.ErrNotFound) && g.Err != kernel.ErrNotFound:
				t.Errorf("%s: %s: %v, want ErrNotFound itself", name, ft, g.Err)
			case werr != nil && !errors.Is(werr, kernel.ErrNotFound) && g.Err.Error() != werr.Error():
				t.Errorf("%s: %s: %q, want %q", name, ft, g.Err, werr)
			case werr == nil && (g.Socket.State != want.State || g.Socket.Local != want.Local || g.Socket.Remote != want.Remote || g.Socket.Inode != want.Inode):
				t.Errorf("%s: %s: %+v, want %+v", name, ft, g.Socket, want)
			}
		}
	}
	check("open")
	check("again") // the questions numbered on, the buffers reused
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed") // a socket for each question, as Lookup
	if err := d.LookupAll(fts, nil); err == nil {
		t.Error("LookupAll with no room for the answers: no error")
	}
}

// BenchmarkLookupAll asks about 64 sockets already gone, as a server's
// trace does at each flush for those it closed: with LookupAll, and
// with Lookup on each.
func BenchmarkLookupAll(b *testing.B) {
	c, s := pair(b, "tcp4", "127.0.0.1:0")
	_ = c
	d, err := kernel.OpenDiag()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	fts := make([]tracer.FiveTuple, 64)
	for i := range fts {
		fts[i] = tuple(s)
		fts[i].Remote = netip.AddrPortFrom(fts[i].Remote.Addr(), uint16(1+i))
	}
	into := make([]kernel.Answer, len(fts))
	b.Run("LookupAll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := d.LookupAll(fts, into); err != nil || into[0].Err != kernel.ErrNotFound {
				b.Fatal(err, into[0].Err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fts)), "ns/socket")
	})
	b.Run("Lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, ft := range fts {
				if _, err := d.Lookup(ft); !errors.Is(err, kernel.ErrNotFound) {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fts)), "ns/socket")
	})
}
