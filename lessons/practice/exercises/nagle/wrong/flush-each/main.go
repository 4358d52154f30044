// A wrong solution of exercise nagle, kept so that a test proves that
// the check turns it down: it writes through a bufio.Writer but flushes
// after the length and after the text: two small writes, as before.
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
	// WRONG: a bufio.Writer gathers the bytes, but flushing after
	// the length and again after the text makes two writes all the
	// same.
	w := bufio.NewWriter(conn)
	var length [4]byte
	binary.BigEndian.PutUint32(length[:], uint32(len(msg)))
	w.Write(length[:])
	if err := w.Flush(); err != nil {
		return err
	}
	w.WriteString(msg)
	err := w.Flush()
	return err
}
