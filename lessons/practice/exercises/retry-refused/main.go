// Exercise retry-refused (after lesson 09): a client that retries a
// refused connection, waiting longer each time.
//
// The client below connects to a server, sends a line and prints the
// answer. Started before the server listens (a service that comes up
// with its database, a deploy that restarts both), its connect is
// refused: the server's kernel answers the SYN with RST, and Dial
// returns "connection refused" at once. As written, it gives up there.
//
// Task: in dial, when a connect is refused, wait and try again, waiting
// longer each time: 100 ms, then twice as long as the wait before. A
// growing wait (backoff) keeps a crowd of clients from knocking at the
// same fast rate at a server that is down. After the 6th attempt, give
// up and return its error. Retry only a refusal (errors.Is(err,
// syscall.ECONNREFUSED)): another error, a bad address say, will not
// go away by waiting.
//
// Check it: go run ./lessons/practice check retry-refused
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
	// TODO: when the connect is refused, wait and try again, each
	// wait longer than the last, up to 6 attempts.
	return net.Dial("tcp", addr)
}
