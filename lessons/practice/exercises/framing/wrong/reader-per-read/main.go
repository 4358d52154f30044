// A wrong solution of exercise framing, kept so that a test proves that
// the check turns it down: it reads lines with a bufio.Reader, but makes
// a new one for each line. The first ReadString reads all that has
// arrived into its buffer and returns the first line; the rest stays in
// that buffer and is lost with it.
package main

import (
	"bufio"
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
	for {
		// WRONG: a new Reader for each line drops what the last one
		// had read past its line.
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(conn, "%d\n", len(strings.TrimSuffix(line, "\n"))); err != nil {
			return
		}
	}
}
