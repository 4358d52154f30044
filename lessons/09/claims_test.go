package main

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"tcptour/tracer/kernel"
)

// The recap: after an RST, the peer's next Read or Write fails with
// ECONNRESET; after that Read returns io.EOF and Write fails with EPIPE.
// Checked with each call first.
func TestAfterReset(t *testing.T) {
	for _, first := range []string{"read", "write"} {
		t.Run(first+" first", func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			s.(*net.TCPConn).SetLinger(0)
			s.Close() // RST
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := kernel.WaitGone(ctx, tuple(c)); err != nil { // the RST has come
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			read := func() error { _, err := c.Read(buf); return err }
			write := func() error { _, err := c.Write([]byte("x")); return err }
			calls := []func() error{read, write}
			if first == "write" {
				calls = []func() error{write, read}
			}
			if err := calls[0](); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the first %s after the RST: %v, want ECONNRESET", first, err)
			}
			if err := read(); !errors.Is(err, io.EOF) {
				t.Errorf("a Read after that: %v, want io.EOF", err)
			}
			if err := write(); !errors.Is(err, syscall.EPIPE) {
				t.Errorf("a Write after that: %v, want EPIPE", err)
			}
		})
	}
}
