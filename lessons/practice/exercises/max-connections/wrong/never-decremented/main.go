// A wrong solution of exercise max-connections, kept so that a test
// proves that the check turns it down: it counts each connection it
// serves but never takes it off the count when it ends, so once 2
// clients have come, every later one is closed at once, even with
// nobody left.
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
	var open atomic.Int32
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		if open.Load() >= maxConnections {
			// NOTE: ignoring the error; the client may have gone.
			_ = conn.Close()
			continue
		}
		// WRONG: counted in, never counted out.
		open.Add(1)
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
