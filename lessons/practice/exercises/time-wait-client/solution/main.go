// The reference solution of exercise time-wait-client (after lesson 17):
// closing so that TIME_WAIT lands on the client. After its answer the
// server reads until the client's FIN (io.EOF) and only then closes, so
// the client's FIN is the first, and the client's end keeps TIME_WAIT.
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"
	"strings"
	"time"
)

// closeWait is how long the server waits for a client to close after
// its answer; then it closes first, and keeps that TIME_WAIT itself.
const closeWait = 2 * time.Second

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

// serve reads one request line, answers it in capitals, waits for the
// client to close, and closes.
func serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte(strings.ToUpper(line))); err != nil {
		return
	}
	// The client closes once it has the answer: read until its FIN
	// (io.Copy returns at io.EOF), or until the deadline for a client
	// that never does.
	// NOTE: ignoring the errors: either way, the deferred Close follows.
	_ = conn.SetReadDeadline(time.Now().Add(closeWait))
	_, _ = io.Copy(io.Discard, r)
}
