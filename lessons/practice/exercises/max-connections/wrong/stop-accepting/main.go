// A wrong solution of exercise max-connections, kept so that a test
// proves that the check turns it down: it limits the connections as
// golang.org/x/net/netutil.LimitListener does, by not calling Accept
// while 2 are open. The extra client's handshake still completes (the
// kernel does it), and its connection waits in the listener's queue,
// neither served nor closed.
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"strings"
)

// maxConnections is the limit, Node's server.maxConnections.
const maxConnections = 2

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "the address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	// WRONG: a slot is taken before Accept, so with 2 open the loop
	// stops accepting, and the extra connection waits unseen.
	slots := make(chan struct{}, maxConnections)
	for {
		slots <- struct{}{}
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer func() { <-slots }()
			serve(conn)
		}()
	}
}

// serve answers each line the client sends with the same line in
// capitals, until the client closes its side; then it closes.
func serve(conn net.Conn) {
	defer conn.Close()
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		if _, err := conn.Write([]byte(strings.ToUpper(lines.Text()) + "\n")); err != nil {
			return
		}
	}
}
