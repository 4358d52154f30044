// Lesson 06 half-closes a connection. The client sends its request and
// calls CloseWrite: its FIN says "that is all I will send", and it goes
// on reading. The server reads to io.EOF, then answers, then closes: one
// FIN each way, with the answer between them. Then a server that ends
// its own side as soon as it reads io.EOF, as Node does by default, and
// answers only later: too late, its Write fails and nothing arrives.
//
// It answers the seed's `this.allowHalfOpen = options.allowHalfOpen ||
// false` (Node's lines 1117 and 1418). TCP calls a connection closed in
// one direction only half-closed; Node's option says half-open.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

var info = lesson.Lesson{
	Number: "06",
	Title:  "Half-close",
	Intro: "The client sends its request and shuts down its sending half (CloseWrite: a FIN), then waits for the " +
		"answer. The server reads to the end, answers, and closes. Then a server that ends its own side as " +
		"soon as it reads the end, as Node's does unless allowHalfOpen is true, and answers too late.",
	Steps: 5,
	Recap: []string{
		"CloseWrite (shutdown(SHUT_WR)) sends FIN and nothing else: the socket can still read. Node calls it socket.end().",
		"The peer's Read returns io.EOF (Node's 'end'), and the peer can still write: the connection is half-closed, " +
			"one direction closed, the other open (RFC 9293 3.6.1). Node calls that half-open, hence allowHalfOpen; " +
			"TCP's own half-open is a connection one end has lost track of, after a crash (RFC 9293 3.5.1).",
		"Each direction closes with its own FIN, when its sender is done: here the client's FIN, then the answer, " +
			"then the server's FIN.",
		"The FIN can mark the end of a request: a server that reads to io.EOF knows it has the whole request.",
		"Go never closes for you: every Go connection acts like Node's allowHalfOpen: true. " +
			"Node's default, allowHalfOpen: false, ends the writable side for you right after 'end': what the " +
			"program wrote in its 'data' or 'end' callbacks still goes out before the FIN, a write after that " +
			"fails with EPIPE. In Go: CloseWrite as soon as Read returns io.EOF, as step 5 does.",
	},
	TryThis: []string{
		"Run go run ./lessons/06 --hold. In another terminal, paste the first command it prints:\n" +
			"printf 'I am Chuck Norris!' | nc -N 127.0.0.1 PORT, with nc joined to the lesson's lab (-N makes nc send FIN\n" +
			"when its input ends). The answer comes after nc's FIN, as the lesson's trace and its packets show. The\n" +
			"second command is the same without -N: nc sends no FIN and the server waits; when you stop nc with Ctrl-C, " +
			"its kernel sends the FIN, the server answers, and nc's kernel, with nobody left to read, sends RST. " +
			"After that RST the server's Close sends nothing.",
		"Run go run ./lessons/06 --step and, at the pause before step 3, run in another terminal\n" +
			"ss -tn state fin-wait-2 state close-wait, starting it with the join command the lesson printed at its start\n" +
			"(join the lab: …): the client's socket is in FIN_WAIT_2 (by then the server's kernel has acknowledged the FIN " +
			"on its own), the server's in CLOSE_WAIT.",
	},
	// The first Try this: nc with and without -N, in the lab.
	HoldCommands: []string{
		"printf 'I am Chuck Norris!' | {lab}nc -N 127.0.0.1 PORT",
		"printf 'I am Chuck Norris!' | {lab}nc 127.0.0.1 PORT",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Start the server and connect",
		"The server listens on a loopback port; the client dials it and the server accepts.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()

	// The accept loop hands the lesson's two connections to the lesson,
	// which drives them step by step; with --hold it serves others (nc)
	// with answerAtEOF.
	accepted := make(chan net.Conn, 2)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for n := 1; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			if n <= 2 {
				accepted <- conn
				continue
			}
			// NOTE: nobody waits for these; with --hold, connections
			// still open at Ctrl-C end with the program.
			go answerAtEOF(conn)
		}
	}()

	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	client, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	// NOTE: closed again in step 4; this covers early returns.
	defer client.Close()
	server := <-accepted
	defer server.Close()

	l.Step("The client sends its request and half-closes",
		"The client writes its request, then calls CloseWrite: its kernel sends FIN after the data. "+
			"The client can no longer write, but it can still read. The server reads until io.EOF (Node's 'end'): "+
			"only the FIN tells it that the request is complete.")
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		return err
	}
	// A tracer connection has CloseWrite, as *net.TCPConn does.
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	request, err := io.ReadAll(server) // reads until io.EOF
	if err != nil {
		return err
	}
	clientState, err := tcpState(client)
	if err != nil {
		return err
	}
	serverState, err := tcpState(server)
	if err != nil {
		return err
	}
	l.Note("server", "its socket is in "+serverState+": the client's FIN came, the server has not closed yet")
	l.Printf("The client's socket is in %s (TCP_INFO).\n"+
		"FIN_WAIT_1: its FIN is not acknowledged yet; the server's kernel delays that ACK "+
		"a little, so that it can ride on the server's next segment.\n"+
		"FIN_WAIT_2: acknowledged; the client's kernel waits for the server's FIN.", clientState)

	l.Step("The server answers after the client's FIN",
		"The connection is half-closed: the client's direction is closed, the server's is not. The server "+
			"writes its answer, and the client, which can no longer write, reads it.")
	if _, err := fmt.Fprintf(server, "You said %q (%d bytes)", request, len(request)); err != nil {
		return err
	}
	answer := make([]byte, 1024)
	if _, err := client.Read(answer); err != nil {
		return err
	}

	l.Step("The server closes",
		"The server has nothing more to say and closes: its kernel sends the second FIN. The client's Read "+
			"returns io.EOF, and the client closes too. One FIN each way, at different times, with the answer between them.")
	if err := server.Close(); err != nil {
		return err
	}
	if _, err := client.Read(answer); !errors.Is(err, io.EOF) {
		return fmt.Errorf("client: want io.EOF after the server's close, got %v", err)
	}
	if err := client.Close(); err != nil {
		return err
	}

	l.Step("Node's default: end at 'end', and an answer too late",
		"A second connection, to a server that does what Node does by default (allowHalfOpen: false): as "+
			"soon as its Read returns io.EOF (Node's 'end') it ends its own side with CloseWrite, and its FIN "+
			"goes out. A Node server that answers in its 'data' or 'end' callback has written before that, and "+
			"its answer goes out first. This one answers later, as a server that first asks a database would: "+
			"its Write fails with EPIPE, and the client's Read returns io.EOF with no answer. Then both close, "+
			"and the listener too.")
	client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	defer client.Close()
	server = <-accepted
	defer server.Close()
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		return err
	}
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	request, err = io.ReadAll(server)
	if err != nil {
		return err
	}
	// What Node does by default right after 'end': it ends the socket's
	// writable side (socket.end(), shutdown(SHUT_WR)), after whatever the
	// program had written; here, nothing yet.
	if err := server.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	// The answer, once the server's slow work is done: too late.
	_, err = fmt.Fprintf(server, "You said %q (%d bytes)", request, len(request))
	if !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("server: a Write after CloseWrite: %v, want EPIPE", err)
	}
	l.Note("server", "errors.Is(err, syscall.EPIPE) is true: this side's sending half is shut, so the kernel "+
		"takes no more bytes and sends nothing. A late write in Node fails with EPIPE too, an error Node "+
		"makes itself: \"This socket has been ended by the other party\".")
	got, err := io.ReadAll(client)
	if err != nil {
		return err
	}
	l.Note("client", fmt.Sprintf("the answer: %d bytes", len(got)))
	if err := client.Close(); err != nil {
		return err
	}
	if err := server.Close(); err != nil {
		return err
	}
	l.Hold(ln.Addr()) // with --hold: answer nc after its FIN, until Ctrl-C
	err = ln.Close()
	<-loopDone
	return err
}

// answerAtEOF is the half-closing server of steps 2 to 4, for nc under
// --hold: it reads the request to io.EOF, answers, and closes.
func answerAtEOF(conn net.Conn) {
	defer conn.Close()
	request, err := io.ReadAll(conn)
	if err != nil {
		return // NOTE: the trace shows the error
	}
	// NOTE: ignoring the error; the peer may have gone
	_, _ = fmt.Fprintf(conn, "You said %q (%d bytes)", request, len(request))
}

// tcpState asks the kernel for the TCP state of conn's socket, with
// getsockopt TCP_INFO. Systems other than Linux have no TCP_INFO of
// this kind: the lesson says so instead of a state.
func tcpState(conn net.Conn) (string, error) {
	info, err := kernel.TCPInfo(conn)
	switch {
	case errors.Is(err, kernel.ErrUnsupported):
		return "a state this system does not report (TCP_INFO is Linux's)", nil
	case err != nil:
		return "", err
	}
	return info.State.String(), nil
}
