// Exercise dual-stack (after lesson 16): one server, both address
// families.
//
// The server below answers each line with the address the client came
// from. Clients find it by a name, and a name can have two addresses:
// localhost is 127.0.0.1 (IPv4, an A record) and ::1 (IPv6, AAAA). A
// client given [::1], or one that tries only the first address of
// localhost when that is ::1 (Node 17 to 19 did), must find the server
// there too. Go and newer Node try the other address after a refusal,
// at the cost of a round trip.
//
// As written, the server listens on IPv4 only, at the address of -addr:
// a SYN to [::1]:6969 is answered by the kernel with RST, connection
// refused.
//
// Task: listen on the port of -addr at the loopback addresses of both
// families, 127.0.0.1 and ::1, and serve the clients of each.
//
// Check it: go run ./lessons/practice check dual-stack
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

	// TODO: listen on IPv6 too. As written, only 127.0.0.1 listens.
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
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
