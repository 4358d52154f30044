// Lesson 11 walks one TCP connection through the state machine on real
// sockets, each state as the kernel reports it: LISTEN, SYN_SENT,
// ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT (a server that forgets
// to close), LAST_ACK and TIME_WAIT. On loopback most states last
// microseconds; in the lesson's lab (or run as root), a socket filter
// that drops chosen segments, as a lossy network would, holds each one
// long enough to ask, until the kernel sends the lost segment again.
//
// It answers the seed's lifecycle as a whole: the life of a socket from
// `server.listen` and `client.connect` to the `close` event.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

var info = lesson.Lesson{
	Number: "11",
	Title:  "States",
	Intro: "One connection through the TCP state machine: LISTEN, SYN_SENT, ESTABLISHED, FIN_WAIT_1, " +
		"FIN_WAIT_2, CLOSE_WAIT (a server that forgets to close), LAST_ACK and TIME_WAIT, each as the " +
		"kernel reports it. Socket filters that drop chosen segments hold the short-lived states long " +
		"enough to ask: the kernel lets only a program with CAP_NET_ADMIN over the socket's network attach " +
		"one to a TCP socket, which the lesson has in its lab (on this machine's network, with --host, only " +
		"as root).",
	Steps: 9,
	Recap: []string{
		"Each end of a connection has its own socket and its own state, and the two differ\n" +
			"most of the time. ss -tan shows them; a program can ask too (sock_diag, TCP_INFO).",
		"Opening: LISTEN on the server; SYN_SENT on the client until the SYN-ACK comes, then\n" +
			"ESTABLISHED on both. An unanswered SYN goes again after 1 s; Dial waits about two\n" +
			"minutes unless it has a timeout.",
		"The side that closes first: FIN_WAIT_1 while its FIN is unacknowledged, FIN_WAIT_2\n" +
			"once it is, waiting for the peer's FIN, then TIME_WAIT, 60 s on Linux.",
		"The other side: CLOSE_WAIT from the FIN's arrival (Read returns io.EOF) until its\n" +
			"program calls Close. A program that forgets stays there, and leaves its peer waiting.",
		"Close then sends its FIN: LAST_ACK until that FIN is acknowledged; then the socket is gone.",
		"A lost FIN is sent again: first by a tail loss probe (RFC 8985), about 200 ms on\n" +
			"loopback, then each time the retransmission timeout (RTO) fires, which doubles.\n" +
			"The states wait for it. In its lab the lesson loses one FIN each way to show it,\n" +
			"and TCP_INFO's total_retrans and total_rto say which timer sent the copy.",
	},
	TryThis: []string{
		"go run ./lessons/11 --hold, then in another terminal the nc -N command it prints,\n" +
			"ready to paste: type a line and press Ctrl-D. The held server forgets to close,\n" +
			"like step 6's: its ss command (sport or dport = PORT) shows the server's\n" +
			"CLOSE-WAIT and nc's FIN-WAIT-2 (nc's socket has the port as its peer, dport) for\n" +
			"as long as you like. Ctrl-C the lesson: its exit closes the socket, nc gets the\n" +
			"FIN and ends.",
		"On a terminal the lesson pauses before each step. At the pause before step 7, run\n" +
			"ss -tano state close-wait, starting with the join command the lesson printed at\n" +
			"its start: the server's socket shows timer:(keepalive,…), Go's keepalive, and no\n" +
			"retransmission timer (ss would show that one first).",
		"At the pause before step 9, run nstat -asz TcpExtTCPLossProbes TcpExtTCPTimeouts\n" +
			"with the join command: 2 and 0, as the COUNTER lines of steps 5 and 8 say. Each\n" +
			"lost FIN was sent again by a tail loss probe, never by the retransmission timeout.",
		"Run go run ./lessons/11 --host, on this machine's own network (a lab's TIME_WAITs\n" +
			"go with it), then ss -tano state time-wait: the client's socket is still there,\n" +
			"with timer:(timewait,…) counting down from 60 s. TIME_WAIT outlives the program.",
		"Delete step 4's detach(serverRaw) call (its if, three lines): the filter eats\n" +
			"every copy of the FIN and the lesson stops in step 5. Run it with --pcap FILE; in\n" +
			"another terminal, ss -tino state fin-wait-1 after the join command shows the\n" +
			"client's timer:(on,…), retrans:…/N (N copies so far) and backoff:M (M of them at\n" +
			"the retransmission timeout). After a few seconds Ctrl-C it and time the FINs:\n" +
			"tshark -r FILE -Y tcp.flags.fin==1. The first copy, about 205 ms after the FIN,\n" +
			"is a tail loss probe (backoff does not count it); the next, about 205 ms later,\n" +
			"the retransmission timeout; then the timeout doubles: about 420, 830, 1660 ms.",
	},
	HoldCommands: []string{
		"{lab}nc -N 127.0.0.1 PORT",
		"{lab}ss -tan '( sport = :PORT or dport = :PORT )'",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		// The kernel lines (socket diagnostics, TCP_INFO) and the
		// socket filters are Linux's.
		return fmt.Errorf("lesson 11 needs Linux: it asks the kernel for socket states and filters segments; this is %s", runtime.GOOS)
	}
	k := &kernelView{l: l}

	l.Step("LISTEN",
		"The server listens on a loopback port the kernel chooses. Between the program's calls the "+
			"lesson asks the kernel about each socket, as ss does (socket diagnostics), and reads TCP_INFO "+
			"through the sockets the program holds: those are the kernel NOTE lines. Run with sudo (and "+
			"tracefs mounted), and the kernel also reports each change as it makes it: the kernel STATE "+
			"lines, among the packets; otherwise the STATE lines are changes found when the tracer asked. "+
			"A listening socket has no peer and its own state: LISTEN.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()
	listening := tracer.FiveTuple{Proto: "tcp", Local: ln.Addr().(*net.TCPAddr).AddrPort()}
	k.says("server", "the server's listening socket", listening, nil, kernel.Listen,
		"From now on the kernel answers SYNs to this port by itself and queues the connections it "+
			"completes. Recv-Q counts those waiting for Accept, Send-Q is the backlog: a backlog of n lets "+
			"n+1 wait, as step 2 shows.")

	l.Step("SYN_SENT: a SYN nobody answers",
		"A second server listens with a backlog of 0 and never calls Accept, so its queue holds one "+
			"connection (a backlog of n holds n+1), and a first client fills it. The second client's SYN "+
			"finds the queue full, and the server's kernel drops it without a word. The client's kernel "+
			"waits for a SYN-ACK that does not come: SYN_SENT. Left alone, it would send the SYN again after "+
			"1 s, then again at times the kernel's settings choose (net.ipv4.tcp_syn_retries, and "+
			"tcp_syn_linear_timeouts on Linux 6.x), and Dial would fail after about two minutes; lesson 09 "+
			"lets such a dial time out. Here the lesson cancels the "+
			"dial as soon as the kernel has said SYN_SENT. Then the first client hangs up and the busy "+
			"server closes its listener, and its kernel resets (RST) the connection still in the queue.")
	busy, err := listenBacklog0(l)
	if err != nil {
		return err
	}
	// NOTE: closed again below; this covers early returns.
	defer busy.Close()
	busyAddr := busy.Addr().(*net.TCPAddr).AddrPort()
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	first, err := dialer.DialContext(l.Context(), "tcp4", busy.Addr().String())
	if err != nil {
		return err
	}
	// NOTE: closed again below; this covers early returns.
	defer first.Close()
	// The first connection is in the queue once the server's kernel has
	// the client's ACK; until then a SYN would still find room.
	if _, err := k.wait(tracer.FiveTuple{Proto: "tcp", Local: busyAddr}, "Recv-Q 1",
		func(s kernel.Socket) bool { return s.RecvQ == 1 }); err != nil {
		return err
	}
	k.says("", "the busy server's listening socket", tracer.FiveTuple{Proto: "tcp", Local: busyAddr}, nil, kernel.Listen,
		"Its queue is full: one connection waits for an Accept that never comes (Recv-Q), and the "+
			"backlog is 0 (Send-Q).")

	ctx, cancel := context.WithCancel(l.Context())
	defer cancel()
	dialed := make(chan error, 1)
	go func() {
		c, err := dialer.DialContext(ctx, "tcp4", busy.Addr().String())
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	// Dial has not returned, so the lesson does not know the client's
	// port yet; it finds the socket as ss would, among those in
	// SYN_SENT: the one whose peer is the busy server.
	syn, err := connecting(l.Context(), busyAddr)
	if err != nil {
		return err
	}
	k.says("client", "the client's socket", syn, nil, kernel.SynSent,
		"The SYN is sent, the SYN-ACK awaited. The retransmission timer is on: when it fires, the kernel "+
			"sends the SYN again. Dial is still blocked in connect.")
	// Cancelling the context is what a timeout does too, at a time of
	// the program's choosing.
	cancel()
	if err := <-dialed; !errors.Is(err, context.Canceled) {
		return fmt.Errorf("the dial to a full queue: %v, want it cancelled", err)
	}
	k.awaits("client", "the client's socket", syn, nil, gone,
		"Dial returned its error and closed the socket. A socket in SYN_SENT has no connection to end: "+
			"the kernel drops it without sending anything, and the server's kernel never kept the SYN.")
	// The first client hangs up; closing the busy listener then resets
	// the connection still in its queue.
	if err := first.Close(); err != nil {
		return err
	}
	if err := busy.Close(); err != nil {
		return err
	}

	l.Step("ESTABLISHED",
		"The client dials the first listener. SYN, SYN-ACK, ACK: the client's socket goes from SYN_SENT "+
			"to ESTABLISHED when the SYN-ACK arrives, the server's from SYN_RECV when the ACK arrives, "+
			"microseconds apart. The client says \"I am Chuck Norris!\" and the server answers. The lesson "+
			"waits until each side's data is acknowledged, then asks.")
	client, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	// NOTE: closed again in step 8; this covers early returns.
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return err
	}
	// NOTE: closed in step 7, late on purpose; this covers early returns.
	defer server.Close()
	if err := talk(client, server); err != nil {
		return err
	}
	c, s := tuple(client), tuple(server)
	for _, ft := range []tracer.FiveTuple{c, s} {
		if err := k.acknowledged(ft); err != nil {
			return err
		}
	}
	k.says("client", "the client's socket", c, client, kernel.Established,
		"The handshake is done and data flows both ways. TCP_INFO holds what the kernel learned: the "+
			"round-trip time, the congestion window (in segments), the largest segment it sends (mss: "+
			"Linux keeps it to half the largest window the peer has offered, here below the SYN's 65495), "+
			"the bytes the peer has acknowledged (the client's SYN counts as one) and those received.")
	k.says("server", "the server's socket", s, server, kernel.Established,
		"The same connection from the server's end: its own socket, its own state.")

	// The filter goes on before the step's text, which says whether
	// the kernel took it.
	serverRaw, err := rawConn(server)
	if err != nil {
		return err
	}
	lossy, err := k.loseFINs(serverRaw)
	if err != nil {
		return err
	}
	finWait1 := "The lesson has attached to the server's socket a filter that drops segments with FIN, as " +
		"if the network lost them. The client calls CloseWrite: its kernel sends FIN and its socket moves to " +
		"FIN_WAIT_1, where it stays until the FIN is acknowledged. The server's socket never saw the FIN: " +
		"still ESTABLISHED. Then the lesson takes the filter off (SO_DETACH_FILTER), so that the next copy " +
		"of the FIN gets through. CloseWrite rather than Close: the FIN and the states are the same, but the " +
		"client keeps its socket, to read its TCP_INFO and, in step 7, to filter what reaches it."
	if !lossy {
		finWait1 = "The lesson tried to attach to the server's socket a filter that drops segments with FIN, " +
			"as a lossy network would, and the kernel refused (the kernel line says why): in this run no FIN " +
			"is lost. The client calls CloseWrite: its kernel sends FIN and its socket moves to FIN_WAIT_1, " +
			"where it stays until the FIN is acknowledged. The FIN reaches the server's socket at once, but " +
			"Linux delays the ACK of a FIN (its delayed-ACK timer, about 40 ms), and the lesson asks in " +
			"between. CloseWrite rather than Close: the FIN and the states are the same, but the client " +
			"keeps its socket, to read its TCP_INFO."
	}
	l.Step("FIN_WAIT_1: the client closes first",
		"The client has nothing more to say. "+finWait1+" Lesson 05 uses Close.")
	k.refusal()
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	sentFIN := k.says("client", "the client's socket", c, client, kernel.FinWait1,
		"The FIN is sent and not acknowledged: Send-Q and TCP_INFO's unacked count it. A timer is on: "+
			"if it fires before an ACK comes, the kernel sends the FIN again, as a tail loss probe (RFC "+
			"8985) or at the retransmission timeout (RTO); ss shows either as on.")
	if lossy {
		k.says("server", "the server's socket", s, server, kernel.Established,
			"Its filter dropped the FIN before TCP saw it: as far as the server's kernel knows, the "+
				"connection is fully open.")
		if err := detach(serverRaw); err != nil {
			return err
		}
	} else {
		k.awaits("server", "the server's socket", s, server, kernel.CloseWait,
			"Without the filter the FIN arrived at once, and the server's socket is in CLOSE_WAIT "+
				"already. Its kernel has not acknowledged the FIN yet: the client was still in "+
				"FIN_WAIT_1 when the lesson asked.")
	}

	// Without the filters (no CAP_NET_ADMIN) the next steps say what
	// happens instead.
	fin2 := "The lesson waits, on purpose, for the client's kernel to send its FIN again, when the timer " +
		"the kernel line showed fires. This copy gets through. "
	if !lossy {
		fin2 = "The client's FIN got through at once. "
	}
	l.Step("FIN_WAIT_2 and CLOSE_WAIT",
		fin2+"The server's Read returns io.EOF and its socket moves to CLOSE_WAIT. Its kernel acknowledges "+
			"the FIN after its delayed-ACK timer (about 40 ms), and the client's socket moves to FIN_WAIT_2: "+
			"its half of the connection is closed, and it waits for the server's FIN.")
	buf := make([]byte, 1024)
	if _, err := server.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the server's Read after the client's FIN: %v, want io.EOF", err)
	}
	k.says("server", "the server's socket", s, server, kernel.CloseWait,
		"The client's FIN has arrived: the client will send nothing more. The server may still send; "+
			"its socket waits in CLOSE_WAIT for its program to call Close. (TCP_INFO counts the FIN as "+
			"one byte received.)")
	// Which timer sent the copy: the client's TCP_INFO now against
	// what it said in FIN_WAIT_1.
	k.await(c, kernel.FinWait2)
	acked := "The server's kernel has acknowledged the FIN. Nothing is in flight, so no timer resends anything. "
	if lossy {
		ackedFIN, _ := kernel.TCPInfo(client)
		acked = "The server's kernel has acknowledged the second copy of the FIN. " + k.resent(sentFIN, ackedFIN) +
			" Nothing is in flight now, so no timer resends anything."
	}
	k.says("client", "the client's socket", c, client, kernel.FinWait2, acked)

	l.Step("CLOSE_WAIT: a server that forgets to close",
		"The server has read io.EOF and, like a handler with a missing Close, does nothing more. The "+
			"client, which waits for the server's FIN to know that the answer is complete, waits in vain: "+
			"its Read gives up after the 100 ms deadline the lesson set (a wait on purpose; without a "+
			"deadline it would wait for as long as the server holds the socket). In a real program this "+
			"is a hung request, and ss -tan shows CLOSE-WAIT sockets piling up.")
	if err := client.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := client.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the client's Read while the server forgets to close: %v, want a timeout", err)
	}
	if err := client.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	k.says("server", "the server's socket", s, server, kernel.CloseWait,
		"Still CLOSE_WAIT. The kernel cannot finish the connection for the program and runs no "+
			"retransmission timer: the only timer is Go's keepalive, which probes the idle peer every "+
			"15 s, and the client's kernel answers each probe. So the socket stays for as long as the "+
			"program holds it.")
	k.says("client", "the client's socket", c, client, kernel.FinWait2,
		"Still FIN_WAIT_2: the client holds its socket, so its kernel waits for the server's FIN as "+
			"long as the server's program does nothing.")

	clientRaw, err := rawConn(client)
	if err != nil {
		return err
	}
	if lossy {
		if lossy, err = k.loseFINs(clientRaw); err != nil {
			return err
		}
	}
	// The server's socket dies with no program holding it: the lesson
	// reads its last TCP_INFO from the kernel's report of its
	// destruction (any program may ask for those reports).
	var bye *kernel.Farewells
	var byeErr error
	if lossy {
		if bye, byeErr = kernel.ListenFarewells(); byeErr == nil {
			defer bye.Close()
		}
	}
	lastAck := "On loopback that ACK comes back within microseconds, too fast to ask, so the lesson has " +
		"attached to the client's socket a filter that drops segments with FIN. The server's FIN is lost on " +
		"the way and the server's socket stays in LAST_ACK, though its program has let go of it. Then the " +
		"lesson takes the client's filter off."
	if !lossy {
		lastAck = "On loopback that ACK comes back within microseconds, and without a filter to lose the " +
			"FIN the lesson cannot ask the kernel in time."
	}
	l.Step("LAST_ACK: the server closes at last",
		"At last the server calls Close. Its kernel sends FIN and the socket moves to LAST_ACK: it "+
			"waits for the ACK of that FIN. "+lastAck)
	if err := server.Close(); err != nil {
		return err
	}
	var closedFIN *kernel.Info
	if lossy {
		closedFIN = k.says("server", "the server's socket", s, nil, kernel.LastAck,
			"No program holds this socket any more; the kernel keeps it until its FIN is acknowledged. "+
				"Its TCP_INFO comes with the kernel's answer: one segment unacknowledged, the FIN, and a "+
				"timer on.")
		k.says("client", "the client's socket", c, client, kernel.FinWait2,
			"Its filter dropped the server's FIN: the client's kernel still waits for it.")
		if err := detach(clientRaw); err != nil {
			return err
		}
	} else {
		k.awaits("server", "the server's socket", s, nil, gone,
			"Gone already: without the filter the client's kernel acknowledged the FIN at once, and the "+
				"server's socket was in LAST_ACK only from its FIN to that ACK, microseconds on loopback. "+
				"The lesson could not ask the kernel in time; with capture (in the lab, or as root), the packets show the two segments.")
	}

	timeWait := "The lesson waits, on purpose, for the server's kernel to send its FIN again, when the " +
		"timer the kernel line showed fires. This copy reaches the client: the client's kernel acknowledges " +
		"it at once and the client's Read returns io.EOF. At that ACK the server's socket is gone. "
	if !lossy {
		timeWait = "The client's kernel acknowledged the server's FIN at once, and the client's Read " +
			"returns io.EOF. At that ACK the server's socket was gone. "
	}
	l.Step("TIME_WAIT", timeWait+"The client, which closed first, moves to TIME_WAIT.")
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the client's Read after the server's FIN: %v, want io.EOF", err)
	}
	released := "The ACK of its FIN came: the kernel has released the server's socket. The passive closer " +
		"leaves nothing behind."
	switch {
	case lossy && bye == nil:
		released += " No program held it, and the lesson could not hear the kernel report its end (" +
			byeErr.Error() + "), so it cannot say which timer sent the FIN again."
	case lossy:
		if last, err := bye.Wait(s, 5*time.Second); err != nil {
			released += " The lesson did not hear the kernel report its end (" + err.Error() +
				"), so it cannot say which timer sent the FIN again."
		} else {
			released += " As it released the socket, the kernel reported its last TCP_INFO (socket " +
				"diagnostics tell a program that asks of each TCP socket the kernel destroys). " +
				k.resent(closedFIN, last.Info)
		}
	}
	k.awaits("server", "the server's socket", s, nil, gone, released)
	k.awaits("client", "the client's socket", c, nil, kernel.TimeWait,
		"Both FINs are sent and acknowledged, yet the kernel keeps the five-tuple of the side that "+
			"closed first for 2·MSL (twice the Maximum Segment Lifetime): if the last ACK were lost, the "+
			"server would send its FIN again and the client must still be there to answer it; and no "+
			"late segment of this connection can be taken for part of a new one with the same five-tuple. "+
			"Linux fixes the wait at 60 s; the timer shows the time left. The lesson does not wait for it.")
	k.program("client", "the client's own socket", c, client, kernel.Close,
		"TCP_INFO through the file descriptor the client still holds says CLOSE: on entering "+
			"TIME_WAIT, Linux moves the connection to a small TIME_WAIT socket of its own (the one ss "+
			"shows, which no program holds), and the program's socket is finished. Closing it sends "+
			"nothing.")
	if err := client.Close(); err != nil {
		return err
	}

	l.Step("Stop listening",
		"The server closes its listener: LISTEN ends at once. The client's TIME_WAIT stays: the "+
			"kernel keeps it, not the program, and it outlives the listener. On this machine's network "+
			"(--host) it outlives the lesson too; a lab takes it away with its network when the lesson ends, unless a program joined to the lab still runs there.")
	// With --hold the server goes on accepting, and forgets to close as
	// the server of step 6 does: nc's connections stay half-closed.
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			go forgetful(conn)
		}
	}()
	l.Hold(ln.Addr()) // with --hold: serve nc until Ctrl-C
	if err := ln.Close(); err != nil {
		return err
	}
	<-accepting
	k.says("server", "the server's listening socket", listening, nil, gone,
		"The listener is gone: a new SYN to this port would get RST.")
	k.says("client", "the client's socket", c, nil, kernel.TimeWait,
		"Still here after the listener: TIME_WAIT belongs to the kernel, not to the program.")

	l.Printf("%s", drawing{k, l})
	return nil
}

