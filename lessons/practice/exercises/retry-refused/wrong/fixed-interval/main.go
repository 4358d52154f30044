// A wrong solution of exercise retry-refused, kept so that a test proves
// that the check turns it down: it retries a refused connect every
// 200 ms, the same wait each time.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"syscall"
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
	for attempt := 1; ; attempt++ {
		conn, err := net.Dial("tcp", addr)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || attempt == attempts {
			return conn, err
		}
		// WRONG: the same wait every time, however long the server
		// has been down.
		log.Printf("attempt %d: %v; trying again in 200ms", attempt, err)
		time.Sleep(200 * time.Millisecond)
	}
}
