// A wrong solution of exercise no-close-wait, kept so that a test proves
// that the check turns it down: it closes the connection when a Read
// fails, but takes io.EOF for the normal end and returns without
// closing, so every client that closes leaves a socket in CLOSE_WAIT.
package main

import (
	"bufio"
	"flag"
	"io"
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
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		// WRONG: io.EOF returns without Close; only other errors
		// close.
		if err == io.EOF {
			return
		}
		if err != nil {
			conn.Close()
			return
		}
		if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
			conn.Close()
			return
		}
	}
}
