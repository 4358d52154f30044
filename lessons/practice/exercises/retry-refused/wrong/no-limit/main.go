// A wrong solution of exercise retry-refused, kept so that a test proves
// that the check turns it down: its waits double as they should, but it
// never gives up: with nobody listening, it tries for ever.
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
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		conn, err := net.Dial("tcp", addr)
		// WRONG: no last attempt: with nobody ever listening, the
		// client waits and tries for ever.
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			return conn, err
		}
		log.Printf("attempt %d: %v; trying again in %v", attempt, err, wait)
		time.Sleep(wait)
		wait *= 2
	}
}
