package kernel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// pair returns both ends of a new connection over loopback, closed at
// the end of the test.
func pair(t testing.TB, network, addr string) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback here: %v", network, err)
	}
	defer ln.Close()
	client, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

func wait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readEOF(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("reading to EOF: %v", err)
	}
}

// gone stands for "the kernel holds no such socket" in the table below.
const gone kernel.State = 0

func TestStates(t *testing.T) {
	for _, tc := range []struct {
		name string
		// do closes what the case closes and waits until the states
		// are settled.
		do             func(t *testing.T, client, server net.Conn)
		client, server kernel.State
	}{
		{
			name:   "open",
			do:     func(t *testing.T, client, server net.Conn) {},
			client: kernel.Established, server: kernel.Established,
		},
		{
			// The client's FIN arrived and the server's program has
			// read EOF but not closed; the server's kernel delays its
			// ACK, so the client waits in FIN_WAIT_1 until it comes.
			name: "peer closed",
			do: func(t *testing.T, client, server net.Conn) {
				client.Close()
				readEOF(t, server)
				if err := kernel.WaitState(wait(t), tuple(client), kernel.FinWait2); err != nil {
					t.Fatal(err)
				}
			},
			client: kernel.FinWait2, server: kernel.CloseWait,
		},
		{
			// The server closes too: it passes through LAST_ACK and is
			// gone when the client's ACK arrives; the client, which
			// closed first, is left in TIME_WAIT.
			name: "both closed",
			do: func(t *testing.T, client, server net.Conn) {
				client.Close()
				readEOF(t, server)
				server.Close()
				if err := kernel.WaitState(wait(t), tuple(client), kernel.TimeWait); err != nil {
					t.Fatal(err)
				}
				if err := kernel.WaitGone(wait(t), tuple(server)); err != nil {
					t.Fatal(err)
				}
			},
			client: kernel.TimeWait, server: gone,
		},
		{
			name: "server closes first",
			do: func(t *testing.T, client, server net.Conn) {
				server.Close()
				readEOF(t, client)
				client.Close()
				if err := kernel.WaitState(wait(t), tuple(server), kernel.TimeWait); err != nil {
					t.Fatal(err)
				}
				if err := kernel.WaitGone(wait(t), tuple(client)); err != nil {
					t.Fatal(err)
				}
			},
			client: gone, server: kernel.TimeWait,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pair(t, "tcp4", "127.0.0.1:0")
			c, s := tuple(client), tuple(server)
			tc.do(t, client, server)
			got, err := kernel.States(c, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []struct {
				who  string
				ft   tracer.FiveTuple
				want kernel.State
			}{{"client", c, tc.client}, {"server", s, tc.server}} {
				st, ok := got[e.ft]
				switch {
				case e.want == gone && ok:
					t.Errorf("%s %s: %s, want no socket", e.who, e.ft, st)
				case e.want != gone && !ok:
					t.Errorf("%s %s: no socket, want %s", e.who, e.ft, e.want)
				case e.want != gone && st != e.want:
					t.Errorf("%s %s: %s, want %s", e.who, e.ft, st, e.want)
				}
				one, err := kernel.StateOf(e.ft)
				if e.want == gone {
					if !errors.Is(err, kernel.ErrNotFound) {
						t.Errorf("StateOf(%s) = %s, %v; want ErrNotFound", e.who, one, err)
					}
				} else if err != nil || one != e.want {
					t.Errorf("StateOf(%s) = %s, %v; want %s", e.who, one, err, e.want)
				}
			}
		})
	}
}

// Right after Close the client's FIN is not yet acknowledged: the
// server's kernel delays that ACK (about 40 ms once data has flowed).
func TestFinWait1(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	client.Close()
	s, err := kernel.StateOf(tuple(client))
	if err != nil {
		t.Fatal(err)
	}
	// A machine slow enough to miss the delayed ACK's window sees
	// FIN_WAIT_2 already.
	if s != kernel.FinWait1 && s != kernel.FinWait2 {
		t.Errorf("client after Close: %s, want FIN_WAIT_1 (or FIN_WAIT_2 once acknowledged)", s)
	}
}

