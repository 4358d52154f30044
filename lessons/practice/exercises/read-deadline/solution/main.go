// The reference solution of exercise read-deadline (after lesson 15): a
// server that drops a client silent for 1 s. Before each read it sets
// the deadline idleTimeout from now, so the time counts from the
// client's last line, not from its connect.
package main

import (
	"bufio"
	"errors"
	"flag"
	"log"
	"net"
	"os"
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
// capitals, until the client closes its side or stays silent for
// idleTimeout; then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		// Renewed before each read: a client that talks pushes it
		// back each time.
		// NOTE: ignoring the error; it fails only on a closed conn,
		// and then the read fails too.
		_ = conn.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := r.ReadString('\n')
		if errors.Is(err, os.ErrDeadlineExceeded) {
			log.Printf("%s silent for %s: dropped", conn.RemoteAddr(), idleTimeout)
			return
		}
		if err != nil {
			return // io.EOF: the client closed its side
		}
		if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
			return
		}
	}
}
