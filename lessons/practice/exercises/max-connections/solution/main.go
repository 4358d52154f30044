// The reference solution of exercise max-connections (after lesson 07):
// Node's maxConnections in Go. The accept loop counts the connections
// open: over the limit, it closes the new one at once (the client sees
// the server's FIN, no data); under it, a goroutine serves it and takes
// it off the count when it ends.
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"strings"
	"sync/atomic"
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
	// open is read by the loop and lowered by the goroutines.
	var open atomic.Int32
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		// Only this loop raises the count, so checking and then
		// adding cannot let a third one in.
		if open.Load() >= maxConnections {
			// As Node does: accepted, then closed at once.
			// NOTE: ignoring the error; the client may have gone.
			_ = conn.Close()
			continue
		}
		open.Add(1)
		go func() {
			defer open.Add(-1)
			serve(conn)
		}()
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
