// A wrong solution of exercise graceful-shutdown, kept so that a test
// proves that the check turns it down: its WaitGroup counts a request
// only once it has been read, so on SIGTERM it waits for the request
// being worked on and not for a connection accepted whose request has
// not come yet: that one is closed unanswered when the program exits.
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
	"sync"
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

	// The WaitGroup counts the requests being worked on.
	var inFlight sync.WaitGroup
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		go handle(conn, &inFlight)
	}
	inFlight.Wait()
	log.Print("every request answered: exiting")
}

// handle reads one request, a line, works on it for 300 ms, answers
// and closes. WRONG: the request counts as in flight only once read.
func handle(conn net.Conn, inFlight *sync.WaitGroup) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	inFlight.Add(1)
	defer inFlight.Done()
	time.Sleep(300 * time.Millisecond) // the work
	// NOTE: ignoring the error: the client may have gone.
	_, _ = fmt.Fprintf(conn, "done: %s", line)
}
