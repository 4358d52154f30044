// A wrong solution of exercise read-deadline, kept so that a test proves
// that the check turns it down: it sets the read deadline once, when the
// connection is accepted, and never pushes it back, so every client is
// dropped idleTimeout after it connects, however much it talks.
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"strings"
	"time"
)

// idleTimeout is how long a client may stay silent.
const idleTimeout = time.Second

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
		go serve(conn)
	}
}

// serve answers each line the client sends with the same line in
// capitals, until the client closes its side or the deadline passes;
// then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	// WRONG: one deadline for the whole connection, counted from the
	// accept: a client that talks is dropped as well.
	_ = conn.SetReadDeadline(time.Now().Add(idleTimeout))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
			return
		}
	}
}
