package main

import (
	"fmt"
	"io"
	"net"
)

// serveUntraced is the reference: the seed's server in Go as simple as a
// user would write it, with no tracer. A goroutine per connection reads
// what comes (at most 64 KiB at a time, as Node's 'data' events and the
// traced server's -max-message) and answers each read with
// `You said "…"` in one write, as the seed's sock.write does; it closes
// when the client does. It runs until killed.
func serveUntraced(addr string, stdout io.Writer) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Server listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go echo(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, err := c.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
