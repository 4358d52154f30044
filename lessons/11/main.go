// Lesson 11 walks one TCP connection through the state machine on real
// sockets, each state as the kernel reports it: LISTEN, SYN_SENT,
// ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT (a server that forgets
// to close), LAST_ACK and TIME_WAIT. The client and the server are on a
// link (package tracer/link) with a short delay; to hold FIN_WAIT_1 and
// LAST_ACK long enough to ask, the link loses a chosen FIN each way, as
// a lossy network would, until the kernel sends it again. No privilege
// is needed: the lesson's lab gives it the link.
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
	"os"
	"runtime"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// The link's delay each way: a round trip of 4 ms, short enough that the
// lesson stays quick, long enough that a segment is on its way for a
// while.
const oneWay = 2 * time.Millisecond

var info = lesson.Lesson{
	Number: "11",
	Title:  "States",
	Intro: "One connection through the TCP state machine: LISTEN, SYN_SENT, ESTABLISHED, FIN_WAIT_1, " +
		"FIN_WAIT_2, CLOSE_WAIT (a server that forgets to close), LAST_ACK and TIME_WAIT, each as the " +
		"kernel reports it. The client and the server are on a link with a round trip of 4 ms, which " +
		"loses one chosen FIN each way, so that the short-lived states last long enough to ask.",
	Steps: 9,
	Link:  &link.Config{DelayToServer: oneWay, DelayToClient: oneWay},
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
		"A lost FIN is sent again: first by a tail loss probe (RFC 8985), about 200 ms after\n" +
			"it on a short round trip, then each time the retransmission timeout (RTO) fires,\n" +
			"which doubles. The states wait for it. The lesson's link loses one FIN each way to show\n" +
			"it, and TCP_INFO's total_retrans and total_rto say which timer sent the copy.",
	},
	TryThis: []string{
		"In lessons/11/main.go, make step 4's rule lose the client's FIN and its first three\n" +
			"copies (add Retransmits: 3 to it), then run the lesson with --pcap FILE: step 5\n" +
			"comes about 1.7 s after step 4, and its note says total_retrans went up by 4 and\n" +
			"total_rto by 3. Time the FINs at the client's end: tshark -r FILE -Y\n" +
			"'tcp.flags.fin==1 && frame.interface_name==\"client\"'. After step 2's FIN come\n" +
			"the client's FIN of step 4 and its four copies: the first about 200 ms after it, a\n" +
			"tail loss probe; the next about 210 ms later, the retransmission timeout; then the\n" +
			"timeout doubles: about 430, then 860 ms. Last comes the server's FIN of step 8.",
		"Make the link slower: oneWay = 50 * time.Millisecond in lessons/11/main.go. Step\n" +
			"3's TCP_INFO shows a round trip (rtt) of about 100 ms, step 4's an rto of about\n" +
			"300 ms, and each lost FIN goes again about 300 ms after it: two round trips plus\n" +
			"200 ms would be 400 ms, but a tail loss probe never waits longer than the\n" +
			"retransmission timeout would.",
		"TIME_WAIT outlives the program, but not the lesson's network: here the client's\n" +
			"namespace takes it away when the lesson ends. Lesson 05 runs on this machine's own\n" +
			"loopback with --host, where ss -tano state time-wait lists the TIME_WAIT sockets\n" +
			"after the lesson, their timers counting down from 60 s: see its Try this.",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		// The kernel lines (socket diagnostics, TCP_INFO) and the link
		// are Linux's.
		return fmt.Errorf("lesson 11 needs Linux: it asks the kernel for socket states, on a link between two network namespaces; this is %s", runtime.GOOS)
	}
	k := &kernelView{l: l}

	l.Step("LISTEN",
		"The server listens in its own network namespace, at 192.0.2.2, on a port the kernel chooses; the "+
			"client dials from its own, 192.0.2.1. Between them, the link holds each segment 2 ms each way. "+
			"Between the program's calls the lesson asks each end's kernel about its sockets, as ss does "+
			"(socket diagnostics), and reads TCP_INFO through the sockets the program holds: those are the "+
			"kernel NOTE lines. Run with sudo (and tracefs mounted), and the kernel also reports each change "+
			"as it makes it: the kernel STATE lines, among the packets; otherwise the STATE lines are changes "+
			"found when the tracer asked. A listening socket has no peer and its own state: LISTEN.")
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", net.JoinHostPort(link.ServerAddr.String(), "0"))
		return err
	})
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
			"crosses the link and finds the queue full, and the server's kernel drops it without a word. The "+
			"client's kernel waits for a SYN-ACK that does not come: SYN_SENT. Left alone, it would send the "+
			"SYN again after 1 s, then again at times the kernel's settings choose (net.ipv4.tcp_syn_retries, "+
			"and tcp_syn_linear_timeouts on Linux 6.x), and Dial would fail after about two minutes; lesson 09 "+
			"lets such a dial time out. Here the lesson cancels the dial as soon as the kernel has said "+
			"SYN_SENT. Then the first client hangs up and the busy server closes its listener, and its kernel "+
			"resets (RST) the connection still in the queue.")
	var busy net.Listener
	if err := l.Server(func() (err error) { busy, err = listenBacklog0(l); return err }); err != nil {
		return err
	}
	// NOTE: closed again below; this covers early returns.
	defer busy.Close()
	busyAddr := busy.Addr().(*net.TCPAddr).AddrPort()
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	var first net.Conn
	if err := l.Client(func() (err error) {
		first, err = dialer.DialContext(l.Context(), "tcp4", busy.Addr().String())
		return err
	}); err != nil {
		return err
	}
	// NOTE: closed again below; this covers early returns.
	defer first.Close()
	// The first connection is in the queue once the server's kernel has
	// the client's ACK, a link's delay after Dial returned; until then a
	// SYN would still find room.
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
		dialed <- l.Client(func() error {
			c, err := dialer.DialContext(ctx, "tcp4", busy.Addr().String())
			if err == nil {
				c.Close()
			}
			return err
		})
	}()
	// Dial has not returned, so the lesson does not know the client's
	// port yet; it finds the socket as ss would, among those in
	// SYN_SENT in the client's namespace: the one whose peer is the busy
	// server.
	syn, err := k.connecting(busyAddr)
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
	// The first client hangs up; once the queued connection has
	// acknowledged its FIN (the client's socket in FIN_WAIT_2), closing
	// the busy listener resets it; the step ends when the RST has
	// reached the client. The same segments on every run.
	if err := first.Close(); err != nil {
		return err
	}
	k.await(tuple(first), kernel.FinWait2)
	if err := busy.Close(); err != nil {
		return err
	}
	k.await(tuple(first), gone)

	l.Step("ESTABLISHED",
		"The client dials the first listener. SYN, SYN-ACK, ACK: the client's socket goes from SYN_SENT "+
			"to ESTABLISHED when the SYN-ACK arrives, the server's from SYN_RECV when the ACK arrives, one "+
			"crossing of the link (2 ms) later. The client says \"I am Chuck Norris!\" and the server answers. "+
			"The lesson waits until each side's data is acknowledged, then asks.")
	var client net.Conn
	if err := l.Client(func() (err error) {
		client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		return err
	}); err != nil {
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
			"round-trip time (at least the link's 4 ms, more when the machine is busy), the congestion window (in segments), the "+
			"largest segment it sends (mss: the link's MTU of 1500 less 40 bytes of IP and TCP headers and 12 "+
			"of timestamps), the bytes the peer has acknowledged (the client's SYN counts as one) and those "+
			"received.")
	k.says("server", "the server's socket", s, server, kernel.Established,
		"The same connection from the server's end: its own socket, its own state.")

	l.Step("FIN_WAIT_1: the client closes first",
		"The client has nothing more to say. The link is told to drop the client's first FIN, as a lossy "+
			"network might. The client calls CloseWrite: its kernel sends FIN and its socket moves to "+
			"FIN_WAIT_1, where it stays until the FIN is acknowledged. The FIN never reaches the server: its "+
			"socket is still ESTABLISHED. The rule drops that one segment only, so the next copy of the FIN "+
			"gets through. CloseWrite rather than Close: the FIN and the states are the same, but the client "+
			"keeps its socket, to read its TCP_INFO. Lesson 05 uses Close.")
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.FIN, Index: 1, Action: link.Drop})
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	if err := dropped(l, "dropped on purpose: the 1st FIN from the client"); err != nil {
		return err
	}
	sentFIN := k.says("client", "the client's socket", c, client, kernel.FinWait1,
		"The FIN is sent and not acknowledged: Send-Q and TCP_INFO's unacked count it. A timer is on: "+
			"if it fires before an ACK comes, the kernel sends the FIN again, as a tail loss probe (RFC "+
			"8985) or at the retransmission timeout (RTO); ss shows either as on.")
	k.says("server", "the server's socket", s, server, kernel.Established,
		"The link dropped the FIN (its line above): as far as the server's kernel knows, the connection "+
			"is fully open.")

	l.Step("FIN_WAIT_2 and CLOSE_WAIT",
		"The lesson waits, on purpose, for the client's kernel to send its FIN again, when the timer "+
			"the kernel line showed fires. This copy gets through. The server's Read returns io.EOF and its "+
			"socket moves to CLOSE_WAIT. Its kernel acknowledges the FIN after its delayed-ACK timer (about "+
			"40 ms), and the client's socket moves to FIN_WAIT_2: its half of the connection is closed, and it "+
			"waits for the server's FIN.")
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
	ackedFIN, _ := kernel.TCPInfo(client)
	k.says("client", "the client's socket", c, client, kernel.FinWait2,
		"A copy of the FIN got through, and the server's kernel has acknowledged it. "+k.resent(sentFIN, ackedFIN)+
			" Nothing is in flight now, so no timer resends anything.")

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

	// The server's socket dies with no program holding it: the lesson
	// reads its last TCP_INFO from the kernel's report of its
	// destruction (any program may ask for those reports), in the
	// server's namespace.
	var bye *kernel.Farewells
	byeErr := l.Server(func() (err error) { bye, err = kernel.ListenFarewells(); return err })
	if byeErr == nil {
		defer bye.Close()
	}
	l.Step("LAST_ACK: the server closes at last",
		"At last the server calls Close. Its kernel sends FIN and the socket moves to LAST_ACK: it "+
			"waits for the ACK of that FIN, which would come back one round trip (4 ms) later. The link "+
			"is told to drop the server's first FIN: the server's socket stays in LAST_ACK, though its "+
			"program has let go of it, until its kernel sends the FIN again.")
	l.SetRules(link.Rule{Dir: link.FromServer, Kind: link.FIN, Index: 1, Action: link.Drop})
	if err := server.Close(); err != nil {
		return err
	}
	if err := dropped(l, "dropped on purpose: the 1st FIN from the server"); err != nil {
		return err
	}
	closedFIN := k.says("server", "the server's socket", s, nil, kernel.LastAck,
		"No program holds this socket any more; the kernel keeps it until its FIN is acknowledged. "+
			"Its TCP_INFO comes with the kernel's answer: one segment unacknowledged, the FIN, and a "+
			"timer on.")
	k.says("client", "the client's socket", c, client, kernel.FinWait2,
		"The link dropped the server's FIN (its line above): the client's kernel still waits for it.")

	l.Step("TIME_WAIT",
		"The lesson waits, on purpose, for the server's kernel to send its FIN again, when the timer the "+
			"kernel line showed fires. This copy reaches the client: the client's kernel acknowledges it at "+
			"once and the client's Read returns io.EOF. When that ACK reaches the server, its socket is gone. "+
			"The client, which closed first, moves to TIME_WAIT.")
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the client's Read after the server's FIN: %v, want io.EOF", err)
	}
	released := "The ACK of its FIN came: the kernel has released the server's socket. The passive closer " +
		"leaves nothing behind."
	if bye == nil {
		released += " No program held it, and the lesson could not hear the kernel report its end (" +
			byeErr.Error() + "), so it cannot say which timer sent the FIN again."
	} else if last, err := bye.Wait(s, 5*time.Second); err != nil {
		released += " The lesson did not hear the kernel report its end (" + err.Error() +
			"), so it cannot say which timer sent the FIN again."
	} else {
		released += " As it released the socket, the kernel reported its last TCP_INFO (socket " +
			"diagnostics tell a program that asks of each TCP socket the kernel destroys). " +
			k.resent(closedFIN, last.Info)
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
			"kernel keeps it, not the program, and it outlives the listener. On a machine's own network it "+
			"outlives the program too (lesson 05 shows it with --host); the client's namespace here takes it "+
			"away when the lesson ends.")
	if err := ln.Close(); err != nil {
		return err
	}
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

// listenBacklog0 opens a traced listening socket on the server's
// address, on a port the kernel chooses, with a backlog of 0; call it
// in the server's namespace. net.Listen has no backlog
// parameter (Go asks for net.core.somaxconn), but listen(2) called
// again on a listening socket sets a new one.
func listenBacklog0(l *lesson.Run) (net.Listener, error) {
	var lc net.ListenConfig
	addr := net.JoinHostPort(link.ServerAddr.String(), "0")
	ln, err := lc.Listen(l.Context(), "tcp4", addr)
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
	i := tracer.ListenInfo{Time: time.Now(), Network: "tcp4", Addr: addr, Err: err}
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

// dropped waits until the link has dropped a segment on purpose, as its
// line in the trace says (text), for 5 s at most: the lesson asks the
// kernels about a lost FIN once it is lost, and the line stays in the
// step that lost it. It asks the trace every millisecond.
func dropped(l *lesson.Run, text string) error {
	ctx, cancel := context.WithTimeout(l.Context(), 5*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		for _, e := range l.Trace().Events() {
			if e.Actor == "link" && e.Text == text {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the link did not say %q: %w", text, ctx.Err())
		case <-tick.C:
		}
	}
}
