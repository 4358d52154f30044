// The reference solution of exercise pause (after lesson 08): when the
// worker falls behind, the reader waits for room in the queue, and TCP's
// flow control makes the client wait too. No record is lost.
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
		// A full queue blocks the send, and so the reading: the
		// kernel holds the next bytes, and its window tells the
		// client's kernel how much more it will take.
		queue <- records.Text()
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
