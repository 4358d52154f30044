// Lesson 08 pauses a connection: the server accepts it and does not
// read, as a Node server with pauseOnConnect does until the program
// calls socket.resume(). The client's writes still succeed, because the
// kernels buffer the bytes; the window the server's kernel advertises
// gets smaller, down to 0; the client's kernel probes the shut window;
// then the server reads, the window opens, and the client's blocked
// Write returns.
//
// It answers the seed's `pauseOnConnect` (Server, L1118) and
// `pauseOnCreate: self.pauseOnConnect` (onconnection, L1419).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

const (
	// rcvBuf is the SO_RCVBUF the server asks for: small, so that a
	// few kilobytes fill it. Linux doubles it for its bookkeeping.
	rcvBuf = 8192
	// sndBuf is the client's SO_SNDBUF, small too, so that a big Write
	// has to wait for room.
	sndBuf = 4096
	// small is the size of each of the first three writes; big is the
	// write that does not fit.
	small = 1000
	big   = 32 << 10
)

var info = lesson.Lesson{
	Number: "08",
	Title:  "Paused",
	Intro: "The server accepts a connection and does not read from it, like Node's pauseOnConnect. The client " +
		"goes on writing: the kernels buffer the bytes, the server's window falls to 0, the client's kernel " +
		"probes it, and when the server reads at last the window opens and the data flows again.",
	Steps: 6,
	Recap: []string{
		"A program that does not read does not stop its peer at once: Write returns as soon as its bytes are " +
			"in the kernel's send buffer, and the receiving kernel keeps what arrives in its receive buffer.",
		"Every segment advertises a window: how many bytes past its ACK the receiver will take. Linux works it " +
			"out from the memory its receive buffer has left, so it falls as unread data piles up, though not byte " +
			"for byte, and it never takes back room it has offered: ack + window, the window's right edge, never moves left.",
		"At window 0 the sender stops. Its kernel sends zero-window probes on a timer that doubles " +
			"(at least 200 ms on Linux), and the receiver answers with its current window; Linux answers such " +
			"a probe at most once every 500 ms (net.ipv4.tcp_invalid_ratelimit), so some probes get no answer.",
		"When the program reads, its kernel sends a window update and the data flows again. A Write that " +
			"was waiting for room in the send buffer returns only then.",
		"SO_RCVBUF must be set on the listening socket, before the handshake: the SYN-ACK announces the window " +
			"and its scale. Setting it also turns off Linux's receive buffer autotuning for that socket.",
		"Node's pauseOnConnect creates the socket without reading from it until socket.resume(). In Go nothing " +
			"reads unless you call Read: not calling it is the pause. Node's socket.write never blocks: it queues " +
			"in the process and returns false, and 'drain' says when to go on; Go's Write blocks instead.",
	},
	TryThis: []string{
		"Run go run ./lessons/08 --hold: its server pauses every connection. It prints two commands ready to paste.\n" +
			"In another terminal, the first, head -c 1000000 /dev/zero | nc -N 127.0.0.1 PORT with nc joined to the\n" +
			"lesson's lab, and in a third, the second, ss -tni '( sport = :PORT or dport = :PORT )': the server's end holds\n" +
			"a full Recv-Q, nc's end a large Send-Q, and backoff:N on nc's socket counts its zero-window probes.\n" +
			"The lesson's trace shows the probes too, further and further apart, and the rate limit on their answers:\n" +
			"a probe that comes less than 500 ms after the last answer gets none.",
		"Save the packets and let tshark find the window events:\n" +
			"go build -o lesson08 ./lessons/08 && ./lesson08 --pcap 08.pcapng </dev/null; tshark -r 08.pcapng -Y " +
			"'tcp.analysis.zero_window || tcp.analysis.keep_alive || tcp.analysis.window_update || tcp.analysis.window_full'",
		"In step 1, drop Control: smallRcvBuf and call SetReadBuffer(rcvBuf) on the accepted connection instead\n" +
			"(on server's *net.TCPConn, right after server := <-accepted). Run it: the SYN-ACK has already\n" +
			"offered 64 KiB, and Linux does not take that back. The server's kernel acknowledges all 35768 bytes, more\n" +
			"than twice its buffer, the window never reaches 0, no probe goes out, and the lesson stops after 5 s,\n" +
			"waiting for a zero-window probe.",
	},
	// The first Try this: a million bytes into a paused connection, and
	// what ss sees, both in the lab.
	HoldCommands: []string{
		"head -c 1000000 /dev/zero | {lab}nc -N 127.0.0.1 PORT",
		"{lab}ss -tni '( sport = :PORT or dport = :PORT )'",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Listen with a small receive buffer",
		"The server sets SO_RCVBUF on its listening socket before listen(2), in net.ListenConfig's Control "+
			"function. Each accepted socket inherits it, and the kernel announces the window in the SYN-ACK, "+
			"before Accept returns: set on the accepted connection it would come too late. Setting SO_RCVBUF "+
			"also turns off Linux's autotuning, which would otherwise grow the buffer.")
	lc := net.ListenConfig{Control: smallRcvBuf}
	raw, err := lc.Listen(l.Context(), "tcp4", "127.0.0.1:0")
	// tracer.Listen has no Control function: listen here, then hand the
	// listener to the tracer and tell it about the listen.
	hooks := l.Hooks("server")
	hooks.Listen(listenInfo("tcp4", "127.0.0.1:0", raw, err))
	if err != nil {
		return err
	}
	ln := tracer.WrapListener(raw, hooks)
	got, err := sockoptInt(raw.(*net.TCPListener), unix.SO_RCVBUF)
	if err != nil {
		return err
	}
	l.Note("server", fmt.Sprintf("SO_RCVBUF on the listener: %d. The lesson asks for %d; Linux doubles "+
		"what it is given, to leave room for its own bookkeeping.", got, rcvBuf))

	l.Step("Connect, accept, and do not read",
		"The client connects and gives itself a small send buffer (SetWriteBuffer). The server's Accept "+
			"returns the connection, and then the server does not call Read: that is all a pause is in Go. "+
			"Node's pauseOnConnect does the same: the socket is created with pauseOnCreate, and Node does not "+
			"read from it until socket.resume().")
	// The accept loop keeps every connection it accepts, paused: with
	// --hold, nc's connections wait here unread too.
	var (
		mu       sync.Mutex
		paused   []net.Conn
		accepted = make(chan net.Conn, 1)
		loopDone = make(chan struct{})
	)
	go func() {
		defer close(loopDone)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			mu.Lock()
			paused = append(paused, conn) // no Read: paused
			mu.Unlock()
			select {
			case accepted <- conn:
			default:
			}
		}
	}()
	defer func() {
		ln.Close()
		<-loopDone
		mu.Lock()
		defer mu.Unlock()
		for _, c := range paused {
			c.Close() // NOTE: the trace shows any error; closed twice is harmless
		}
	}()
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	client, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn).SetWriteBuffer(sndBuf); err != nil {
		return err
	}
	server := <-accepted

	l.Step("Write while nobody reads",
		"The client writes three times 1000 bytes. Each Write returns at once: the bytes only have to reach "+
			"the client's kernel, which sends them, and the server's kernel acknowledges them and keeps them. "+
			"Each ACK advertises the window, the room the server's kernel offers past what it acknowledges. With "+
			"nothing leaving the buffer it gets smaller, though not byte for byte: Linux counts the buffer's memory, "+
			"and never takes back room it has offered. (The lesson waits for each ACK by asking the client's "+
			"kernel, as ss does: socket diagnostics.)")
	for _, b := range []byte("abc") {
		if _, err := client.Write(bytes.Repeat([]byte{b}, small)); err != nil {
			return err
		}
		// Send-Q counts the bytes in the client's send buffer, sent or
		// not, that the server's kernel has not acknowledged: 0 when
		// the ACK of this write has come.
		if _, err := waitKernel(l, client, "the ACK (Send-Q 0)", func(s kernel.Socket) bool { return s.SendQ == 0 }); err != nil {
			return err
		}
	}
	s, err := kernel.Lookup(tuple(server))
	if err != nil {
		return err
	}
	l.Note("kernel", fmt.Sprintf("The server's end holds %d bytes that its program has not read (ss -tn: Recv-Q %d).", s.RecvQ, s.RecvQ))

	l.Step("Write more than fits",
		fmt.Sprintf("The client writes %d bytes more, from another goroutine, since this Write will not return soon. ", big)+
			"Its kernel sends while the server's window allows (when only a sliver is left, it may wait for its "+
			"probe timer before sending the last bytes that fit), then the server advertises window 0: its receive "+
			"buffer is full. The client's kernel stops, and after its probe timer (about 200 ms here, doubling "+
			"each time) sends a zero-window probe, which the server's kernel answers: still 0. The client's send "+
			"buffer fills up too, and Write waits for room for the bytes it still holds. (The lesson waits "+
			"until the client's kernel reports a probe sent and answered.)")
	wrote := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := client.Write(bytes.Repeat([]byte{'d'}, big))
		wrote <- err
	}()
	// TCP_INFO, which comes with the kernel's answer: the window the
	// server advertised last (snd_wnd), how often the probe timer has
	// doubled (backoff), the probes not answered yet.
	cs, err := waitKernel(l, client, "a zero-window probe", func(s kernel.Socket) bool {
		return s.Info != nil && s.Info.SndWnd == 0 && s.Info.Backoff > 0 && s.Info.Probes == 0
	})
	if err != nil {
		return err
	}
	select {
	case err := <-wrote:
		return fmt.Errorf("the big Write returned before the server read (%v): the buffers are larger than this lesson expects", err)
	default:
	}
	l.Note("client", fmt.Sprintf("Write(%d bytes) has not returned: the window is 0 and the send buffer is full.", big))
	ss, err := kernel.Lookup(tuple(server))
	if err != nil {
		return err
	}
	l.Printf("The kernels now hold %d bytes unread at the server (Recv-Q) and %d bytes in the client's send buffer "+
		"(Send-Q): %d sent and not acknowledged, %d not sent yet (TCP_INFO's notsent_bytes).",
		ss.RecvQ, cs.SendQ, cs.SendQ-cs.Info.NotsentBytes, cs.Info.NotsentBytes)

	l.Step("Resume: the server reads",
		"The server reads at last (Node: socket.resume()). As its buffer empties, its kernel sends a window "+
			"update: an ACK that acknowledges nothing new and only opens the window. The client's kernel sends "+
			"the rest, and the client's Write returns once its last bytes fit in the send buffer.")
	// The three small writes first, in one Read: they are all there.
	buf := make([]byte, 3*small)
	if _, err := io.ReadFull(server, buf); err != nil {
		return err
	}
	// The rest without the tracer, so that the trace shows one line
	// rather than a Read per chunk the kernel happens to hold.
	raw2 := server.(interface{ NetConn() net.Conn }).NetConn()
	n, err := io.Copy(io.Discard, io.LimitReader(raw2, big))
	if err != nil {
		return err
	}
	l.Note("server", fmt.Sprintf("read the other %d bytes (untraced: one Read per chunk would make a long, uneven list)", n))
	if err := <-wrote; err != nil {
		return err
	}
	l.Note("client", fmt.Sprintf("Write(%d bytes) returned after %s, once the server had read.", big, tracer.FormatDuration(time.Since(start))))

	l.Step("Close",
		"The client closes: FIN. The server's Read returns io.EOF (Node's 'end'), and it closes too. "+
			"Then the server stops listening.")
	if err := client.Close(); err != nil {
		return err
	}
	if _, err := server.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the server's Read after the client's FIN: %v, want io.EOF", err)
	}
	if err := server.Close(); err != nil {
		return err
	}
	l.Hold(ln.Addr()) // with --hold: pause nc's connections until Ctrl-C
	return ln.Close()
}

