//go:build linux

package main

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/kernel"
)

// The lesson's notes say more about TIME_WAIT than its six steps show.
// These tests check those claims on the loopback of the test's own
// network namespace (see TestMain), with tcp_tw_reuse 0:
//
//   - a socket bound to its port beforehand takes a TIME_WAIT four-tuple
//     over whatever tcp_tw_reuse says, when both sockets set
//     SO_REUSEADDR, or both SO_REUSEPORT (TcpExtTWRecycled +1);
//   - without either, bind fails with EADDRINUSE whatever server the
//     Dial is for;
//   - a Go listener binds over TIME_WAIT sockets only because they
//     inherited SO_REUSEADDR from Go's listener: when the old server
//     cleared it, Go's listener fails with EADDRINUSE;
//   - the peer of a TIME_WAIT socket connects again on the same
//     four-tuple: the TIME_WAIT socket accepts the new SYN.
func TestClaimsTimeWait(t *testing.T) {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo: %v", err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_tw_reuse", []byte("0"), 0); err != nil {
		t.Skipf("cannot set tcp_tw_reuse here: %v", err)
	}
	ln, _ := lessontest.Listen(t)
	other, _ := lessontest.Listen(t)

	// closeFirst connects from local with d, and closes first: the
	// client's socket in TIME_WAIT.
	closeFirst := func(t *testing.T, d net.Dialer) {
		t.Helper()
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := lessontest.Accept(t, ln)
		c.Close()
		lessontest.WaitState(t, lessontest.PeerTuple(c), kernel.CloseWait)
		s.Close()
		lessontest.WaitState(t, lessontest.Tuple(c), kernel.TimeWait)
		lessontest.WaitGone(t, lessontest.PeerTuple(c))
	}
	local := func(p int) *net.TCPAddr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p} }

	for _, tc := range []struct {
		name    string
		control func(string, string, syscall.RawConn) error
		port    int
	}{
		{"SO_REUSEADDR", reuseAddr, fixedPort + 10},
		{"SO_REUSEPORT", reusePort, fixedPort + 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := net.Dialer{LocalAddr: local(tc.port), Control: tc.control}
			closeFirst(t, d)
			before, err := kernel.ReadCounters()
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatalf("second Dial from port %d with %s, tcp_tw_reuse 0: %v", tc.port, tc.name, err)
			}
			defer c.Close()
			lessontest.Accept(t, ln).Close()
			after, err := kernel.ReadCounters()
			if err != nil {
				t.Fatal(err)
			}
			if d := after["TcpExtTWRecycled"] - before["TcpExtTWRecycled"]; d != 1 {
				t.Errorf("TcpExtTWRecycled +%d, want +1", d)
			}
		})
	}

	t.Run("no option, any server", func(t *testing.T) {
		d := net.Dialer{LocalAddr: local(fixedPort + 12)}
		closeFirst(t, d)
		for _, to := range []string{ln.Addr().String(), other.Addr().String()} {
			c, err := d.Dial("tcp4", to)
			if err == nil {
				c.Close()
				t.Fatalf("Dial to %s from a port in TIME_WAIT succeeded without SO_REUSEADDR", to)
			}
			var sysErr *os.SyscallError
			if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &sysErr) || sysErr.Syscall != "bind" {
				t.Errorf("Dial to %s: %v, want bind: EADDRINUSE", to, err)
			}
		}
	})

	t.Run("restart after a server without SO_REUSEADDR", func(t *testing.T) {
		old, err := (&net.ListenConfig{Control: noReuseAddr}).Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := lessontest.Dial(t, old.Addr().(*net.TCPAddr).Port)
		s, err := old.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // the server closes first
		lessontest.WaitState(t, lessontest.PeerTuple(c), kernel.FinWait2)
		c.Close()
		lessontest.WaitState(t, lessontest.PeerTuple(c), kernel.TimeWait)
		old.Close()
		if ln, err := net.Listen("tcp4", old.Addr().String()); err == nil {
			ln.Close()
			t.Errorf("Go's listener bound over a TIME_WAIT socket without SO_REUSEADDR")
		} else if !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("Go's listener: %v, want EADDRINUSE", err)
		}
	})

	t.Run("the peer connects again on the same four-tuple", func(t *testing.T) {
		d := net.Dialer{LocalAddr: local(fixedPort + 13)}
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := lessontest.Accept(t, ln)
		s.Close() // the server closes first
		lessontest.WaitState(t, lessontest.Tuple(c), kernel.CloseWait)
		c.Close()
		lessontest.WaitState(t, lessontest.PeerTuple(c), kernel.TimeWait)
		lessontest.WaitGone(t, lessontest.Tuple(c))
		c2, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatalf("the client's second Dial on the four-tuple the server holds in TIME_WAIT: %v", err)
		}
		defer c2.Close()
		s2 := lessontest.Accept(t, ln)
		if s2.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("accepted %s, want %s", s2.RemoteAddr(), c.LocalAddr())
		}
	})
}
