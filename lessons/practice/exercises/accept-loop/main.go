// Exercise accept-loop (after lessons 02 and 10): a server that serves
// many clients at once.
//
// The server below answers each line a client sends with the line in
// capitals, for as long as the client stays connected. As written it
// serves one client at a time: while a client stays connected and says
// nothing, the next one's handshake completes (the kernel does that, in
// the listener's queue) but nobody accepts it, and its lines wait
// unanswered.
//
// Task: change the loop in main so that every client is served at once,
// however long the others stay. (Node calls its 'connection' handler for
// each connection as it comes; Go leaves it to you.)
//
// Check it: go run ./lessons/practice check accept-loop
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())

	// TODO: serve every client at once. As written, the loop accepts
	// a connection, serves it until that client leaves, and only then
	// accepts the next.
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		serve(conn)
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
