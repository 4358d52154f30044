// A wrong solution of exercise retry-refused, kept so that a test proves
// that the check turns it down: the wait grows by 100 ms each time
// (100, 200, 300, 400 ms), not twice as long: a fixed step, which a
// crowd of clients of a server that is down keeps knocking at nearly
// the same rate. (A reviewer's program.)
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
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || attempt == attempts {
			return conn, err
		}
		log.Printf("attempt %d: %v; trying again in %v", attempt, err, wait)
		time.Sleep(wait)
		// WRONG: 100 ms more each time, not twice as long.
		wait += 100 * time.Millisecond
	}
}
