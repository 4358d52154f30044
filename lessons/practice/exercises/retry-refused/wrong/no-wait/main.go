// A wrong solution of exercise retry-refused, kept so that a test proves
// that the check turns it down: it retries a refused connect 6 times
// without waiting, all over before a server has a chance to start.
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
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	conn, err := dial(*addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello\n")); err != nil {
		log.Fatal(err)
	}
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(answer)
}

// dial connects to addr.
func dial(addr string) (net.Conn, error) {
	// WRONG: tries again at once: six SYNs within a millisecond,
	// all refused by a server that has not started yet.
	var err error
	for range 6 {
		var conn net.Conn
		if conn, err = net.Dial("tcp", addr); err == nil {
			return conn, nil
		}
	}
	return nil, err
}
