// Lesson 05 closes a connection and asks the kernel, at each turn, what
// state each end is in. The client closes first: it sends FIN, the
// server's Read returns io.EOF, the server closes too, and the client's
// socket is left in TIME_WAIT. Then the server closes first, and
// TIME_WAIT moves to the server.
//
// It answers the seed's "Completely close the connection" and the `end`
// and `close` events.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
)

var info = lesson.Lesson{
	Number: "05",
	Title:  "Closing",
	Intro: "The client closes first: its FIN, the server's Read returning io.EOF (Node's 'end'), " +
		"the server's FIN, four segments in all, and the client's socket left in TIME_WAIT, each " +
		"state as the kernel reports it. Then the server closes first, and TIME_WAIT moves to the server.",
	Steps: 7,
	Recap: []string{
		"Close sends FIN: \"I will send nothing more\". The side whose FIN goes first is the\n" +
			"active closer: FIN_WAIT_1, FIN_WAIT_2 once its FIN is acknowledged, then TIME_WAIT.",
		"The peer's Read returns io.EOF (Node's 'end'). Its socket waits in CLOSE_WAIT until its\n" +
			"program calls Close; then it sends its own FIN (LAST_ACK) and is gone at the ACK.",
		"Four segments close a connection: FIN, ACK, FIN, ACK. When the passive side closes\n" +
			"before its kernel's delayed ACK is due, the ACK rides on its FIN: three segments.",
		"The active closer keeps the connection in TIME_WAIT for 2·MSL, 60 s on Linux, address\n" +
			"and port included, so that a lost last ACK can be sent again and no stray segment\n" +
			"can join a new connection. The passive closer leaves nothing behind.",
		"Who closes first holds the TIME_WAIT: the client in the first connection, the server\n" +
			"in the second.",
	},
	TryThis: []string{
		"The TIME_WAIT sockets outlive the listener, but not the lab: they go with it when the\n" +
			"lesson ends. Run go run ./lessons/05 --hold and paste the last command it prints for\n" +
			"another terminal: its ss -tano state time-wait lists the client's end of connection #1\n" +
			"and the server's end of #2, their timers counting down from 60 s. With --host the lesson\n" +
			"runs on this machine's loopback, where the kernel keeps them after the lesson has exited:\n" +
			"right after go run ./lessons/05 --host, ss -tano state time-wait '( sport = :PORT or\n" +
			"dport = :PORT )', with the server's port from the last step, lists them.",
		"go run ./lessons/05 --hold prints its commands for another terminal, ready to paste. Run its\n" +
			"nc -N line, type a line, press Ctrl-D, then run its ss -tan line. nc closed first, so\n" +
			"nc's end is the one in TIME-WAIT.",
		"On a terminal the lesson pauses before each step. At the pause before step 4, run\n" +
			"ss -tano state close-wait and ss -tano state fin-wait-2 in another terminal, each started\n" +
			"with the join command the lesson printed at its start (\"join the lab: …\"). The server's\n" +
			"socket stays in CLOSE-WAIT as long as its program does not close it. The client's, in\n" +
			"FIN-WAIT-2, no program holds: the kernel drops it after net.ipv4.tcp_fin_timeout (60 s,\n" +
			"its timer counts down). Wait longer, and the next segment the server sends meets a kernel\n" +
			"with no socket for it and gets RST: Go's keepalive probe (every 15 s) or step 4's FIN,\n" +
			"whichever comes first; step 4 says which.",
		"Move the server's Close up into step 3, right after its io.EOF, and count the segments:\n" +
			"three, as in lesson 03, because the ACK of the client's FIN rides on the server's FIN.\n" +
			"(The kernel lines then say which states the lesson no longer finds.)",
	},
	// Held (--hold), the lesson offers nc and ss on its server's port:
	// nc's connection, and the two sockets it left in TIME_WAIT.
	HoldCommands: []string{
		"{lab}nc -N 127.0.0.1 PORT",
		"{lab}ss -tan '( sport = :PORT or dport = :PORT )'",
		"{lab}ss -tano state time-wait '( sport = :PORT or dport = :PORT )'",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Start the server",
		"The server listens on a loopback port the kernel chooses. Between the program's calls the "+
			"lesson asks the kernel what state each socket is in, through socket diagnostics "+
			"(the netlink interface ss uses): those are the kernel NOTE lines. Run as root (sudo) where "+
			"tracefs is mounted, and the kernel also reports each change of state as it makes it: the "+
			"kernel STATE lines, each beside its cause, after the segment that arrived or before the "+
			"one a Close sends, LAST_ACK included, which lasts microseconds here.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()
	listening := tracer.FiveTuple{Proto: "tcp", Local: ln.Addr().(*net.TCPAddr).AddrPort()}
	kernelSays(l, "the server's listening socket", listening, kernel.Listen,
		"A listening socket has no peer: it waits for SYNs and queues the connections it completes.")

	l.Step("Connect and talk",
		"The client connects and says \"I am Chuck Norris!\"; the server accepts and answers. "+
			"This lesson calls Accept itself, one connection at a time, so that each side closes "+
			"exactly when the story says.")
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	client, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	server, err := ln.Accept()
	if err != nil {
		return err
	}
	// The client says its line and the server answers, as in lesson 03.
	if err := talk(client, server); err != nil {
		return err
	}
	c1, s1 := tuple(client), tuple(server) // connection #1, seen from each end
	kernelSays(l, "the client's socket", c1, kernel.Established,
		"Both directions are open: either side may send, and either may be the first to close.")
	kernelSays(l, "the server's socket", s1, kernel.Established,
		"The same connection seen from the server's end: each end has its own socket and its own state.")

	l.Step("The client closes first",
		"The client calls Close: the active close. Its kernel sends FIN, which says \"I will send "+
			"nothing more\". The server's Read returns io.EOF (Node's 'end'), but the server does not "+
			"close yet. Its kernel does not acknowledge the FIN at once either: it delays the ACK "+
			"(about 40 ms here) in case the ACK can ride on data or on the server's own FIN. "+
			"The lesson waits for that ACK.")
	// Close is the seed's "Completely close the connection": the
	// client will neither send nor read on this connection again.
	if err := client.Close(); err != nil {
		return err
	}
	kernelSays(l, "the client's socket", c1, kernel.FinWait1,
		"The client's FIN is sent and not yet acknowledged.")
	// The server's next Read returns io.EOF, Node's 'end'; the server
	// does not close yet.
	buf := make([]byte, 1024)
	if _, err := server.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the server's Read after the client's FIN: %v, want io.EOF", err)
	}
	kernelSays(l, "the server's socket", s1, kernel.CloseWait,
		"The client's FIN has come and the server's program has not closed. The kernel cannot finish "+
			"the connection for it: a socket stays in CLOSE_WAIT until its program calls Close, "+
			"forever if it never does. Many of them mean a program that forgets to close.")
	kernelAwaits(l, "the client's socket", c1, kernel.FinWait2,
		"The server's kernel has acknowledged the FIN: the client's half of the connection is closed. "+
			"The client now waits for the server's FIN; since its program has let go of the socket, "+
			"the kernel waits for it at most net.ipv4.tcp_fin_timeout ("+finTimeout()+"), then drops "+
			"the socket. Data sent to it now would be answered with RST: there is no program left to read it.")
	// What the server's kernel has sent and received so far, its ACK of
	// the FIN included, to tell in step 4 what it did while the lesson
	// paused.
	before, _ := kernel.TCPInfo(server)

	l.Step("The server closes too",
		"The server calls Close: the passive close. Its kernel sends its own FIN and the socket "+
			"moves to LAST_ACK. The client's kernel answers that FIN at once, with an ACK while the "+
			"client's socket waits in FIN_WAIT_2. That makes four segments: FIN, ACK, FIN, ACK. "+
			"(After a pause longer than net.ipv4.tcp_fin_timeout before this step, the client's "+
			"socket is gone, and what the server's kernel sends it, this FIN or a keepalive probe "+
			"before it, is answered with RST: the lesson asks the kernel first.)")
	// A learner may have paused before this step. Meanwhile the
	// server's kernel sends keepalive probes: Go turns TCP keepalive on
	// for every connection (a probe after 15 s without traffic, then
	// every 15 s), and the program sends nothing else. TCP_INFO counts
	// the segments each way.
	serverReset := false
	if now, err := kernel.TCPInfo(server); err == nil && before != nil {
		if probes := now.SegsOut - before.SegsOut; probes > 0 {
			l.Trace().Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseNote, Proto: "tcp", Local: s1.Local, Remote: s1.Remote,
				Text: fmt.Sprintf("the server's socket: %s sent, %s received while the lesson paused",
					count(int(probes), "keepalive probe"), count(int(now.SegsIn-before.SegsIn), "segment")),
				Note: "TCP_INFO counts them; the program sent nothing. Go turns TCP keepalive on for every " +
					"connection: a probe after 15 s without traffic, then one every 15 s. A socket that is " +
					"there answers a probe with an ACK; a kernel that holds no socket for it, with RST."})
		}
		// A connection reset while its program holds the socket leaves
		// the socket in CLOSE.
		serverReset = now.State == kernel.Close
	}
	// No program holds the client's socket: the kernel drops it once
	// it has waited net.ipv4.tcp_fin_timeout in FIN_WAIT_2. A learner
	// who paused longer than that before this step finds it gone, and
	// then the server's FIN, or its next keepalive probe, meets no
	// socket on the client's side.
	_, err = kernel.StateOf(c1)
	clientGone := errors.Is(err, kernel.ErrNotFound)
	switch {
	case clientGone && serverReset:
		kernelSays(l, "the client's socket", c1, gone,
			"The client's socket waited in FIN_WAIT_2 for the server's FIN longer than "+
				"net.ipv4.tcp_fin_timeout ("+finTimeout()+"), and the kernel dropped it: no program "+
				"held it. The server's socket is no longer in CLOSE_WAIT either: TCP_INFO says CLOSE, "+
				"though its program has not closed it. The client's kernel, which holds no socket for "+
				"this connection, answered a keepalive probe with RST, and the RST ended the "+
				"connection. Close will send no FIN, and neither end is left in TIME_WAIT.")
	case clientGone:
		kernelSays(l, "the client's socket", c1, gone,
			"The client's socket waited in FIN_WAIT_2 for the server's FIN longer than "+
				"net.ipv4.tcp_fin_timeout ("+finTimeout()+"), and the kernel dropped it: no program "+
				"held it. The client's kernel now has no socket for this connection, so it will answer "+
				"the server's FIN with RST, not with an ACK, and neither end will be left in TIME_WAIT.")
	}
	if err := server.Close(); err != nil {
		return err
	}
	var timeWait1 time.Time // when the client's socket is due to leave TIME_WAIT
	switch {
	case serverReset:
		kernelSays(l, "the server's socket", s1, gone,
			"Close sent nothing: the RST had ended the connection already. It only let go of the "+
				"socket, which the kernel then released.")
	case clientGone:
		kernelAwaits(l, "the server's socket", s1, gone,
			"The kernel has released the server's socket at once, though no ACK of its FIN could "+
				"come: the client's kernel, which holds no socket for this connection, answers the FIN "+
				"with RST, and an RST ends LAST_ACK as the ACK would. Without an answer the server's "+
				"kernel would go on sending its FIN. A server that waits this long to close meets this "+
				"RST; its program, which has closed already, never sees it.")
	default:
		kernelAwaits(l, "the server's socket", s1, gone,
			"The kernel has released the server's socket. It was in LAST_ACK only between its FIN and "+
				"the client's ACK: a few microseconds on loopback (compare the two packets' times). "+
				"The passive closer leaves nothing behind.")
		timeWait1 = kernelAwaits(l, "the client's socket", c1, kernel.TimeWait,
			"Both FINs are sent and acknowledged, yet the kernel keeps the client's end, which closed "+
				"first, for 2·MSL: twice the Maximum Segment Lifetime, the longest a segment may wander "+
				"in a network. If the last ACK were lost, the server would send its FIN again and the "+
				"client must still be there to answer; and no late segment of this connection can be "+
				"taken for part of a new one with the same five-tuple. Linux fixes this wait at 60 s "+
				"(TCP_TIMEWAIT_LEN); the lesson does not wait for it.")
	}

	l.Step("TIME_WAIT holds the port",
		"The client dials the server again from the same port (Dialer.LocalAddr). While the old "+
			"socket is in TIME_WAIT it holds that address and port, so bind fails with EADDRINUSE "+
			"and no SYN is sent. A Dial that names no local port gets one the kernel chooses from "+
			"net.ipv4.ip_local_port_range that makes a new four-tuple: ports in TIME_WAIT toward "+
			"other servers, or toward another port of this one, can be used again, and on loopback "+
			"even one in TIME_WAIT toward this server once it is a second old (net.ipv4.tcp_tw_reuse). "+
			"Only when every port of the range is taken toward one server's address and port, by "+
			"connections or by TIME_WAIT sockets too young to reuse, does connect fail, with "+
			"EADDRNOTAVAIL: a real failure of clients that open many short connections to one server.")
	// The port is held only while the old socket is in TIME_WAIT: a
	// learner who paused long enough before this step finds it gone.
	if _, err := kernel.StateOf(c1); errors.Is(err, kernel.ErrNotFound) {
		why := "It never reached TIME_WAIT: the kernel dropped it in FIN_WAIT_2, before step 4."
		if !clientGone {
			why = fmt.Sprintf("Its TIME_WAIT is over: the kernel's timer on it ran out %s ago, "+
				"and the pauses between the steps count.", since(timeWait1))
		}
		kernelSays(l, "the client's old socket", c1, gone, why+" Nothing holds its port now, so a "+
			"Dial from it would succeed: this run cannot show EADDRINUSE, and the lesson does not "+
			"dial. Run it again without the long pause to see it.")
	} else {
		// Dialer.Net.LocalAddr asks for the old connection's address
		// and port; Dial binds to it before it connects.
		again := tracer.Dialer{Hooks: l.Hooks("client"), Net: net.Dialer{LocalAddr: client.LocalAddr()}}
		if conn, err := again.DialContext(l.Context(), "tcp4", ln.Addr().String()); err == nil {
			conn.Close()
			return errors.New("dialing from a port in TIME_WAIT succeeded; the lesson expected EADDRINUSE")
		} else if !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		kernelSays(l, "the client's old socket", c1, kernel.TimeWait,
			"The \"other socket\" holding the port is this one: no program has it any more, the kernel "+
				"does, until its 60 s are over.")
	}

	l.Step("The server closes first",
		"A new connection. This time the server answers and hangs up at once, as an HTTP/1.0 "+
			"server does: the server sends the first FIN. The client reads the answer, then io.EOF, "+
			"and closes at once, before its kernel's delayed ACK is due, so that ACK rides on the "+
			"client's FIN: three segments this time. TIME_WAIT is now on the server's side.")
	client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	server, err = ln.Accept()
	if err != nil {
		return err
	}
	c2, s2 := tuple(client), tuple(server) // connection #2
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		return err
	}
	n, err := server.Read(buf)
	if err != nil {
		return err
	}
	if _, err := server.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
		return err
	}
	// The server hangs up right after its answer: its FIN goes first.
	if err := server.Close(); err != nil {
		return err
	}
	kernelSays(l, "the server's socket", s2, kernel.FinWait1,
		"The server closed first: its FIN is sent and not yet acknowledged.")
	// The client reads the answer, then io.EOF: the server's FIN.
	if _, err := client.Read(buf); err != nil {
		return err
	}
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the client's Read after the server's FIN: %v, want io.EOF", err)
	}
	kernelSays(l, "the client's socket", c2, kernel.CloseWait,
		"The client has read io.EOF and not closed yet: CLOSE_WAIT is on the client's side now.")
	// The client closes at once: the passive close.
	if err := client.Close(); err != nil {
		return err
	}
	kernelAwaits(l, "the client's socket", c2, gone,
		"The client, the passive closer this time, passed through LAST_ACK and is gone.")
	timeWait2 := kernelAwaits(l, "the server's socket", s2, kernel.TimeWait,
		"The server closed first, so TIME_WAIT is on its side, holding the server's address and "+
			"port with this client for 60 s. The ACK of its FIN came in the same segment as the "+
			"client's FIN, so it did not wait in FIN_WAIT_2: the kernel passed through it while "+
			"reading that one segment. A busy server that closes first collects many of these; "+
			"they do not stop it listening.")

	l.Step("Stop listening",
		"The server closes its listener. The two sockets in TIME_WAIT stay: the kernel keeps them, "+
			"not the program, and they outlive the listener. "+afterTheLesson())
	// With --hold the server goes on accepting, like the seed's server:
	// it answers each message and closes when its client has closed.
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			// NOTE: a held connection still open when the lesson
			// ends is closed by the program's exit.
			go echo(conn)
		}
	}()
	l.Hold(ln.Addr()) // with --hold: serve nc until Ctrl-C
	if err := ln.Close(); err != nil {
		return err
	}
	<-accepting
	kernelSays(l, "the server's listening socket", listening, gone,
		"The listener is gone at once: a new SYN to this port would get RST.")
	if clientGone {
		kernelSays(l, "connection #1's client socket", c1, gone,
			"Gone since step 4: the kernel dropped it in FIN_WAIT_2, so it never reached TIME_WAIT.")
	} else {
		timeWaitSays(l, "connection #1's client socket", c1, timeWait1,
			"Still here after the listener: the client closed first.")
	}
	timeWaitSays(l, "connection #2's server socket", s2, timeWait2,
		"Still here too, on the listener's port: the server closed first. Go sets SO_REUSEADDR on "+
			"listening sockets, so a server restarted now can listen on this port again despite it.")
	return nil
}

