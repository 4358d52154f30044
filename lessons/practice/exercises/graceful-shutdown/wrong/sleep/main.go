// A wrong solution of exercise graceful-shutdown, kept so that a test
// proves that the check turns it down: on SIGTERM it closes the
// listener and then sleeps 1 s instead of waiting for its handlers, so
// a connection it accepted whose request comes later than that is
// closed unanswered when it exits. (A reviewer's program.)
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())

	// signal.Notify replaces SIGTERM's default action (the end of
	// the program) with a value on a channel. When it comes, closing
	// the listener stops new connections (the kernel refuses them)
	// and makes Accept return net.ErrClosed.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		log.Printf("%v: no new connections; finishing the requests in flight", <-stop)
		ln.Close()
	}()

	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		go handle(conn)
	}
	// WRONG: a guess at how long the handlers take, not a wait for
	// them: a connection accepted whose request comes later than
	// that is closed unanswered when main returns.
	time.Sleep(time.Second)
	log.Print("every request answered, we hope: exiting")
}

// handle reads one request, a line, works on it for 300 ms, answers
// and closes.
func handle(conn net.Conn) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	time.Sleep(300 * time.Millisecond) // the work
	// NOTE: ignoring the error: the client may have gone.
	_, _ = fmt.Fprintf(conn, "done: %s", line)
}
