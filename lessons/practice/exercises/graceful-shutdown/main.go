// Exercise graceful-shutdown (after lesson 09): a server that stops
// without dropping a request.
//
// The server below answers each request, a line, after 300 ms of work.
// A service manager (systemd, Kubernetes, docker stop) stops a server
// with SIGTERM, and as written the signal ends the program at once: its
// kernel closes its sockets, and a client whose request was in flight
// gets the server's FIN instead of its answer.
//
// Task: on SIGTERM, stop accepting (close the listener: a new client is
// refused, and can go to another server), serve every connection
// already accepted, then exit with status 0. A connection accepted
// before the signal whose request has not come yet is served too: its
// request, when it comes, gets its whole answer. No RST on the wire for
// any connection that was accepted. (Node's server.close() does this:
// it stops accepting and calls back when the last connection has ended.
// Go's http.Server.Shutdown waits for such a connection until it is 5 s
// old, and closes at once one that is idle between two requests.)
//
// Check it: go run ./lessons/practice check graceful-shutdown
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())

	// TODO: on SIGTERM, close the listener, wait for every accepted
	// connection to be answered, and return from main. As written,
	// SIGTERM's default action ends the program wherever it is.
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handle(conn)
	}
}

// handle reads one request, a line, works on it for 300 ms, answers
// and closes.
func handle(conn net.Conn) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	time.Sleep(300 * time.Millisecond) // the work
	// NOTE: ignoring the error: the client may have gone.
	_, _ = fmt.Fprintf(conn, "done: %s", line)
}
