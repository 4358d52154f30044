package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A run in which every connection fails is an error, so that the
// command exits 1: its figures measure nothing. One that reaches a seed
// server is not.
func TestEveryConnectionFailed(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var out bytes.Buffer
	err = run(context.Background(), config{addr: addr, clients: 1, dur: 50 * time.Millisecond, msg: "hi", timeout: time.Second}, &out)
	if err == nil || !strings.Contains(err.Error(), "every connection failed") {
		t.Errorf("against a closed port: %v, want every connection failed\n%s", err, out.String())
	}

	// A seed server: "You said" and the message.
	ln, err = net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				io.WriteString(c, `You said "`+string(buf[:n])+`"`)
				io.Copy(io.Discard, c)
			}()
		}
	}()
	out.Reset()
	err = run(context.Background(), config{addr: ln.Addr().String(), clients: 1, dur: 50 * time.Millisecond, msg: "hi", timeout: time.Second}, &out)
	if err != nil {
		t.Errorf("against a seed server: %v\n%s", err, out.String())
	}
}
