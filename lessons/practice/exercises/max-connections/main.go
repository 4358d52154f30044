// Exercise max-connections (after lesson 07): Node's maxConnections in
// Go, a server that keeps at most 2 connections at once.
//
// The server below answers each line a client sends with the line in
// capitals, each client in a goroutine of its own, as many at once as
// come. Node's server.maxConnections puts a limit on that: a connection
// over the limit is accepted and closed at once, so its client's connect
// succeeds (the kernel did the handshake) and its first read ends, with
// the server's FIN and no data. A connection under the limit is served
// as before, and when a client leaves, its place is free for the next.
//
// Task: keep at most maxConnections connections open. Close one over
// the limit at once, without a word; serve the others as before.
//
// Check it: go run ./lessons/practice check max-connections
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"strings"
)

// maxConnections is the limit, Node's server.maxConnections.
const maxConnections = 2

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		// TODO: count the connections open; when maxConnections are
		// already open, close this one at once instead of serving
		// it. The goroutines end at different times: count with
		// sync/atomic or a mutex.
		go serve(conn)
	}
}

// serve answers each line the client sends with the same line in
// capitals, until the client closes its side; then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		if _, err := conn.Write([]byte(strings.ToUpper(lines.Text()) + "\n")); err != nil {
			return
		}
	}
}
