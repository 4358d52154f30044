// Exercise no-close-wait (after lesson 05): a server that never leaves
// a socket in CLOSE_WAIT.
//
// The server below answers each line a client sends with the line in
// capitals. When a client closes, its FIN reaches the server's kernel,
// which acknowledges it, and the server's Read returns io.EOF. The
// server's socket is now in CLOSE_WAIT: the kernel waits for the program
// to say it has finished too. As written the program never does, so
// every client that leaves leaves a socket behind, a file descriptor
// lost, and the client never sees the server's FIN.
//
// Task: make serve close the connection when it is done with it, at
// io.EOF and on any other error, so that the server's FIN goes out and
// no socket stays in CLOSE_WAIT.
//
// Check it: go run ./lessons/practice check no-close-wait
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"strings"
)

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

// serve answers each line the client sends with the line in capitals,
// until the client closes its side.
func serve(conn net.Conn) {
	// TODO: close conn when serve is done with it. Nothing does yet:
	// when the client has closed, ReadString returns io.EOF, serve
	// returns, and the socket stays in CLOSE_WAIT for as long as the
	// program runs.
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // io.EOF: the client closed its side
		}
		if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
			return
		}
	}
}