// smallRcvBuf is the listener's Control function: it sets SO_RCVBUF on
// the socket before listen(2), so that every accepted socket inherits it
// and the SYN-ACK offers a small window.
func smallRcvBuf(network, address string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}); cerr != nil {
		return cerr
	}
	return err
}

// listenInfo describes a listen for the tracer's Listen hook.
func listenInfo(network, address string, ln net.Listener, err error) tracer.ListenInfo {
	i := tracer.ListenInfo{Time: time.Now(), Network: network, Addr: address, Err: err}
	if err == nil {
		i.Local = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	return i
}

// tuple is a connection's five-tuple seen from conn's end: how the
// kernel finds its socket.
func tuple(conn net.Conn) tracer.FiveTuple {
	return tracer.FiveTuple{
		Proto:  "tcp",
		Local:  conn.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: conn.RemoteAddr().(*net.TCPAddr).AddrPort(),
	}
}

// waitKernel asks the kernel about conn's socket every millisecond, as
// ss would, until ok holds: the kernel sends no notification of these
// changes. It gives up after 5 s, or when the lesson is stopped.
func waitKernel(l *lesson.Run, conn net.Conn, what string, ok func(kernel.Socket) bool) (kernel.Socket, error) {
	ctx, cancel := context.WithTimeout(l.Context(), 5*time.Second)
	defer cancel()
	return kernel.Wait(ctx, tuple(conn), what, ok)
}

// sockoptInt reads an integer socket option of a listener.
func sockoptInt(ln *net.TCPListener, opt int) (int, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt) }); err != nil {
		return 0, err
	}
	return v, gerr
}
