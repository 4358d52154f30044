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
	"tcptour/tracer/lab"
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
		"Two listeners cannot share an address and port (unless all set SO_REUSEPORT, as one user): the second gets\n" +
			"EADDRINUSE (errors.Is(err, syscall.EADDRINUSE)).",
		"Once the listener is closed the port is free again.",
	},
	TryThis: []string{
		"See the listening sockets the kernel keeps: run go run ./server in one terminal and ss -ltn in another\n" +
			"(a LISTEN line with 127.0.0.1:6969 in the Local column).",
		"Make the port clash yourself: go run ./server twice; the second says the address is in use.",
		"Listen on every interface, then look at ss -ltn: go run ./server -addr :6969. The Local column says *:6969:\n" +
			"one IPv6 socket on :: that takes IPv4 connections too (IPV6_V6ONLY off). -addr 0.0.0.0:6969 gives the\n" +
			"same: for the network \"tcp\" Go takes 0.0.0.0 for \"any address\" too.",
		"Hold the listener of step 1: go run ./lessons/01 --hold; nobody calls Accept. Paste the\n" +
			"commands it prints, each in a terminal of its own. nc connects all the same, since the\n" +
			"kernel does the handshake: type a line into it. ss -ltn shows the connection waiting in\n" +
			"the listener's queue (Recv-Q 1), and ss -tn both ends ESTAB, the server's holding your\n" +
			"line unread (its Recv-Q).",
	},
	// Held (--hold), step 1's listener stays open and nobody accepts:
	// nc connects, and ss shows the connection queued.
	HoldCommands: []string{
		"{lab}nc -N 127.0.0.1 PORT",
		"{lab}ss -ltn '( sport = :PORT )'",
		"{lab}ss -tn '( sport = :PORT or dport = :PORT )'",
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
			"left empty too, \":0\". On a machine with IPv6, Go opens an IPv6 socket on the wildcard "+
			"address :: (the LISTEN line shows [::]) with IPV6_V6ONLY off, so that it takes IPv4 "+
			"connections as well: ss shows it as *:PORT. Node does the same for ''. Anyone who can reach one of "+
			"the machine's addresses can now connect, which is why tcptour's servers bind 127.0.0.1 by default.")
	all, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp", ":0")
	if err != nil {
		return err
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		if lab.Inside() {
			l.Printf("The lab's addresses, all of which reach that socket: %v. Loopback only: the lab's "+
				"network has no other interface, so nothing outside it can connect (with --host, the "+
				"lesson lists this machine's addresses).", addrs)
		} else {
			l.Printf("This machine's addresses, all of which reach that socket: %v", addrs)
		}
	}
	// Close it at once: a lesson has no business being reachable from
	// the network.
	if err := all.Close(); err != nil {
		return err
	}

	l.Step("Listen again on the same port",
		"A second net.Listen on the address from step 1 fails: the kernel allows one listener per "+
			"address and port, unless every one of them set SO_REUSEPORT before it bound and all "+
			"belong to the same effective user ID (then the kernel spreads new connections among "+
			"them). Go sets no SO_REUSEPORT. Its error wraps syscall.EADDRINUSE, so errors.Is can "+
			"tell this case apart.")
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
