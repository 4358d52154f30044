// A wrong solution of exercise time-wait-client, kept so that a test
// proves that the check turns it down: it waits for the client's FIN as
// asked, so the client closes first, but with no read deadline. A client
// that never closes holds the goroutine and the socket for ever, and the
// server never sends its FIN.
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"
	"strings"
	"time"
)

// closeWait is how long the server waits for a client to close after
// its answer; then it closes first, and keeps that TIME_WAIT itself.
const closeWait = 2 * time.Second

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

// serve reads one request line, answers it in capitals, waits for the
// client to close, and closes.
func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
		return
	}
	// WRONG: no deadline on this wait: it ends only when the client
	// closes.
	// NOTE: ignoring the error: either way, the deferred Close follows.
	_, _ = io.Copy(io.Discard, r)
}
