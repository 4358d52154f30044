// A wrong solution of exercise time-wait-client, kept so that a test
// proves that the check turns it down: instead of waiting for the
// client's FIN, it pauses for a moment before closing, to give the
// client time to close first. A client that closes within the pause
// wins; one that takes longer gets the server's FIN first, and the
// server keeps TIME_WAIT.
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

// serve reads one request line, answers it in capitals, pauses, and
// closes.
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
	// WRONG: a pause guesses how long the client takes to close;
	// only a read that returns io.EOF knows.
	time.Sleep(200 * time.Millisecond)
}
