// Exercise pause (after lesson 08): when the program falls behind, make
// the sender wait, and lose nothing.
//
// The server below takes records, one a line, from each client and
// hands them to a worker that stores them, slowly (2 ms a record: think
// of a disk). Between the reader and the worker sits a queue of 16
// records. When the client has sent all it has, it closes its side, and
// the server answers with how many records it stored.
//
// As written, when the queue is full the reader drops the record, "so
// that reading never blocks". A fast client loses most of its records,
// and no one tells it.
//
// Task: lose no record, and keep the queue as it is. When the worker
// falls behind, the reader should stop reading until there is room:
// the bytes then wait in the kernel's receive buffer, and when that is
// full the kernel advertises a window of 0 and the client's kernel stops
// sending. TCP's flow control does the pausing for you; Node's
// socket.pause() works the same way.
//
// Check it: go run ./lessons/practice check pause
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
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

	records := bufio.NewScanner(conn)
	for records.Scan() {
		// TODO: lose no record. As written, a full queue drops it.
		select {
		case queue <- records.Text():
		default:
			// The queue is full: the record is dropped.
		}
	}
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
