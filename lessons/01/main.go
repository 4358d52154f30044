// Lesson 01 opens listening sockets: net.Listen is Node's
// net.createServer().listen(PORT, HOST). It shows what the host part
// decides (loopback only, or every interface), what port 0 means, and
// why a second listen on the same port fails.
//
// It answers the seed's server: `net.createServer()`, `Server(options,
// connectionListener)` and `server.listen(PORT, HOST)`.
package main

import (
	"errors"
	"net"
	"syscall"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
)

var info = lesson.Lesson{
	Number: "01",
	Title:  "Listening",
	Intro: "net.Listen asks the kernel for a listening socket, as Node's server.listen(PORT, HOST) does. " +
		"The host decides who can connect; port 0 lets the kernel choose; a port can have only one listener.",
	Steps: 4,
	Recap: []string{
		"net.Listen(\"tcp\", \"127.0.0.1:6969\") is net.createServer().listen(6969, '127.0.0.1') in Node.",
		"127.0.0.1 listens on loopback only; an empty host (Node's HOST = '', Go's \":6969\") listens on every interface.",
		"Port 0 asks the kernel for a free port; ln.Addr() tells you which one it chose.",
		"Two listeners cannot share an address and port: the second gets EADDRINUSE (errors.Is(err, syscall.EADDRINUSE)).",
		"Once the listener is closed the port is free again.",
	},
	TryThis: []string{
		"See the listening sockets the kernel keeps: run go run ./server in one terminal and ss -ltn in another.",
		"Make the port clash yourself: go run ./server twice; the second says the address is in use.",
		"Listen on every interface, then look at ss -ltn: go run ./server -addr :6969 (0.0.0.0 or [::] in the Local column).",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Listen on loopback, port 0",
		"net.Listen(\"tcp4\", \"127.0.0.1:0\"): the host 127.0.0.1 is loopback, reachable only from "+
			"this machine; port 0 lets the kernel choose a free port. Lessons use port 0 so they never "+
			"clash with a server you left running on 6969.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in step 4; this covers early returns.
	defer ln.Close()
	addr := ln.Addr().String()

	l.Step("Listen on every interface",
		"The seed's server uses HOST = '': Node then listens on every interface. In Go the host is "+
			"left empty too, \":0\", and the kernel binds the wildcard address. Anyone who can reach "+
			"this machine can now connect, which is why tcptour's servers bind 127.0.0.1 by default.")
	all, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp", ":0")
	if err != nil {
		return err
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		l.Printf("This machine's addresses, all of which reach that socket: %v", addrs)
	}
	// Close it at once: a lesson has no business being reachable from
	// the network.
	if err := all.Close(); err != nil {
		return err
	}

	l.Step("Listen again on the same port",
		"A second net.Listen on the address from step 1 fails: the kernel allows one listener per "+
			"address and port (unless every one of them sets SO_REUSEPORT). Go's error wraps syscall.EADDRINUSE, so errors.Is can tell this case apart.")
	_, err = tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", addr)
	if !errors.Is(err, syscall.EADDRINUSE) {
		return errors.New("a second listen on " + addr + " should fail with EADDRINUSE, got: " + errString(err))
	}
	l.Note("server", "errors.Is(err, syscall.EADDRINUSE) is true: the port is taken.")
	// With --hold the listener from step 1 stays open, and nobody calls
	// Accept: nc connects all the same, because the kernel does the
	// handshake.
	l.Hold(ln.Addr())

	l.Step("Close, then listen again",
		"Closing the listener gives the port back; the same address can be listened on again at once.")
	if err := ln.Close(); err != nil {
		return err
	}
	again, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", addr)
	if err != nil {
		return err
	}
	return again.Close()
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
