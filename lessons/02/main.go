// Lesson 02 accepts connections. Node's 'connection' event is a loop
// around Accept; the kernel finishes each three-way handshake before
// Accept returns, and every accepted socket is new, with its own
// five-tuple, while the listener goes on listening.
//
// It answers the seed's onconnection: `new Socket({handle:
// clientHandle})`, `self._connections++` and `self.emit('connection',
// socket)`.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
)

var info = lesson.Lesson{
	Number: "02",
	Title:  "Accepting",
	Intro: "Two clients connect before the server calls Accept, and both succeed: the kernel does the " +
		"handshake. Then the server's accept loop, Go's version of Node's 'connection' event, takes " +
		"them one by one.",
	Steps: 4,
	Recap: []string{
		"The kernel completes the three-way handshake on its own and queues the connection; Dial has returned before Accept is called.",
		"Node's onconnection is called for each accepted handle; in Go you write the loop: for { conn, err := ln.Accept(); … go handle(conn) }.",
		"Every accepted connection is a new socket with its own five-tuple; the listener keeps its address and keeps listening.",
		"Node counts open connections in server._connections; in Go you count them yourself.",
		"Closing the listener ends the loop: Accept returns net.ErrClosed.",
	},
	TryThis: []string{
		"Run go run ./server, connect twice with nc 127.0.0.1 6969 from two terminals, and compare the server's ACCEPT\n" +
			"lines: the same server port, 6969, and two client ports. (Its CONNECTED lines name the client's end only,\n" +
			"as the seed's sock.remoteAddress and sock.remotePort do.)",
		"While those nc sessions are open, ss -tn state established '( sport = :6969 )' shows one line per connection.",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Listen",
		"The server opens its listening socket. It will not call Accept until step 3.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in step 4; this covers early returns.
	defer ln.Close()

	l.Step("Two clients connect; nobody accepts yet",
		"Both Dials return: the server's kernel answered each SYN, completed each handshake and "+
			"queued the connection (the backlog). The server program has done nothing yet.")
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	var clients []net.Conn
	for range 2 {
		c, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		clients = append(clients, c)
	}

	l.Step("The accept loop",
		"Node calls onconnection for each new handle; Go's server is a loop around Accept. "+
			"Each Accept takes one queued connection: a new socket with its own five-tuple. "+
			"The server greets each one, and each client reads its greeting.")
	var (
		handlers sync.WaitGroup
		// accepted only counts up; Node's server._connections also
		// counts down when a socket closes (lesson 07 needs that).
		accepted int
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
			accepted++
			handlers.Add(1)
			go func(n int) {
				defer handlers.Done()
				handle(conn, n)
			}(accepted)
		}
	}()
	greeting := make([]byte, 64)
	for _, c := range clients {
		if _, err := c.Read(greeting); err != nil {
			return err
		}
	}

	l.Step("Close",
		"Each client closes; each handler reads io.EOF and closes its socket. Then the listener "+
			"closes, and Accept returns net.ErrClosed, which ends the loop.")
	for _, c := range clients {
		if err := c.Close(); err != nil {
			return err
		}
	}
	handlers.Wait()
	l.Hold(ln.Addr()) // with --hold: greet nc clients until Ctrl-C
	if err := ln.Close(); err != nil {
		return err
	}
	return <-loopDone
}

// handle is the connection listener: Node's server.on('connection',
// function(sock) {…}). It greets the client, then waits for it to close.
func handle(conn net.Conn, n int) {
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "hello, you are connection %d\n", n); err != nil {
		return
	}
	// Read until the client closes: io.EOF.
	_, _ = io.Copy(io.Discard, conn) // NOTE: the trace shows any error
}
