package main

import (
	"fmt"
	"io"
	"net"
)

// serveUntraced is the reference: the seed's server in Go, with no
// tracer, doing what the traced server (./server) does for each
// connection and nothing more. A goroutine per connection reads what
// comes and answers each read with `You said "…"` in one write, as the
// seed's sock.write does; it closes when the client does. Its buffers
// are the traced server's: 1 KiB to begin with, doubled each time a read
// fills one, up to 64 KiB (Node's 'data' events and the server's
// -max-message), the answer built around the bytes read. A first
// buffer of 64 KiB, as this reference had until 2026-12-06, cost it
// 41–44 µs a connection under 50 clients (33 µs of it allocating,
// zeroing and collecting the buffer, in a profile): 1.7–1.8× the CPU of
// the same echo with 1 KiB, and 1.35–1.38× its rate, which flattered the
// traced server's ratios (docs/performance.md). It runs until killed.
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
	const prefix, first, most = `You said "`, 1 << 10, 64 << 10
	size := first
	buf := make([]byte, len(prefix)+size+1)
	copy(buf, prefix)
	for {
		n, err := c.Read(buf[len(prefix) : len(prefix)+size])
		if n > 0 {
			if _, err := c.Write(append(buf[:len(prefix)+n], '"')); err != nil {
				return
			}
		}
		if n == size && size < most {
			size *= 2
			buf = make([]byte, len(prefix)+size+1)
			copy(buf, prefix)
		}
		if err != nil {
			return
		}
	}
}
