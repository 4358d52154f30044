// The reference solution of exercise graceful-shutdown (after lesson
// 09): on SIGTERM the server closes its listener, waits for every
// connection it accepted to be answered, and exits with status 0.
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

	// The WaitGroup counts the handlers still running: a connection
	// whose request has not come yet is one of them.
	var inFlight sync.WaitGroup
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		inFlight.Go(func() { handle(conn) })
	}
	inFlight.Wait()
	log.Print("every request answered: exiting")
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
