// A wrong solution of exercise time-wait-client, kept so that a test
// proves that the check turns it down: it gets rid of TIME_WAIT with
// SetLinger(0), which makes Close send RST instead of FIN. No side keeps
// TIME_WAIT, and nothing protects a later connection with the same ports
// from this one's late segments; the client learns of the end as an
// error, "connection reset by peer", not as io.EOF.
package main

import (
	"bufio"
	"flag"
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

// serve reads one request line, answers it in capitals, and resets the
// connection.
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
	// WRONG: with linger 0, the deferred Close sends RST, not FIN.
	_ = conn.(*net.TCPConn).SetLinger(0)
}
