// Lesson 07 puts a limit on a server. Done Node's way (maxConnections),
// the extra connection completes its handshake in the kernel, is
// accepted and is closed at once: the client's connect succeeded, and
// its first read ends with FIN or RST. Done with
// golang.org/x/net/netutil.LimitListener, the server stops calling
// Accept instead, and the extra connection waits in the kernel's queue,
// handshake done, until a slot frees.
//
// It answers the seed's onconnection, L1411–L1413: `if
// (self.maxConnections && self._connections >= self.maxConnections) {
// clientHandle.close(); return; }`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

var info = lesson.Lesson{
	Number: "07",
	Title:  "Too many connections",
	Intro: "A server that keeps at most 2 connections, first as Node's maxConnections does it: the extra " +
		"connection's handshake completes in the kernel, the server accepts it and closes it at once, so " +
		"the client connected fine and its first read ends, with FIN or RST. Then with netutil.LimitListener, " +
		"which stops calling Accept: the extra connection waits in the kernel's queue until a slot frees.",
	Steps: 9,
	Recap: []string{
		"A limit in the program cannot stop a handshake: the kernel completes it before the program hears of the connection, so the client's connect succeeds either way (while the listener's queue has room).",
		"Node's maxConnections accepts the extra connection and closes it at once (clientHandle.close()); in Go: conn.Close() right after Accept.",
		"On Linux, closing a socket sends FIN if everything received was read, RST if received bytes were left unread: the client reads io.EOF, or gets ECONNRESET.",
		"Node's _connections goes up in onconnection and down when a socket closes; in Go, count yourself, with sync/atomic since the loop and the handlers are different goroutines.",
		"netutil.LimitListener(ln, n) stops calling Accept while n connections are open: new ones wait in the listener's queue (ss -ltn: Recv-Q), handshake done, their bytes acknowledged but unread, until a Close frees a slot.",
	},
	TryThis: []string{
		"Run go run ./lessons/07 --hold and paste the first command it prints, nc 127.0.0.1 PORT with nc joined to\n" +
			"the lesson's lab, into three other terminals: the third nc connects but hears nothing when you type a line,\n" +
			"until you end one of the first two (Ctrl-C). Meanwhile its next two commands, ss -tn '( sport = :PORT )'\n" +
			"and ss -ltn, show the line waiting in the server's Recv-Q, and Recv-Q 1 on the listener.",
		"Change who speaks first: in main.go, have client #3 write too, right after client #4's write:\n" +
			"io.WriteString(clients[2], \"hi\"). Run it again: closing #3 now sends RST, since its 2 bytes were\n" +
			"never read, and the lesson stops in step 4: client #3's Read got a reset, not io.EOF.",
		"Pick the FINs and RSTs out of a capture: go build -o lesson07 ./lessons/07 && ./lesson07 --pcap 07.pcapng, then\n" +
			"tshark -r 07.pcapng -Y 'tcp.flags.reset == 1 || tcp.flags.fin == 1'.",
	},
	// The first Try this (nc, then ss), and the TIME_WAITs of the run,
	// which go with the lab when the lesson ends.
	HoldCommands: []string{
		"{lab}nc 127.0.0.1 PORT",
		"{lab}ss -tn '( sport = :PORT )'",
		"{lab}ss -ltn",
		"{lab}ss -tan state time-wait",
	},
}

