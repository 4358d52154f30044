// Exercise half-close (after lesson 06): a client that half-closes and
// reads the whole answer.
//
// The client below sends a request to a server that reads the request
// until end of file, and only then answers: with about 200 KB, many
// segments, and then it closes. The client prints how many bytes it got
// and their SHA-256, so that the check can tell a whole answer from a
// part of one.
//
// As written, the client sends its request and starts to read, but never
// says that the request is over: the server waits for the rest, the
// client waits for the answer, and nothing happens.
//
// Task: after the request, tell the server that nothing more will come,
// without giving up the answer: the client's FIN must go out before the
// answer, and every byte of the answer must still be read. (Node's
// `socket.end()` does this; in Go it has a name of its own.)
//
// Check it: go run ./lessons/practice check half-close
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

	// TODO: tell the server the request is over, and keep reading.

	// Read until the server's FIN (io.Copy stops at EOF), counting
	// the bytes and hashing them.
	h := sha256.New()
	n, err := io.Copy(h, conn)
	if err != nil {
		log.Fatalf("reading the answer: %v (after %d bytes)", err, n)
	}
	fmt.Printf("answer: %d bytes, sha256 %x\n", n, h.Sum(nil))
}
