// The reference solution of exercise accept-loop (after lessons 02 and
// 10): a server that serves many clients at once. Each connection gets a
// goroutine of its own, so the accept loop is back in Accept at once.
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

	// Each connection gets a goroutine of its own: the loop goes
	// back to Accept at once, whatever the client does.
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
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		if _, err := conn.Write([]byte(strings.ToUpper(lines.Text()) + "\n")); err != nil {
			return
		}
	}
}
