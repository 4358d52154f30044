package lessontest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"tcptour/tracer/kernel"
)

// Listen listens on 127.0.0.1, on a port the kernel chooses, as the Go
// server of a claim does, and returns the listener and its port. The
// listener is closed when the test ends.
func Listen(t *testing.T) (*net.TCPListener, int) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// Accept accepts a connection on ln; the connection is closed when the
// test ends, if the test has not closed it.
func Accept(t *testing.T, ln *net.TCPListener) *net.TCPConn {
	t.Helper()
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Dial connects to 127.0.0.1:port over IPv4, as a lesson's client does;
// the connection is closed when the test ends, if the test has not
// closed it.
func Dial(t *testing.T, port int) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp4", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// HalfClose is the half-closing client of the lessons: it writes
// request on c, sends its FIN (CloseWrite) and reads until the peer's
// FIN, for 10 s at the most, and returns what it read. It fails the
// test if a call fails.
func HalfClose(t *testing.T, c *net.TCPConn, request string) string {
	t.Helper()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	answer, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the client's Read after its FIN: %v, want the answer and then io.EOF", err)
	}
	return string(answer)
}

// Tuple is the five-tuple of c's own end, as its kernel names the
// socket.
func Tuple(c net.Conn) kernel.FiveTuple {
	return kernel.FiveTuple{Proto: "tcp", Local: addrPort(c.LocalAddr()), Remote: addrPort(c.RemoteAddr())}
}

// PeerTuple is the five-tuple of the other end of c, as the peer's
// kernel names its socket.
func PeerTuple(c net.Conn) kernel.FiveTuple {
	return kernel.FiveTuple{Proto: "tcp", Local: addrPort(c.RemoteAddr()), Remote: addrPort(c.LocalAddr())}
}

func addrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// kernelWait is how long the Wait functions ask the kernel.
const kernelWait = 10 * time.Second

// WaitSocket asks the kernel, for 10 s at the most, until it holds the
// socket ft and ok is true for it, and returns the socket; it fails the
// test, saying what was awaited (what, e.g. "a zero-window probe"),
// otherwise.
func WaitSocket(t *testing.T, ft kernel.FiveTuple, what string, ok func(kernel.Socket) bool) kernel.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kernelWait)
	defer cancel()
	s, err := kernel.Wait(ctx, ft, what, ok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// WaitRecvQ waits, as WaitSocket does, until the Recv-Q of the socket
// ft is n: the bytes that wait unread on a connection, the connections
// that wait for Accept on a listener.
func WaitRecvQ(t *testing.T, ft kernel.FiveTuple, n int) kernel.Socket {
	t.Helper()
	return WaitSocket(t, ft, fmt.Sprintf("Recv-Q %d", n), func(s kernel.Socket) bool { return s.RecvQ == uint32(n) })
}

// WaitState asks the kernel, for 10 s at the most, until the socket ft
// is in state want, and fails the test otherwise.
func WaitState(t *testing.T, ft kernel.FiveTuple, want kernel.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kernelWait)
	defer cancel()
	if err := kernel.WaitState(ctx, ft, want); err != nil {
		t.Fatal(err)
	}
}

// WaitGone asks the kernel, for 10 s at the most, until it holds no
// socket ft (after a reset, after LAST_ACK or TIME_WAIT), and fails the
// test otherwise.
func WaitGone(t *testing.T, ft kernel.FiveTuple) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kernelWait)
	defer cancel()
	if err := kernel.WaitGone(ctx, ft); err != nil {
		t.Fatal(err)
	}
}

// Poll calls ok at once and then every interval until ok returns true
// or within has passed, and reports whether it did: for what only asking
// again shows (ss's lines), as a learner looks again a moment later.
func Poll(within, every time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// PollUntil is Poll that fails the test, saying what it waited for,
// when ok does not return true within the time.
func PollUntil(t *testing.T, within, every time.Duration, what string, ok func() bool) {
	t.Helper()
	if !Poll(within, every, ok) {
		t.Fatalf("no %s within %v", what, within)
	}
}
