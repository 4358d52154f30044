// The reference solution of exercise framing (after lesson 04): three
// messages in one segment give three answers. A bufio.Scanner reads the
// stream and hands out one line at a time, keeping what follows the
// last "\n" until the rest of its line arrives.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
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
	// The Scanner calls Read as often as it needs: a Read with three
	// lines gives three Scans, a line in two Reads gives one.
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		if _, err := fmt.Fprintf(conn, "%d\n", len(lines.Text())); err != nil {
			return
		}
	}
}
