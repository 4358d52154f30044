// Lesson 03 follows one TCP connection through its whole life: the
// client looks up chuck.norris.test, connects, says "I am Chuck Norris!",
// hears it back, and both sides close. Then the same dial with an IP
// literal, where no lookup happens at all.
//
// It answers the client half of the seed: `client.connect(PORT, HOST)`,
// `lookupAndConnect`, the five-tuple, and the `data` and `close` events.
package main

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
)

var info = lesson.Lesson{
	Number: "03",
	Title:  "Connecting: a whole life",
	Intro: "The client looks up chuck.norris.test, connects, says \"I am Chuck Norris!\", hears it back, " +
		"and both sides close. Then it dials an IP literal, and no lookup happens.",
	Steps: 6,
	Recap: []string{
		"A name becomes an address first: a DNS query and answer (Node: lookupAndConnect). An IP literal skips it.",
		"connect sends SYN; Dial returns once the handshake is done, whether or not the server has called Accept.",
		"Each connection is named by its five-tuple: protocol, local IP and port, remote IP and port.",
		"Write hands bytes to the kernel; Read takes what the kernel has received (Node's 'data' event).",
		"Close sends FIN; the peer's Read returns io.EOF (Node's 'end'), and it closes too, as Node does by itself at 'end'\n" +
			"(it calls socket.end()); Node's 'close' event comes after that, once the socket is closed.",
	},
	TryThis: []string{
		"In one terminal: go run ./server. In another: go run ./client -addr 127.0.0.1:6969 — no lookup;\n" +
			"then go run ./client -addr localhost:6969 — a lookup answered by /etc/hosts, with nothing on the wire.\n" +
			"Where /etc/hosts lists ::1 for localhost too, as Debian's does, Go sorts ::1 first (RFC 6724) and the\n" +
			"client tries it first: its SYN to [::1]:6969 is refused with RST, since the server listens on\n" +
			"127.0.0.1 only, and then 127.0.0.1 connects. With sudo the client shows both on the wire.",
		"Print the trace as JSON and pick out the phases: go run ./lessons/03 --json | jq -r .phase",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Start the server",
		"The server listens on a loopback port the kernel chooses (port 0), as the seed's "+
			"server.listen(PORT, HOST) does with port 6969.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	l.Step("Look up the name, then connect",
		"The client dials chuck.norris.test. Its resolver asks the lab DNS server, then the kernel "+
			"connects to the address it got. The server has not called Accept yet.")
	dns, err := l.Lab()
	if err != nil {
		return err
	}
	dialer := tracer.Dialer{Hooks: l.Hooks("client"), DNSServer: dns.String()}
	client, err := dialer.DialContext(l.Context(), "tcp4", "chuck.norris.test:"+port)
	if err != nil {
		return err
	}

	l.Step("Accept",
		"The server starts its connection loop: Node's 'connection' event is a loop around Accept. "+
			"The connection is waiting in the listener's queue, handshake done.")
	var served sync.WaitGroup
	// The loop tells the lesson about each connection it accepts; with
	// --hold it goes on serving others (nc) that nobody waits for.
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			served.Add(1)
			go func() {
				defer served.Done()
				echo(conn)
			}()
			select {
			case accepted <- conn:
			default:
			}
		}
	}()
	<-accepted

	l.Step("Say it and hear it back",
		"The client writes its message. The server's Read returns it and the server answers "+
			`You said "<data>". The client's Read is Node's 'data' event.`)
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		return err
	}
	reply := make([]byte, 1024)
	if _, err := client.Read(reply); err != nil {
		return err
	}

	l.Step("Close",
		"The client closes first. The server's Read returns io.EOF (Node's 'end'), "+
			"so the server closes its side too, as a Node socket does by itself at 'end' "+
			"(allowHalfOpen false: it calls socket.end()). Node's 'close' event comes after that, "+
			"once the socket is closed.")
	if err := client.Close(); err != nil {
		return err
	}
	served.Wait()

	l.Step("Dial an IP literal",
		"The same dial to 127.0.0.1: there is no name to look up, so no DNS query is sent. "+
			"Then the server stops listening.")
	client, err = dialer.DialContext(l.Context(), "tcp4", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	<-accepted
	if err := client.Close(); err != nil {
		return err
	}
	served.Wait()
	l.Hold(ln.Addr()) // with --hold: serve nc until Ctrl-C
	return ln.Close()
}

// echo is the server's side of one connection, the seed's
// server.on('connection') handler: it answers each message and closes
// when the client has closed.
func echo(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if errors.Is(err, io.EOF) {
			return // the client sent FIN: Node's 'end' event
		}
		if err != nil {
			return // NOTE: the trace shows the error
		}
		if _, err := conn.Write([]byte(`You said "` + string(buf[:n]) + `"`)); err != nil {
			return
		}
	}
}
