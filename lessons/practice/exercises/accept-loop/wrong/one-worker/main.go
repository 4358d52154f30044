// A wrong solution of exercise accept-loop, kept so that a test proves
// that the check turns it down: it accepts every connection at once, but
// one worker serves them in turn, so a silent client holds up the rest.
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

	// WRONG: every connection is accepted at once, but one worker
	// serves them in turn: a silent client still holds up the rest.
	queue := make(chan net.Conn, 100)
	go func() {
		for conn := range queue {
			serve(conn)
		}
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		queue <- conn
	}
}

// serve answers each line the client sends with the same line in
// capitals, until the client closes its side; then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		if _, err := conn.Write([]byte(strings.ToUpper(lines.Text()) + "\n")); err != nil {
			return
		}
	}
}