// afterTheLesson says what becomes of the sockets in TIME_WAIT when the
// lesson ends: on this machine's loopback the kernel keeps them for
// their 60 s; in a lab they go with the lab's network.
func afterTheLesson() string {
	if lab.Inside() {
		return "They would outlive the program too, but not this lab: its network goes when the " +
			"lesson ends, and every socket in it, unless a program joined to the lab still runs there. (With --host, on this machine's loopback, they " +
			"stay their 60 s after the lesson.)"
	}
	return "They outlive the lesson itself too: the kernel keeps them for their 60 s after the " +
		"program has exited."
}

// finTimeout is net.ipv4.tcp_fin_timeout, as the lesson says it: how
// long the kernel keeps a socket in FIN_WAIT_2 that no program holds.
// The setting is per network namespace; this is the lesson's.
func finTimeout() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fin_timeout")
	if err != nil {
		return "60 s by default"
	}
	return strings.TrimSpace(string(b)) + " s here"
}

// count says "1 segment", "4 segments".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// since says how long ago due was, in whole seconds.
func since(due time.Time) string {
	return max(time.Since(due), 0).Round(time.Second).String()
}

// timeWaitSays says, as kernelSays does, what state a socket that the
// lesson found in TIME_WAIT is in now, explaining it with why. Once the
// kernel's timer on it has run out (due) the kernel has released it, and
// the lesson says that instead: the pauses between the steps can
// outlast TIME_WAIT.
func timeWaitSays(l *lesson.Run, who string, ft tracer.FiveTuple, due time.Time, why string) {
	_, err := kernel.StateOf(ft)
	if errors.Is(err, kernel.ErrNotFound) && !due.IsZero() && time.Now().After(due.Add(-time.Second)) {
		kernelSays(l, who, ft, gone, "Its TIME_WAIT is over: the kernel's timer on it ran out "+
			since(due)+" ago, and the pauses between the steps count. The kernel has released "+
			"the socket and its port.")
		return
	}
	kernelSays(l, who, ft, kernel.TimeWait, why)
}

