// A wrong solution of exercise framing, kept so that a test proves that
// the check turns it down: it splits each Read at its "\n"s, so three
// lines in one Read get three answers, but it keeps nothing between
// Reads: a line that comes in two Reads is answered as two lines.
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
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		// WRONG: each Read is split on its own; the part after its
		// last "\n" is taken for a whole line, not kept for the
		// next Read to finish.
		for _, line := range strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n") {
			if _, err := fmt.Fprintf(conn, "%d\n", len(line)); err != nil {
				return
			}
		}
	}
}
