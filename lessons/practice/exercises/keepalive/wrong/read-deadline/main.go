// A wrong solution of exercise keepalive, kept so that a test proves
// that the check turns it down: it sets a read deadline of 5 s. It ends
// in time, but without a probe: it would drop a live server that takes
// longer than 5 s to answer, and it learns nothing of the peer.
package main

import (
	"bufio"
	"flag"
	"fmt"
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
	if _, err := conn.Write([]byte("what time is it?\n")); err != nil {
		log.Fatal(err)
	}
	// WRONG: a deadline gives up after 5 s of silence, whether the
	// server is dead or only slow: nothing asks it.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		log.Fatalf("lost the server: %v", err)
	}
	fmt.Print(answer)
}
