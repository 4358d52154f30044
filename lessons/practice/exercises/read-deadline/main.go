// Exercise read-deadline (after lesson 15): a server that drops a
// client silent for 1 s, and keeps one that talks.
//
// The server below answers each line a client sends with the line in
// capitals. A client that connects and then says nothing costs it a
// goroutine and a socket for as long as the client likes: lesson 15
// shows that an idle connection sends nothing, so nothing tells the
// server whether the client is still there. Read waits for ever.
//
// Task: drop a client that has said nothing for idleTimeout: close the
// connection when a Read has waited that long. A client that sends a
// line every 300 ms must be kept, however long it talks.
// conn.SetReadDeadline makes a Read that waits past a given time fail
// with os.ErrDeadlineExceeded.
//
// Check it: go run ./lessons/practice check read-deadline
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
// capitals, until the client closes its side; then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		// TODO: a client silent for idleTimeout should be dropped;
		// as written, this read waits for ever.
		line, err := r.ReadString('\n')
		if err != nil {
			return // io.EOF: the client closed its side
		}
		if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
			return
		}
	}
}
