// Lesson 10 serves several clients at once. The Go server starts a
// goroutine per connection, where Node calls every connection's
// callbacks on one event loop; each client gets its own ephemeral port
// from the kernel; the trace tells the connections apart by their ids.
//
// It answers the seed's "In each 'connection' event, the socket object
// received by this callback function is unique", and `util.inherits(Server,
// EventEmitter)`: one emitter, one loop, many sockets.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
)

var info = lesson.Lesson{
	Number: "10",
	Title:  "Many clients",
	Intro: "Three clients talk to one server at the same time. The server starts a goroutine per connection, " +
		"where Node calls every connection's callbacks on one event loop. Each client gets a port the kernel " +
		"chooses, and the trace tells the connections apart by their ids.",
	Steps: 5,
	Recap: []string{
		"A Go server starts a goroutine per connection (go handle(conn)); each blocks in its own Read, and the runtime wakes the one whose data arrived. Node runs every callback on one event loop, one at a time.",
		"So a handler that is busy holds up only its own connection in Go; in Node, slow synchronous work in a callback holds up every connection.",
		"Each client's Dial gets a local port the kernel picks from its ephemeral range; the server's address is the same for all, so the client's port is what tells the five-tuples apart.",
		"Within one connection the order is fixed: TCP delivers bytes in the order written, and each side's calls happen in program order. Across connections nothing is ordered: the interleaving changes from run to run.",
		"The trace numbers connections in the order they first appear in it; dial one after another and the numbers follow the dials.",
	},
	TryThis: []string{
		"Run the lesson a few times and compare the line after step 4 that starts \"This run\": the interleaving\n" +
			"changes from run to run (two runs can happen to match).",
		"go run ./lessons/10 --hold, then paste the nc command it prints into two terminals and type into\n" +
			"both: each is answered at once. Its ss command lists one line per connection, each with its own client port.",
		"See the ports the kernel hands out: after step 2 the lesson names the range they come from (the lab's\n" +
			"net.ipv4.ip_local_port_range: a lab starts with the kernel's default, whatever your machine sets), and\n" +
			"the ladders at the end show each client's port in it.",
	},
	HoldCommands: []string{
		"{lab}nc 127.0.0.1 PORT",
		"{lab}ss -tn '( sport = :PORT )'",
	},
}

// clients is how many clients the lesson runs.
const clients = 3

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Start the server",
		"The server listens and starts its accept loop: for each connection Accept returns, it starts a "+
			"goroutine running the handler, go handle(conn). In Node, server.on('connection', handler) "+
			"registers the handler, and one event loop calls it, and every 'data' callback after it, one at a time.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()
	var (
		handlers sync.WaitGroup
		accepted = make(chan net.Conn, 16)
		// busy lets the lesson stand in for a handler's slow work; see
		// handle.
		busy     = make(chan struct{})
		loopDone = make(chan struct{})
	)
	go func() {
		defer close(loopDone)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			handlers.Add(1)
			go func() { // a goroutine per connection
				defer handlers.Done()
				handle(conn, busy)
			}()
			select {
			case accepted <- conn:
			default: // with --hold, nobody counts
			}
		}
	}()

	l.Step("Three clients connect, one after another",
		"Each Dial asks only for the server's address; the client's kernel picks a free local port for each "+
			"connection from its ephemeral range. The server accepts each one and starts its goroutine. "+
			"The trace numbers connections in the order they first appear, here the order of the Dials.")
	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	var conns []net.Conn
	for range clients {
		c, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
		<-accepted
	}
	var ports []string
	for _, c := range conns {
		ports = append(ports, strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ports)))) != clients {
		return fmt.Errorf("two clients got the same port: %v", ports)
	}
	l.Note("client", fmt.Sprintf("%d connections to the same server address %s, from %d different client ports: "+
		"their five-tuples differ only in the client's port.", clients, ln.Addr(), clients))
	l.Printf("In this run the kernel chose the client ports %s%s.", strings.Join(ports, ", "), portRange())

	l.Step("A busy handler holds up no one else",
		"Client #1 sends slow, and its handler gets busy (the lesson stands in for slow work: a query, "+
			"a computation). Meanwhile clients #2 and #3 send hi and are answered at once: their goroutines do "+
			"not wait for #1's. Then #1's work ends and it is answered. In Node, slow synchronous work in a "+
			"callback would hold up every connection, since one thread runs them all.")
	if _, err := io.WriteString(conns[0], "slow"); err != nil {
		return err
	}
	<-busy // handler #1 has read "slow" and is busy
	reply := make([]byte, 64)
	for _, c := range conns[1:] {
		if _, err := io.WriteString(c, "hi"); err != nil {
			return err
		}
		if _, err := c.Read(reply); err != nil {
			return err
		}
	}
	busy <- struct{}{} // handler #1's work is done
	if _, err := conns[0].Read(reply); err != nil {
		return err
	}

	l.Step("All three at once",
		"Each client runs in its own goroutine and sends three messages, reading each answer before the next. "+
			"The three conversations run at the same time, so their lines interleave in the trace, in an order "+
			"that changes from run to run; the ids (#1, #2, #3) say which line belongs to which. Within one "+
			"connection the order never changes: each answer follows its message.")
	var talk sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range conns {
		talk.Add(1)
		go func() {
			defer talk.Done()
			buf := make([]byte, 64)
			for i := 1; i <= 3; i++ {
				if _, err := fmt.Fprintf(c, "message %d", i); err != nil {
					errs <- err
					return
				}
				if _, err := c.Read(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	talk.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	l.Printf("This run, the clients' writes and reads came in this order of connections: %s.", interleaving(l, 4))

	l.Step("Close",
		"The clients close, one after another. Each handler's Read returns io.EOF, the handler closes its "+
			"connection and its goroutine ends. Then the server stops listening.")
	for _, c := range conns {
		if err := c.Close(); err != nil {
			return err
		}
	}
	handlers.Wait()
	l.Hold(ln.Addr()) // with --hold: serve nc, each in its own goroutine, until Ctrl-C
	if err := ln.Close(); err != nil {
		return err
	}
	<-loopDone
	return nil
}

// handle is the connection listener, run in a goroutine of its own for
// each connection: it answers each message, and closes when the client
// has closed. Its Read blocks this goroutine only; the others go on.
func handle(conn net.Conn, busy chan struct{}) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return // io.EOF: the client sent FIN; the trace shows any other error
		}
		msg := string(buf[:n])
		if msg == "slow" {
			// Slow work. Here the lesson decides when it ends, so that
			// every run shows the same thing: the handler says it has
			// started, then waits for the lesson to end it.
			busy <- struct{}{}
			<-busy
		}
		if _, err := conn.Write([]byte(`You said "` + msg + `"`)); err != nil {
			return
		}
	}
}

// interleaving lists the connection of each client read and write of a
// step, in time order: "#1 #2 #1 #3 …".
func interleaving(l *lesson.Run, step int) string {
	var ids []string
	for _, e := range l.Events() {
		if e.Step == step && e.Actor == "client" && (e.Phase == tracer.PhaseWrite || e.Phase == tracer.PhaseRead) {
			ids = append(ids, "#"+strconv.Itoa(e.Conn))
		}
	}
	return strings.Join(ids, " ")
}

// portRange says which ports the kernel picks from, when it can tell.
func portRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	f := strings.Fields(string(b))
	if err != nil || len(f) != 2 {
		return ""
	}
	return fmt.Sprintf(", from its ephemeral range %s–%s (/proc/sys/net/ipv4/ip_local_port_range)", f[0], f[1])
}
