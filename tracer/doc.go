// Package tracer shows what happens in the life of a TCP connection:
// it wraps the net package's listeners, connections and dialer, reports
// every phase (listen, DNS lookup, connect, accept, read, write,
// half-close, close, errors) to hooks, and records the events in a
// [Trace] that prints them in time order, for people (with a
// plain-language note on what the program and the kernel did) or as
// JSON lines.
//
// A program traces itself by opening its sockets through the wrappers:
//
//	tr := tracer.New(tracer.Options{
//		Printers: []tracer.Printer{tracer.NewPretty(os.Stdout, tracer.ColorWanted(os.Stdout, false))},
//		Live:     true,
//	})
//	ln, err := tracer.Listen(ctx, tr.Hooks("server"), "tcp", "127.0.0.1:6969")
//	…
//	d := tracer.Dialer{Hooks: tr.Hooks("client")}
//	conn, err := d.DialContext(ctx, "tcp", "localhost:6969")
//
// Both ends of a connection get the same connection id, derived from
// its five-tuple, so the client's and the server's events line up.
//
// To trace into something else, fill in a [Hooks] of your own, as with
// net/http/httptrace: any field may be nil.
//
// Timestamps are wall-clock times: events whose hooks fire late (a
// server goroutine's Read) still sort into their true place when the
// trace is flushed, and packets stamped by the kernel can be merged
// with them the same way.
package tracer