// maxConnections is the limit, Node's server.maxConnections.
const maxConnections = 2

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Listen, with a limit of 2",
		"The first server copies Node's server.maxConnections = 2: it keeps at most 2 connections open "+
			"and closes any other at once, as the seed's onconnection does (L1411–L1413). Its accept loop "+
			"starts in step 3, so that four connections are queued first, in the order they arrived. (A loop "+
			"already running accepts each one at once; whether a client's first bytes arrive before the "+
			"close is then a race.)")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in step 5; this covers early returns.
	defer ln.Close()

	l.Step("Four clients connect; nobody accepts yet",
		"All four Dials return: the server's kernel completes each handshake by itself. The fourth client "+
			"writes at once, as the seed's client does right after connecting; the server's kernel acknowledges "+
			"the bytes and keeps them for a socket no program has accepted. The lesson asks the kernel what "+
			"it holds, the way ss does (socket diagnostics).")
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	var clients []net.Conn
	for range 4 {
		c, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		clients = append(clients, c)
	}
	if _, err := io.WriteString(clients[3], "hello?"); err != nil {
		return err
	}
	// Wait until the kernel holds the four connections and the six bytes.
	q, err := waitRecvQ(l.Context(), addrPort(ln.Addr()), netip.AddrPort{}, 4)
	if err != nil {
		return err
	}
	l.Note("kernel", fmt.Sprintf("The listening socket's queue holds %d connections, handshakes done, waiting for Accept (ss -ltn: Recv-Q %d).", q.RecvQ, q.RecvQ))
	fourth := serverEnd(clients[3])
	if q, err = waitRecvQ(l.Context(), fourth.Local, fourth.Remote, 6); err != nil {
		return err
	}
	l.Note("kernel", fmt.Sprintf("The server's end of connection #%d holds %d bytes that no program has read (ss -tn: Recv-Q %d); "+
		"its inode is %d: no file descriptor refers to it until Accept returns it.", l.Trace().ConnID(fourth), q.RecvQ, q.RecvQ, q.Inode))

	l.Step("The accept loop: two kept, two closed at once",
		"The loop is Node's onconnection. While fewer than 2 connections are open it keeps the new one "+
			"(self._connections++) and greets it; otherwise it closes it at once (clientHandle.close()). "+
			"Connection #3 had sent nothing, so closing it sends FIN. Connection #4's 6 bytes were never "+
			"read, so closing it sends RST: Linux resets a connection closed with unread data, so that "+
			"the peer learns its data was lost.")
	var (
		// open is Node's server._connections: up when the loop keeps a
		// connection, down when its handler ends. The loop and the
		// handlers are different goroutines, so it is atomic; Node's
		// is a plain number, touched by one thread only.
		open     atomic.Int32
		handlers sync.WaitGroup
		ended    = make(chan struct{}, maxConnections) // a handler ended
		refused  = make(chan struct{}, 16)             // a connection closed at once
		loopDone = make(chan error, 1)
	)
	go func() {
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				loopDone <- nil // the listener was closed: the loop ends
				return
			}
			if err != nil {
				loopDone <- err
				return
			}
			// Node's onconnection, L1411–L1413.
			if n := open.Load(); n >= maxConnections {
				l.Note("server", fmt.Sprintf("%d connections open, the limit: close this one at once.", n))
				conn.Close() // clientHandle.close(); NOTE: the trace shows any error
				select {
				case refused <- struct{}{}:
				default:
				}
				continue
			}
			n := open.Add(1) // self._connections++
			l.Note("server", fmt.Sprintf("%d of at most %d connections open: keep this one.", n, maxConnections))
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				greet(conn, n)
				l.Note("server", fmt.Sprintf("A handler ended: %s open.", plural(open.Add(-1), "connection")))
				ended <- struct{}{}
			}()
		}
	}()
	greeting := make([]byte, 64)
	for _, c := range clients[:2] {
		if _, err := c.Read(greeting); err != nil {
			return err
		}
	}
	<-refused
	<-refused

	l.Step("What the extra clients read",
		"Both extra clients had connected without an error. Client #3's first Read returns io.EOF: the "+
			"server's FIN (Node's 'end' event). Client #4's first Read fails with ECONNRESET: the server's "+
			"RST (Node's 'error' event). Then both close.")
	if _, err := clients[2].Read(greeting); !errors.Is(err, io.EOF) {
		return fmt.Errorf("client #3 read: %v, want io.EOF", err)
	}
	if _, err := clients[3].Read(greeting); !isReset(err) {
		return fmt.Errorf("client #4 read: %v, want connection reset", err)
	}
	if err := clients[2].Close(); err != nil {
		return err
	}
	if err := clients[3].Close(); err != nil {
		return err
	}
	l.Note("client", fmt.Sprintf("Connection #%d was reset already: its Close sends nothing, it only releases the socket.",
		l.Trace().ConnID(serverEnd(clients[3]))))

	l.Step("The kept clients leave",
		"Clients #1 and #2 close, one after the other. Each handler reads io.EOF, closes its socket and "+
			"lowers the count, as Node lowers _connections when a socket closes. Then the first server "+
			"stops listening, and its loop ends.")
	for _, c := range clients[:2] {
		if err := c.Close(); err != nil {
			return err
		}
		<-ended
	}
	handlers.Wait()
	if err := ln.Close(); err != nil {
		return err
	}
	if err := <-loopDone; err != nil {
		return err
	}

	l.Step("LimitListener: a second server",
		"netutil.LimitListener(ln, 2) wraps the listener: its Accept first waits for a free slot, and only "+
			"then calls the kernel's accept; closing an accepted connection frees its slot. This loop runs at "+
			"once. Two clients connect, say hi and are answered.")
	ln2, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	limited := netutil.LimitListener(ln2, maxConnections)
	// NOTE: closed again in step 9; this covers early returns.
	defer limited.Close()
	var served sync.WaitGroup
	accepted := make(chan time.Time, 16)
	go func() {
		for {
			conn, err := limited.Accept() // waits for a slot, then accepts
			at := time.Now()
			if errors.Is(err, net.ErrClosed) {
				loopDone <- nil
				return
			}
			if err != nil {
				loopDone <- err
				return
			}
			served.Add(1)
			go func() {
				defer served.Done()
				echo(conn) // its Close frees the slot
			}()
			select {
			case accepted <- at:
			default:
			}
		}
	}()
	var kept []net.Conn
	reply := make([]byte, 64)
	for range maxConnections {
		c, err := dialer.DialContext(l.Context(), "tcp4", ln2.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := io.WriteString(c, "hi"); err != nil {
			return err
		}
		if _, err := c.Read(reply); err != nil {
			return err
		}
		<-accepted
		kept = append(kept, c)
	}

	l.Step("A third client: handshake done, no Accept",
		"Dial returns: the kernel completed the handshake. The client writes hello? and the server's kernel "+
			"acknowledges it. But the loop waits for a slot inside LimitListener's Accept and never asks "+
			"the kernel, so the connection stays in the listener's queue with its bytes unread.")
	extra, err := dialer.DialContext(l.Context(), "tcp4", ln2.Addr().String())
	if err != nil {
		return err
	}
	defer extra.Close()
	dialed := time.Now()
	if _, err := io.WriteString(extra, "hello?"); err != nil {
		return err
	}
	if q, err = waitRecvQ(l.Context(), addrPort(ln2.Addr()), netip.AddrPort{}, 1); err != nil {
		return err
	}
	l.Note("kernel", fmt.Sprintf("The listening socket's queue holds %d connection waiting for Accept (ss -ltn: Recv-Q %d).", q.RecvQ, q.RecvQ))
	waiting := serverEnd(extra)
	if q, err = waitRecvQ(l.Context(), waiting.Local, waiting.Remote, 6); err != nil {
		return err
	}
	l.Note("kernel", fmt.Sprintf("The server's end of connection #%d holds %d unread bytes (ss -tn: Recv-Q %d), inode %d: no program holds it yet.",
		l.Trace().ConnID(waiting), q.RecvQ, q.RecvQ, q.Inode))

	l.Step("A slot frees",
		"The first client of this server closes. Its handler reads io.EOF and closes the connection, which "+
			"frees a slot. Only now does Accept return the waiting connection; the server reads the bytes "+
			"that waited in the kernel and answers.")
	if err := kept[0].Close(); err != nil {
		return err
	}
	at := <-accepted
	if _, err := extra.Read(reply); err != nil {
		return err
	}
	l.Note("server", fmt.Sprintf("Accept returned connection #%d %s after its Dial had returned: all that time it waited in the kernel's queue, handshake done.",
		l.Trace().ConnID(waiting), tracer.FormatDuration(at.Sub(dialed))))

	l.Step("Close",
		"The last two clients close, their handlers end, and the second server stops listening.")
	for _, c := range []net.Conn{kept[1], extra} {
		if err := c.Close(); err != nil {
			return err
		}
	}
	served.Wait()
	l.Hold(ln2.Addr()) // with --hold: serve nc, two at a time, until Ctrl-C
	if err := limited.Close(); err != nil {
		return err
	}
	return <-loopDone
}

