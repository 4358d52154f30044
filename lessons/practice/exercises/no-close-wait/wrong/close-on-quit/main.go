// A wrong solution of exercise no-close-wait, kept so that a test proves
// that the check turns it down: it closes when the client says "quit",
// but a client that just closes its side never says it, and its socket
// stays in CLOSE_WAIT.
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
// until the client says "quit".
func serve(conn net.Conn) {
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		// WRONG: only "quit" closes; a client that closes without a
		// word leaves the socket in CLOSE_WAIT.
		if strings.TrimSpace(line) == "quit" {
			conn.Close()
			return
		}
		if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
			return
		}
	}
}
