// A wrong solution of exercise graceful-shutdown, kept so that a test
// proves that the check turns it down: on SIGTERM it exits at once,
// with status 0: the request in flight gets no answer.
package main

import (
	"bufio"
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

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		// WRONG: exiting at once drops the requests in flight,
		// as the default action did, only with status 0.
		log.Print("stopping")
		os.Exit(0)
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handle(conn)
	}
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
