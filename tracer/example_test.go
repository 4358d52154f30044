package tracer_test

import (
	"context"
	"fmt"
	"io"

	"tcptour/tracer"
)

// Hooks of your own see each phase of a connection, as
// httptrace.ClientTrace does for HTTP.
func ExampleHooks() {
	hooks := &tracer.Hooks{
		ConnectDone: func(i tracer.ConnectDoneInfo) { fmt.Println("connected, error:", i.Err) },
		Write:       func(i tracer.IOInfo) { fmt.Printf("write %d bytes %q\n", i.N, i.Data) },
		Close:       func(i tracer.CloseInfo) { fmt.Println("close, peer closed first:", i.PeerClosed) },
	}
	ln, err := tracer.Listen(context.Background(), nil, "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()

	d := tracer.Dialer{Hooks: hooks}
	client, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	server, err := ln.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	io.WriteString(client, "I am Chuck Norris!")
	client.Close()
	io.ReadAll(server)
	server.Close()
	// Output:
	// connected, error: <nil>
	// write 18 bytes "I am Chuck Norris!"
	// close, peer closed first: false
}

// A Trace records events and prints them in time order. Here a printer
// of our own prints the phases; tracer.NewPretty and tracer.NewJSON are
// the usual ones.
func ExampleTrace() {
	phases := tracer.PrinterFunc(func(e tracer.Event) error {
		if e.Conn != 0 {
			fmt.Printf("%-6s #%d %s\n", e.Actor, e.Conn, e.Phase)
		} else {
			fmt.Printf("%-6s    %s\n", e.Actor, e.Phase)
		}
		return nil
	})
	tr := tracer.New(tracer.Options{Printers: []tracer.Printer{phases}})

	ln, err := tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := tracer.Dialer{Hooks: tr.Hooks("client")}
	client, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	server, err := ln.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	client.(interface{ CloseWrite() error }).CloseWrite() // half-close: FIN
	io.Copy(io.Discard, server)                           // reads until io.EOF
	server.Close()
	client.Close()
	ln.Close()
	tr.Flush()
	// Output:
	// server    listen
	// client    dns-skip
	// client    connect-start
	// client #1 connect-done
	// server #1 accept
	// client #1 close-write
	// server #1 eof
	// server #1 close
	// client #1 close
	// server    close
}

// Preview shows data as people read it: quoted text, or hex.
func ExamplePreview() {
	fmt.Println(tracer.Preview([]byte("I am Chuck Norris!")))
	fmt.Println(tracer.Preview([]byte{0, 1, 2, 0xff}))
	// Output:
	// "I am Chuck Norris!"
	// hex 000102ff
}