func TestListen(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		ln, err := net.Listen(tc.network, tc.addr)
		if err != nil {
			t.Logf("no %s here: %v", tc.network, err)
			continue
		}
		ft := tracer.FiveTuple{Proto: "tcp", Local: ln.Addr().(*net.TCPAddr).AddrPort()}
		s, err := kernel.StateOf(ft)
		ln.Close()
		if err != nil || s != kernel.Listen {
			t.Errorf("listener %s: %s, %v; want LISTEN", ft.Local, s, err)
		}
		if _, err := kernel.StateOf(ft); !errors.Is(err, kernel.ErrNotFound) {
			t.Errorf("closed listener %s: %v, want ErrNotFound", ft.Local, err)
		}
	}
}

// Asked for a connection that is gone, the kernel's lookup falls back
// to the listener on the same port; StateOf must not take it for the
// connection.
func TestGoneWhileListening(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s := tuple(server)
	client.Close()
	readEOF(t, server)
	server.Close()
	if err := kernel.WaitGone(wait(t), s); err != nil {
		t.Fatal(err)
	}
	if st, err := kernel.StateOf(s); !errors.Is(err, kernel.ErrNotFound) {
		t.Errorf("StateOf(%s) = %s, %v; want ErrNotFound, not the listener", s, st, err)
	}
	listening := tracer.FiveTuple{Proto: "tcp", Local: s.Local}
	if st, err := kernel.StateOf(listening); err != nil || st != kernel.Listen {
		t.Errorf("StateOf(%s) = %s, %v; want LISTEN", listening, st, err)
	}
}

func TestIPv6(t *testing.T) {
	client, server := pair(t, "tcp6", "[::1]:0")
	got, err := kernel.States(tuple(client), tuple(server))
	if err != nil {
		t.Fatal(err)
	}
	if got[tuple(client)] != kernel.Established || got[tuple(server)] != kernel.Established {
		t.Errorf("IPv6 connection: %v, want both ESTABLISHED", got)
	}
}

// A "tcp" listener on [::] accepts an IPv4 client on an IPv6 socket with
// IPv4-mapped addresses; the tracer names it with plain IPv4 addresses.
func TestIPv4MappedSocket(t *testing.T) {
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
	ft := tuple(server)
	if !ft.Local.Addr().Is4In6() {
		t.Logf("the server's address is %s", ft.Local)
	}
	unmapped := tracer.FiveTuple{Proto: "tcp",
		Local:  netip.AddrPortFrom(ft.Local.Addr().Unmap(), ft.Local.Port()),
		Remote: netip.AddrPortFrom(ft.Remote.Addr().Unmap(), ft.Remote.Port())}
	for _, q := range []tracer.FiveTuple{ft, unmapped} {
		if s, err := kernel.StateOf(q); err != nil || s != kernel.Established {
			t.Errorf("%s: %s, %v; want ESTABLISHED", q, s, err)
		}
	}
}

func TestNotFound(t *testing.T) {
	// Port 1 to port 2 on loopback: nothing uses them.
	ft := tracer.FiveTuple{Proto: "tcp",
		Local:  netip.MustParseAddrPort("127.0.0.1:1"),
		Remote: netip.MustParseAddrPort("127.0.0.1:2")}
	_, err := kernel.StateOf(ft)
	if !errors.Is(err, kernel.ErrNotFound) || !strings.Contains(err.Error(), ft.String()) {
		t.Errorf("StateOf(%s) error = %v, want ErrNotFound naming the tuple", ft, err)
	}
	got, err := kernel.States(ft, ft)
	if err != nil || len(got) != 0 {
		t.Errorf("States = %v, %v; want an empty map", got, err)
	}
	if got, err := kernel.States(); err != nil || len(got) != 0 {
		t.Errorf("States() = %v, %v; want an empty map", got, err)
	}
}

func TestBadTuple(t *testing.T) {
	for _, ft := range []tracer.FiveTuple{
		{Proto: "udp", Local: netip.MustParseAddrPort("127.0.0.1:53")},
		{Proto: "tcp"},
	} {
		if _, err := kernel.StateOf(ft); err == nil || errors.Is(err, kernel.ErrNotFound) {
			t.Errorf("StateOf(%q) error = %v, want a usage error", ft, err)
		}
	}
}

func TestWaitTimeout(t *testing.T) {
	client, _ := pair(t, "tcp4", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := kernel.WaitState(ctx, tuple(client), kernel.TimeWait)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still ESTABLISHED") {
		t.Errorf("WaitState = %v, want a deadline error saying the socket is still ESTABLISHED", err)
	}
	err = kernel.WaitGone(ctx, tuple(client))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitGone = %v, want a deadline error", err)
	}
}
