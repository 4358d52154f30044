package kernel_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

func tuple(c net.Conn) tracer.FiveTuple {
	return tracer.FiveTuple{
		Proto:  "tcp",
		Local:  c.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
	}
}

// The client closes first: the server's socket waits in CLOSE_WAIT until
// its program closes too, and the client's is left in TIME_WAIT.
func ExampleStateOf() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	server, err := ln.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	c, s := tuple(client), tuple(server)

	client.Close()
	io.ReadAll(server) // until the client's FIN: EOF
	state, _ := kernel.StateOf(s)
	fmt.Println("server:", state)

	server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := kernel.WaitState(ctx, c, kernel.TimeWait); err != nil {
		fmt.Println(err)
	}
	state, _ = kernel.StateOf(c)
	fmt.Println("client:", state)
	// Output:
	// server: CLOSE_WAIT
	// client: TIME_WAIT
}

// Connections the server has not accepted yet wait in the listener's
// queue, handshake done; the bytes a client sends wait in the queued
// connection, whose socket no file descriptor refers to yet.
func ExampleLookup() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	io.WriteString(client, "hello?")

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	listener := tracer.FiveTuple{Proto: "tcp", Local: ln.Addr().(*net.TCPAddr).AddrPort()}
	l, err := kernel.Wait(ctx, listener, "Recv-Q 1", func(s kernel.Socket) bool { return s.RecvQ == 1 })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listener:", l.State, l.RecvQ, "waiting for Accept")

	serverEnd := tuple(client)
	serverEnd.Local, serverEnd.Remote = serverEnd.Remote, serverEnd.Local
	s, err := kernel.Wait(ctx, serverEnd, "Recv-Q 6", func(s kernel.Socket) bool { return s.RecvQ == 6 })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("server's end:", s.State, s.RecvQ, "bytes unread, inode", s.Inode)
	// Output:
	// listener: LISTEN 1 waiting for Accept
	// server's end: ESTABLISHED 6 bytes unread, inode 0
}

// TCP_INFO through a connection the program holds.
func ExampleTCPInfo() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	io.WriteString(server, "hello")
	buf := make([]byte, 5)
	io.ReadFull(client, buf)

	info, err := kernel.TCPInfo(client)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.State, "received", info.BytesReceived, "bytes; unacked", info.Unacked)
	// Output: ESTABLISHED received 5 bytes; unacked 0
}
