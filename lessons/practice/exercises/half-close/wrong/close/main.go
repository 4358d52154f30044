// A wrong solution of exercise half-close, kept so that a test proves
// that the check turns it down: it calls Close after the request, not
// CloseWrite. The FIN goes out and the server answers, but the program
// has given up its socket: its reads fail at once, and its kernel
// answers the server's bytes with RST.
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

	// WRONG: Close sends FIN too, but closes both halves: nothing
	// more can be read.
	conn.Close()

	// Read until the server's FIN (io.Copy stops at EOF), counting
	// the bytes and hashing them.
	h := sha256.New()
	n, err := io.Copy(h, conn)
	if err != nil {
		log.Fatalf("reading the answer: %v (after %d bytes)", err, n)
	}
	fmt.Printf("answer: %d bytes, sha256 %x\n", n, h.Sum(nil))
}