// talk is one exchange: the client says its line, the server answers
// `You said "<data>"`, the client reads the answer (Node's 'data').
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

// echo is the server's side of a connection in --hold, the seed's
// server.on('connection') handler: it answers each message and closes
// when the client has closed.
func echo(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return // io.EOF: the client sent FIN (Node's 'end'); or an error the trace shows
		}
		if _, err := conn.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
			return
		}
	}
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

// gone stands for "the kernel holds no such socket": RFC 9293's CLOSED.
const gone kernel.State = 0

// kernelSays asks the kernel what state the socket ft is in and puts
// its answer in the trace, in time order with the packets. why explains
// the state the lesson expects, want; when the kernel says otherwise,
// the trace says that instead of why. It returns when the kernel's
// TIME_WAIT timer on the socket (which also times an orphaned
// FIN_WAIT_2) runs out, or the zero time when none runs.
func kernelSays(l *lesson.Run, who string, ft tracer.FiveTuple, want kernel.State, why string) time.Time {
	s, err := kernel.Lookup(ft)
	asked := time.Now()
	got := s.State
	var said string
	switch {
	case errors.Is(err, kernel.ErrNotFound):
		said, got = "gone", gone
	case err != nil:
		// Not Linux: no socket diagnostics.
		l.Trace().Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseNote, Proto: "tcp", Local: ft.Local, Remote: ft.Remote,
			Text: who + ": state unknown",
			Note: fmt.Sprintf("The lesson cannot ask this kernel (%v); netstat -an shows the states.", err)})
		return time.Time{}
	default:
		said = got.String()
	}
	if got != want {
		expected := "gone"
		if want != gone {
			expected = want.String()
		}
		why = fmt.Sprintf("The lesson expected %s here, so its explanation does not fit this run: "+
			"read the packets around this line to see why.", expected)
	}
	l.Trace().Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseNote, Proto: "tcp", Local: ft.Local, Remote: ft.Remote,
		Text: who + ": " + said, Note: why})
	if err != nil || s.Timer != kernel.TimerTimeWait {
		return time.Time{}
	}
	return asked.Add(s.Expires)
}

// kernelAwaits waits until the socket ft is in state want (or gone),
// then says so as kernelSays does, and returns what kernelSays returns.
// The kernel cannot tell when a state changes, so kernel.WaitState asks
// it every millisecond.
func kernelAwaits(l *lesson.Run, who string, ft tracer.FiveTuple, want kernel.State, why string) time.Time {
	ctx, cancel := context.WithTimeout(l.Context(), 2*time.Second)
	defer cancel()
	// NOTE: ignoring a timeout: kernelSays reports the state the
	// socket is in instead.
	if want == gone {
		_ = kernel.WaitGone(ctx, ft)
	} else {
		_ = kernel.WaitState(ctx, ft, want)
	}
	return kernelSays(l, who, ft, want, why)
}
