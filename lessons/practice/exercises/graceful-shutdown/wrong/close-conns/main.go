// A wrong solution of exercise graceful-shutdown, kept so that a test
// proves that the check turns it down: on SIGTERM it closes the listener
// and every connection at once (as http.Server's Close, not Shutdown),
// then waits and exits 0: the request in flight gets FIN, not its answer.
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

	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		ln.Close()
		// WRONG: closing every connection at once ends the requests
		// in flight before their answers.
		mu.Lock()
		for conn := range conns {
			conn.Close()
		}
		mu.Unlock()
	}()
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		mu.Lock()
		conns[conn] = true
		mu.Unlock()
		wg.Go(func() { handle(conn) })
	}
	wg.Wait()
	log.Print("stopped")
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
