// The reference solution of exercise retry-refused (after lesson 09): a
// refused connect is tried again after 100 ms, then 200, 400, 800: each
// wait twice the last, 6 attempts in all. Any other error is returned
// at once.
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
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		conn, err := net.Dial("tcp", addr)
		// Only a refusal is worth waiting for: nobody listens yet.
		// Any other error, or the last attempt's, is the answer.
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || attempt == attempts {
			return conn, err
		}
		log.Printf("attempt %d: %v; trying again in %v", attempt, err, wait)
		time.Sleep(wait)
		wait *= 2
	}
}
