// The reference solution of exercise nagle (after lesson 14): each
// message goes in one write, its length and its text together, so each
// exchange takes one round trip, Nagle or not.
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
	// One write: the length and the text in one buffer leave in one
	// segment, and Nagle's algorithm has nothing to hold back.
	// (Another way: keep two writes and turn Nagle off with
	// SetNoDelay(true), Go's default.)
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	buf = append(buf, msg...)
	_, err := conn.Write(buf)
	return err
}
