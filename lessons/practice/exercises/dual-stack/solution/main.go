// The reference solution of exercise dual-stack (after lesson 16): two
// listeners, 127.0.0.1 and ::1, at the same port, each with its accept
// loop.
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

	// One listener for each loopback address, each with its own
	// accept loop. (net.Listen("tcp", ":"+port) takes one socket for
	// both families, [::]:port, on every interface, not only loopback:
	// it serves both families too, and the other networks as well.)
	ln4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		log.Fatal(err)
	}
	ln6, err := net.Listen("tcp6", net.JoinHostPort("::1", port))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s and %s", ln4.Addr(), ln6.Addr())
	go acceptLoop(ln4)
	acceptLoop(ln6)
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
