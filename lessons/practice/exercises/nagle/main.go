// Exercise nagle (after lesson 14): a request–response that takes one
// round trip a message on a 20 ms link, despite Nagle's algorithm.
//
// The client below sends five messages to an echo server, each as a
// 4-byte length and then the text, and reads each echo before the next.
// It talks as a C program or Node does by default: with Nagle's
// algorithm on (Go turns it off; SetNoDelay(false) turns it back on).
// The round trip is 20 ms, so five exchanges could take 100 ms; as
// written they take several times that: each message's text waits in
// the client's kernel for the ACK of its length, which the server's
// kernel may hold 40 ms more (delayed ACK), as lesson 14 showed.
//
// Task: make each exchange take one round trip: the text must leave
// with its length, not after the length's ACK. Change send (or the
// socket): either way is right.
//
// Check it: go run ./lessons/practice check nagle
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"time"
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
	// Nagle's algorithm on, as in a C program or Node by default.
	if err := conn.(*net.TCPConn).SetNoDelay(false); err != nil {
		log.Fatal(err)
	}
	echoes := bufio.NewReader(conn)
	start := time.Now()
	for i := range 5 {
		msg := fmt.Sprintf("message %d", i+1)
		if err := send(conn, msg); err != nil {
			log.Fatal(err)
		}
		echo := make([]byte, len(msg))
		if _, err := io.ReadFull(echoes, echo); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("5 exchanges in %v\n", time.Since(start).Round(time.Millisecond))
}

// send writes msg as a 4-byte length, big-endian, and then its bytes.
func send(conn net.Conn, msg string) error {
	// TODO: the text must leave with its length. As written, these
	// are two small writes, and Nagle's algorithm holds the second
	// until the first is acknowledged.
	var length [4]byte
	binary.BigEndian.PutUint32(length[:], uint32(len(msg)))
	if _, err := conn.Write(length[:]); err != nil {
		return err
	}
	_, err := conn.Write([]byte(msg))
	return err
}
