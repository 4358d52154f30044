package tracer_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

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

// A pretty printer for a terminal 50 columns wide, that counts each
// event's time from the start of its step, as the lessons' does: the
// learner's 5 s at a prompt before step 2 do not show.
func ExampleNewPrettyWith() {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := tracer.NewPrettyWith(os.Stdout, tracer.PrettyOptions{Width: 50, StepTimes: true})
	tr := tracer.NewAt(start, tracer.Options{Printers: []tracer.Printer{p}})
	tr.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseStep, Text: "Step 1 of 2 · Listen", Time: start})
	tr.Add(tracer.Event{Actor: "server", Phase: tracer.PhaseNote, Text: "listening", Time: start.Add(300 * time.Microsecond),
		Note: "The kernel now answers SYNs to this port by itself: it completes each handshake and queues the connection."})
	tr.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseStep, Text: "Step 2 of 2 · Connect", Time: start.Add(5 * time.Second)})
	tr.Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote, Text: "connecting", Time: start.Add(5*time.Second + 120*time.Microsecond)})
	tr.Flush()
	// Output:
	// Step 1 of 2 · Listen
	//
	//    +0.300 ms  server     NOTE       listening
	//              The kernel now answers SYNs to this
	//              port by itself: it completes each
	//              handshake and queues the connection.
	//
	// Step 2 of 2 · Connect
	//
	//    +0.120 ms  client     NOTE       connecting
}
