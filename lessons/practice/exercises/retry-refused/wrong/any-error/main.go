// A wrong solution of exercise retry-refused, kept so that a test proves
// that the check turns it down: it waits and tries again after any
// error, not only a refusal; an address with no route ("network is
// unreachable") is tried 6 times over 3 s, though waiting cannot fix
// it. (After a reviewer's program.)
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
	const attempts = 6
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		conn, err := net.Dial("tcp", addr)
		// WRONG: every error is tried again, not only a refusal.
		if err == nil || attempt == attempts {
			return conn, err
		}
		log.Printf("attempt %d: %v; trying again in %v", attempt, err, wait)
		time.Sleep(wait)
		wait *= 2
	}
}
