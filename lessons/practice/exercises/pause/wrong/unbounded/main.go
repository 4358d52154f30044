// A wrong solution of exercise pause, kept so that a test proves that
// the check turns it down: it loses no record, but it never stops
// reading. What the worker has not stored yet waits in goroutines, in the
// program's memory, as much as any client cares to send; the sender is
// never told to wait.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"sync"
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
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(conn)
	}
}

// serve reads the client's records into the queue until the client
// closes its side, then says how many the worker stored.
func serve(conn net.Conn) {
	defer conn.Close()
	queue := make(chan string, 16)
	stored := make(chan int)
	go worker(queue, stored)
	var waiting sync.WaitGroup

	records := bufio.NewScanner(conn)
	for records.Scan() {
		// WRONG: nothing is dropped, but nothing waits either: each
		// record the queue cannot take gets a goroutine of its own
		// that waits for room, so the reader reads all the client
		// sends, at once, into the program's memory.
		record := records.Text()
		select {
		case queue <- record:
		default:
			waiting.Add(1)
			go func() {
				defer waiting.Done()
				queue <- record
			}()
		}
	}
	waiting.Wait()
	close(queue)
	fmt.Fprintf(conn, "stored %d\n", <-stored)
}

// worker stores each record of the queue, slowly, and at the end says
// how many it stored.
func worker(queue <-chan string, stored chan<- int) {
	n := 0
	for range queue {
		time.Sleep(2 * time.Millisecond) // storing takes time
		n++
	}
	stored <- n
}
