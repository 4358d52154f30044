// The reference solution of exercise no-close-wait (after lesson 05): a
// server that never leaves a socket in CLOSE_WAIT. serve closes the
// connection with defer, so it closes however serve returns: at io.EOF
// or on an error.
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
// until the client closes its side; then it closes its own.
func serve(conn net.Conn) {
	// Close sends the server's FIN and frees the socket: the kernel
	// has held it in CLOSE_WAIT since the client's FIN came.
	defer conn.Close()
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
