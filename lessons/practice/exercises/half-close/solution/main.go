// The reference solution of exercise half-close (after lesson 06): a
// client that half-closes and reads the whole answer. CloseWrite sends
// the client's FIN (shutdown(SHUT_WR)): the server reads EOF and
// answers, and the socket still reads until the server's own FIN.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the server's address")
	flag.Parse()
	log.SetFlags(0)
	conn, err := net.Dial("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("send me everything\n")); err != nil {
		log.Fatal(err)
	}

	// CloseWrite sends FIN: the server's read gets EOF, so it knows
	// the request is whole. Reading goes on: only the sending half
	// is closed.
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		log.Fatal(err)
	}

	// Read until the server's FIN (io.Copy stops at EOF), counting
	// the bytes and hashing them.
	h := sha256.New()
	n, err := io.Copy(h, conn)
	if err != nil {
		log.Fatalf("reading the answer: %v (after %d bytes)", err, n)
	}
	fmt.Printf("answer: %d bytes, sha256 %x\n", n, h.Sum(nil))
}
