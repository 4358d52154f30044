// A wrong solution of exercise dual-stack, kept so that a test proves
// that the check turns it down: it listens on "localhost", which names
// both 127.0.0.1 and ::1, but net.Listen listens on one address of a
// name, the IPv4 one.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the address to listen on: its port, on both families")
	flag.Parse()
	_, port, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}

	// WRONG: "localhost" names both addresses, but net.Listen takes
	// one of them: with a host name, Listen listens on at most one of
	// its addresses, and prefers IPv4.
	ln, err := net.Listen("tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	acceptLoop(ln)
}

// acceptLoop serves each connection ln accepts, each in a goroutine of
// its own, until ln is closed.
func acceptLoop(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err) // a family that stops accepting ends the server, not silently
		}
		go serve(conn)
	}
}

// serve answers each line with where the client came from.
func serve(conn net.Conn) {
	defer conn.Close()
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		fmt.Fprintf(conn, "you are %s\n", conn.RemoteAddr())
	}
}