// talk is one exchange: the client says its line, the server answers
// `You said "<data>"`, the client reads the answer.
func talk(client, server net.Conn) error {
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		return err
	}
	buf := make([]byte, 1024)
	n, err := server.Read(buf)
	if err != nil {
		return err
	}
	if _, err := server.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
		return err
	}
	_, err = client.Read(buf)
	return err
}

// forgetful is the held server's side of a connection: it answers each
// message and, when the client's FIN arrives, forgets to close.
func forgetful(conn net.Conn) {
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			// NOTE: no conn.Close, on purpose: the socket stays in
			// CLOSE_WAIT until the program exits.
			return
		}
		if _, err := conn.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
			return
		}
	}
}

// listenBacklog0 opens a traced listening socket on a loopback port the
// kernel chooses, with a backlog of 0. net.Listen has no backlog
// parameter (Go asks for net.core.somaxconn), but listen(2) called
// again on a listening socket sets a new one.
func listenBacklog0(l *lesson.Run) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(l.Context(), "tcp4", "127.0.0.1:0")
	if err == nil {
		var raw syscall.RawConn
		if raw, err = ln.(*net.TCPListener).SyscallConn(); err == nil {
			err = relisten(raw, 0)
		}
		if err != nil {
			ln.Close()
		}
	}
	// tracer.Listen cannot set the backlog: tell the tracer about this
	// listen, then let it wrap the listener.
	h := l.Hooks("server")
	i := tracer.ListenInfo{Time: time.Now(), Network: "tcp4", Addr: "127.0.0.1:0", Err: err}
	if err == nil {
		i.Local = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	if h.Listen != nil {
		h.Listen(i)
	}
	if err != nil {
		return nil, err
	}
	return tracer.WrapListener(ln, h), nil
}

// tuple is a connection's five-tuple seen from conn's end. It still
// works after Close: the addresses stay with the net.Conn.
func tuple(conn net.Conn) tracer.FiveTuple {
	return tracer.FiveTuple{
		Proto:  "tcp",
		Local:  conn.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: conn.RemoteAddr().(*net.TCPAddr).AddrPort(),
	}
}

// connecting waits until the kernel holds a socket in SYN_SENT whose
// peer is remote, and returns its tuple: ss -tan state syn-sent dst
// REMOTE, asked every millisecond.
func connecting(ctx context.Context, remote netip.AddrPort) (tracer.FiveTuple, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		socks, err := kernel.Sockets(kernel.SynSent)
		if err != nil {
			return tracer.FiveTuple{}, err
		}
		for _, s := range socks {
			if s.Remote == remote {
				return s.Tuple(), nil
			}
		}
		select {
		case <-ctx.Done():
			return tracer.FiveTuple{}, fmt.Errorf("no socket in SYN_SENT to %s: %w", remote, ctx.Err())
		case <-tick.C:
		}
	}
}
