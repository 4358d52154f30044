// A wrong solution of exercise time-wait-client, kept so that a test
// proves that the check turns it down: it waits for the client's FIN as
// asked, but first calls CloseWrite to say it has finished sending. That
// sends the server's FIN at once, before the client's: the server still
// closes first, and keeps TIME_WAIT.
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
	// WRONG: CloseWrite sends FIN now; the wait that follows comes
	// too late to let the client close first.
	_ = conn.(*net.TCPConn).CloseWrite()
	_ = conn.SetReadDeadline(time.Now().Add(closeWait))
	_, _ = io.Copy(io.Discard, r)
}
