// Exercise keepalive (after lesson 15): a client that notices a dead
// server within seconds.
//
// The client below sends a request, a line, and waits for the answer.
// If the server's machine loses power or its cable is cut, nothing comes
// back, not even a FIN or an RST: the read just waits. Go turns TCP
// keepalive on, but with its own timing (the first probe after 15 s of
// silence, then every 15 s, 9 in all: Go's defaults; Linux's own are
// 2 hours, 75 s and 9), so the client learns of it after minutes.
//
// Task: have the client's kernel notice a dead server within about
// 5 s, with keepalive probes: after 1 s of silence a probe, then one a
// second, and the connection given up after 3 unanswered. The read then
// fails, and the client says so and exits. Do not give up on silence
// alone: a server that is alive but slow to answer answers the probes,
// and must keep its client.
//
// Check it: go run ./lessons/practice check keepalive
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the server's address")
	flag.Parse()
	log.SetFlags(0)

	// TODO: dial with keepalive probes after 1 s of silence, 1 s
	// apart, 3 of them. As written, Go's defaults apply: 15 s, 15 s
	// and 9.
	conn, err := net.Dial("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("what time is it?\n")); err != nil {
		log.Fatal(err)
	}
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		log.Fatalf("lost the server: %v", err)
	}
	fmt.Print(answer)
}
