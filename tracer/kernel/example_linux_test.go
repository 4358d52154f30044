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
