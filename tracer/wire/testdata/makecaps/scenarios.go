//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"tcptour/tracer/link"
)

var scenarios = []scenario{
	{
		// reuse: 12 HTTP/1.0-like requests, one connection each, from a
		// client whose ephemeral ports are only 40000 and 40001, so
		// that each five-tuple carries several connections one after
		// the other. The server answers and closes first (its end
		// waits in TIME_WAIT, which takes a new SYN with a higher
		// sequence number); the client reads to the end and closes.
		// Both ends captured.
		name: "reuse", file: "reuse.pcapng", both: true,
		cfg:    link.Config{DelayToServer: time.Millisecond, DelayToClient: time.Millisecond},
		client: map[string]string{"net/ipv4/ip_local_port_range": "40000 40001"},
		run:    func(r *runner) (int, error) { return r.requests(12) },
	},
}

// listen listens on the server's address, in its namespace.
func (r *runner) listen() (net.Listener, error) {
	var ln net.Listener
	err := r.l.InServer(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(link.ServerAddr, serverPort).String())
		return err
	})
	return ln, err
}

// dial connects from the client's namespace.
func (r *runner) dial(d *net.Dialer) (*net.TCPConn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	var c net.Conn
	err := r.l.InClient(func() (err error) {
		c, err = d.Dial("tcp4", netip.AddrPortFrom(link.ServerAddr, serverPort).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// requests makes n requests, each on a connection of its own, one after
// the other: each waits until the one before has ended at the client.
func (r *runner) requests(n int) (int, error) {
	ln, err := r.listen()
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			buf := make([]byte, 100)
			_, err = c.Read(buf)
			if err == nil {
				_, err = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhi"))
			}
			if err = errors.Join(err, c.Close()); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	for i := range n {
		c, err := r.dial(nil)
		if err != nil {
			return 0, err
		}
		if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
			return 0, err
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			return 0, err
		}
		if err := c.Close(); err != nil {
			return 0, err
		}
		if err := r.caps[0].waitEnded(i+1, r.deadline); err != nil {
			return 0, err
		}
	}
	select {
	case err := <-served:
		return n, err
	case <-time.After(time.Until(r.deadline)):
		return 0, fmt.Errorf("the server: %w", errDeadline)
	}
}
