// Exercise time-wait-client (after lesson 17): closing so that
// TIME_WAIT lands on the client.
//
// The server below reads one request line, answers it in capitals and
// closes: its FIN goes first, so its end of every connection waits in
// TIME_WAIT for 60 s, under the server's own address and port. A busy
// server collects thousands of them. Whichever side closes first gets
// TIME_WAIT, and in this protocol the client knows when it is done: it
// closes once it has read the answer.
//
// Task: after answering, let the client close first: read until io.EOF
// (the client's FIN), then close. Mind a client that never closes: give
// that wait a read deadline, closeWait after the answer, so that it
// cannot hold a goroutine and a socket for ever.
//
// Check it: go run ./lessons/practice check time-wait-client
package main

import (
	"bufio"
	"flag"
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

// serve reads one request line, answers it in capitals, and closes.
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
	// TODO: the deferred Close runs now, right after the answer, and
	// the server's FIN goes first. Wait for the client's FIN (a read
	// that returns io.EOF) before returning, for closeWait at most.
}