// greet is the first server's handler: it greets the client, then waits
// for it to close.
func greet(conn net.Conn, n int32) {
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "welcome: %d of %d\n", n, maxConnections); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, conn) // NOTE: the trace shows any error
}

// echo is the second server's handler, the seed's: it answers each
// message and closes when the client has closed.
func echo(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return // io.EOF: the client sent FIN; the trace shows any other error
		}
		if _, err := conn.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
			return
		}
	}
}

func plural(n int32, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// isReset reports whether err says the peer reset the connection.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// serverEnd returns the five-tuple of the server's end of a client's
// connection: the client's, turned around.
func serverEnd(c net.Conn) tracer.FiveTuple {
	return tracer.FiveTuple{Proto: "tcp", Local: addrPort(c.RemoteAddr()), Remote: addrPort(c.LocalAddr())}
}

// waitRecvQ asks the kernel, every millisecond, until the Recv-Q of the
// TCP socket whose own end is local and whose peer is remote (zero for
// a listener) is want, the way `ss -tan` asks: with socket diagnostics
// over netlink, which needs no privilege (package tracer/kernel). The
// kernel cannot tell us when it changes. It gives up after a second.
func waitRecvQ(ctx context.Context, local, remote netip.AddrPort, want uint32) (kernel.Socket, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ft := tracer.FiveTuple{Proto: "tcp", Local: local, Remote: remote}
	return kernel.Wait(ctx, ft, fmt.Sprintf("Recv-Q %d", want), func(s kernel.Socket) bool { return s.RecvQ == want })
}

func addrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
