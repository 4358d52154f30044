// Exercise framing (after lesson 04): three messages in one segment
// give three answers.
//
// The server below speaks a protocol of lines: for each line a client
// sends, it answers with the line's length in bytes, newline left out
// ("hello\n" gets "5\n"). As written it takes each Read for one line.
// TCP carries a stream, not messages: a client that sends three lines in
// one Write may well have them arrive in one segment and come out of one
// Read ("one\ntwo\nthree\n" gets "13\n", one answer for three lines), and
// a line written in two parts may come out of two Reads.
//
// Task: answer each line once, wherever the Reads happen to cut the
// stream: a line ends at its "\n", not at the end of a Read.
//
// Check it: go run ./lessons/practice check framing
package main

import (
	"flag"
	"fmt"
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

// serve answers each line the client sends with its length, until the
// client closes its side; then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		// TODO: a Read returns whatever bytes have arrived: part of
		// a line, one line, or several. Answer each whole line.
		n, err := conn.Read(buf)
		if err != nil {
			return // io.EOF: the client closed its side
		}
		line := strings.TrimSuffix(string(buf[:n]), "\n")
		if _, err := fmt.Fprintf(conn, "%d\n", len(line)); err != nil {
			return
		}
	}
}
