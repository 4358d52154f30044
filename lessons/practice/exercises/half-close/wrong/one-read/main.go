// A wrong solution of exercise half-close, kept so that a test proves
// that the check turns it down: it half-closes, but reads the answer
// with one Read, which returns what has arrived so far: a part of it.
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

	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		log.Fatal(err)
	}

	// WRONG: one Read returns the bytes that have arrived, not the
	// whole answer.
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil && err != io.EOF {
		log.Fatalf("reading the answer: %v (after %d bytes)", err, n)
	}
	h := sha256.New()
	h.Write(buf[:n])
	fmt.Printf("answer: %d bytes, sha256 %x\n", n, h.Sum(nil))
}
