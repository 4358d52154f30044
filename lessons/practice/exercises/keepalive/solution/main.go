// The reference solution of exercise keepalive (after lesson 15): the
// client's kernel probes an idle connection after 1 s, then every
// second, and gives it up after 3 unanswered probes: a dead server is
// noticed in about 4 s.
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

	// KeepAliveConfig sets the socket's SO_KEEPALIVE, TCP_KEEPIDLE,
	// TCP_KEEPINTVL and TCP_KEEPCNT: after 1 s of silence the kernel
	// sends a probe (an ACK for a byte already acknowledged, which
	// a live peer must answer), one a second; after 3 unanswered it
	// gives the connection up, and the read fails.
	d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable:   true,
		Idle:     time.Second,
		Interval: time.Second,
		Count:    3,
	}}
	conn, err := d.Dial("tcp", *addr)
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
