// Lesson 14 sends a small message in two small writes, a length and
// then the text, on a link with a round trip of 20 ms, and shows what
// two old mechanisms of TCP make of it. With Nagle's algorithm on, the
// client's kernel holds the second write until the first is
// acknowledged; the server's kernel, expecting to answer soon, holds
// its ACK for about 40 ms (delayed ACK). Each waits for the other, and
// the answer comes late. With TCP_NODELAY, Go's default, it does not;
// one write per message needs neither.
//
// It answers the seed's `client.write('I am Chuck Norris!')`: a write
// hands bytes to the kernel, which decides when they leave.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// The link's delay each way: a round trip of 20 ms.
const oneWay = 10 * time.Millisecond

// delayedACK is how long the server's kernel holds a delayed ACK
// here: 40 ms, Linux's TCP_ATO_MIN (HZ/25), where its timer starts; on
// a round trip shorter than that it waits no longer (the timer fires a
// little late, on the kernel's next tick).
const delayedACK = 40 * time.Millisecond

// message is what the client sends each time: the seed's.
var message = []byte("I am Chuck Norris!")

var info = lesson.Lesson{
	Number: "14",
	Title:  "Small writes: Nagle and delayed ACK",
	Intro: "The client sends the seed's message in two writes, a 4-byte length and then the text, and " +
		"reads the server's echo, on a link with a round trip of 20 ms: first with Nagle's algorithm on " +
		"(Go turns it off; the lesson turns it on with SetNoDelay(false)), on a new connection and then " +
		"twice more; then with TCP_NODELAY, Go's default; then in one write. The second write waits for an " +
		"ACK that the server's kernel is in no hurry to send.",
	Steps: 4,
	Link:  &link.Config{DelayToServer: oneWay, DelayToClient: oneWay},
	Recap: []string{
		"Nagle's algorithm (RFC 896): while a segment is unacknowledged, the kernel holds\n" +
			"back a small one and sends it when the ACK comes, with whatever was written since.\n" +
			"It saves headers on a slow line; it costs a round trip on a fast one.",
		"Delayed ACK (RFC 1122): a receiver may hold its ACK, hoping to send it with data of\n" +
			"its own. Linux ACKs at once at a connection's start (quick-ACK mode) and holds the\n" +
			"ACK about 40 ms once it has answered a request: then it expects to answer again.",
		"Together, write-write-read stalls: the second write waits for the ACK of the first,\n" +
			"and the server, which needs both before it answers, waits for its timer to send\n" +
			"that ACK: a delayed-ACK timeout plus a round trip, on every message but a\n" +
			"connection's first.",
		"Go sets TCP_NODELAY on every TCP connection (net.TCPConn.SetNoDelay's default is\n" +
			"true): each Write leaves at once. Node's net.Socket leaves Nagle on, as the kernel\n" +
			"does; socket.setNoDelay(true), or noDelay: true for net.connect or\n" +
			"net.createServer, turns it off.",
		"One write per message (bufio.Writer and Flush, or one buffer) needs neither: one\n" +
			"segment, sent at once, whatever TCP_NODELAY says.",
	},
	TryThis: []string{
		"go run ./lessons/14 --pcap nagle.pcapng, then\n" +
			"tshark -r nagle.pcapng -Y 'frame.interface_name == \"client\" && ip.src == 192.0.2.1\n" +
			"&& tcp.len > 0' -T fields -e frame.time_delta_displayed -e tcp.len: each 18-byte\n" +
			"segment's line says how long after its length it left: about 20 ms in step 1,\n" +
			"60 ms in step 2, a few microseconds in step 3. Step 4's are 22 bytes.",
		"In step 4, send with twoWrites instead of oneWrite (Nagle is still on there): the\n" +
			"first message waits one round trip again, the second the delayed ACK too.",
		"Set oneWay to time.Millisecond, a round trip of 2 ms: step 2's text still waits\n" +
			"over 40 ms, twenty round trips. The delayed-ACK timer does not shrink with the\n" +
			"round trip: the faster the network, the more the stall costs.",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lesson 14 needs Linux: its link joins two network namespaces; this is %s", runtime.GOOS)
	}
	l.Step("Nagle on: the first message waits one round trip",
		"The server listens in its own network namespace, at 192.0.2.2; the client dials from its own, "+
			"through a link that holds each frame 10 ms each way. Go turns Nagle's algorithm off on every "+
			"TCP connection (TCP_NODELAY); the client turns it on again with SetNoDelay(false). Then it "+
			"writes the length of its message, 4 bytes, and the text, 18 bytes, in two Writes, and reads "+
			"the server's echo. The length leaves at once: nothing is unacknowledged. The text is small "+
			"and the length is not yet acknowledged, so the client's kernel holds it back (Nagle) until "+
			"the ACK comes. At a connection's start the server's kernel ACKs each segment at once (quick-ACK "+
			"mode): the wait is one round trip.")
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", net.JoinHostPort(link.ServerAddr.String(), "0"))
		return err
	})
	if err != nil {
		return err
	}
	defer ln.Close()

	c, err := connect(l, ln)
	if err != nil {
		return err
	}
	// Go's default, as the socket says, then Nagle on.
	before, err := noDelay(c.client)
	if err != nil {
		return err
	}
	tcp := c.client.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn)
	if err := tcp.SetNoDelay(false); err != nil {
		return err
	}
	after, err := noDelay(c.client)
	if err != nil {
		return err
	}
	note(l, c.client, fmt.Sprintf("TCP_NODELAY %d, then %d: Nagle's algorithm on", before, after),
		fmt.Sprintf("The socket's TCP_NODELAY option was %d, as Go sets it on every TCP connection it makes or accepts; "+
			"after SetNoDelay(false) it is %d, the kernel's own default: small segments wait for ACKs.", before, after))
	if err := c.send(l, twoWrites); err != nil {
		return err
	}

	l.Step("Nagle on: the next message waits for the delayed ACK",
		"The same message again, twice, on the same connection. The server's kernel has now seen an answer "+
			"follow a request at once: it takes the connection for an interactive one, and holds the ACK "+
			"of what arrives, hoping to send it with the answer (delayed ACK), for about 40 ms. But the server "+
			"cannot answer: it has the length and waits for the text, which the client's kernel holds "+
			"until the length's ACK comes. Neither moves until the server's delayed-ACK timer runs out. The "+
			"server then answers at once again, and the next message waits the same way.")
	for range 2 {
		if err := c.send(l, twoWrites); err != nil {
			return err
		}
	}
	if err := c.close(); err != nil {
		return err
	}

	l.Step("TCP_NODELAY, Go's default: no wait",
		"A new connection, with Go's default: TCP_NODELAY, Nagle's algorithm off. Each Write leaves at "+
			"once, so the text follows its length within the millisecond, and the echo comes one round trip "+
			"after the writes, on the first message and the next. Go's net package sets TCP_NODELAY on every "+
			"TCP connection it makes or accepts, because, as SetNoDelay's documentation says, data should be "+
			"\"sent as soon as possible after a Write\"; a program that writes a message in pieces pays in "+
			"segments instead, and Go's answer to that is step 4. Node keeps the kernel's default, Nagle on, "+
			"for a plain net.Socket, until socket.setNoDelay(true) (or the noDelay option of net.connect and "+
			"net.createServer); its http module turns Nagle off at both ends of a request.")
	if c, err = connect(l, ln); err != nil {
		return err
	}
	for range 2 {
		if err := c.send(l, twoWrites); err != nil {
			return err
		}
	}
	if err := c.close(); err != nil {
		return err
	}

	l.Step("One write per message: no wait, with Nagle on or off",
		"Nagle on again, but the client puts the length and the text together in a bufio.Writer "+
			"and hands them to the kernel in one Write, at Flush. One segment of 22 bytes leaves at once: "+
			"there is no second small write to hold back, so neither Nagle nor the delayed ACK costs "+
			"anything, and each message takes one data segment instead of two.")
	if c, err = connect(l, ln); err != nil {
		return err
	}
	tcp = c.client.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn)
	if err := tcp.SetNoDelay(false); err != nil {
		return err
	}
	for range 2 {
		if err := c.send(l, oneWrite); err != nil {
			return err
		}
	}
	if err := c.close(); err != nil {
		return err
	}
	return ln.Close()
}

// conn is a connection of the lesson: the client's end, the server's,
// and what the server tells of each message it got.
type conn struct {
	client, server net.Conn
	got            chan arrival
	done           chan error
}

// arrival is when the server's Reads returned a message's length and
// the message itself.
type arrival struct{ length, text time.Time }

// connect dials the server from the client's namespace, accepts the
// connection and starts the server's echo on it.
func connect(l *lesson.Run, ln net.Listener) (*conn, error) {
	dialer := tracer.Dialer{Hooks: l.Hooks("client"), Net: net.Dialer{Control: cubic}}
	var client net.Conn
	err := l.Client(func() (err error) {
		client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		return err
	})
	if err != nil {
		return nil, err
	}
	server, err := ln.Accept()
	if err != nil {
		client.Close()
		return nil, err
	}
	c := &conn{client: client, server: server, got: make(chan arrival, 1), done: make(chan error, 1)}
	go func() { c.done <- echo(server, c.got) }()
	return c, nil
}

// echo is the server: it reads a 4-byte length and that many bytes,
// says when each came, and writes the bytes back, until the client
// closes.
func echo(conn net.Conn, got chan<- arrival) error {
	defer conn.Close()
	for {
		var length [4]byte
		if _, err := io.ReadFull(conn, length[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the client closed
			}
			return err
		}
		var a arrival
		a.length = time.Now()
		text := make([]byte, binary.BigEndian.Uint32(length[:]))
		if _, err := io.ReadFull(conn, text); err != nil {
			return err
		}
		a.text = time.Now()
		got <- a
		if _, err := conn.Write(text); err != nil {
			return err
		}
	}
}

// A way to write a message: the length and the text.
type writeFunc func(c net.Conn, length, text []byte) error

// twoWrites writes the length, then the text: two small writes, as a
// program does that writes each field as it has it.
func twoWrites(c net.Conn, length, text []byte) error {
	if _, err := c.Write(length); err != nil {
		return err
	}
	_, err := c.Write(text)
	return err
}

// oneWrite puts the length and the text together in a bufio.Writer,
// which hands them to the kernel in one Write at Flush.
func oneWrite(c net.Conn, length, text []byte) error {
	w := bufio.NewWriter(c)
	w.Write(length) // NOTE: ignoring the error; Flush returns it
	w.Write(text)
	return w.Flush()
}

// send writes the message with write, reads the echo, and says how
// long the message and its echo took, and why.
func (c *conn) send(l *lesson.Run, write writeFunc) error {
	delacks, err := delayedACKs(l)
	if err != nil {
		return err
	}
	first, err := kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	length := binary.BigEndian.AppendUint32(nil, uint32(len(message)))
	if err := write(c.client, length, message); err != nil {
		return err
	}
	written := time.Now()
	// What the client's kernel has not sent yet, the moment the
	// writes returned.
	ci, err := kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	echoed := make([]byte, len(message))
	if _, err := io.ReadFull(c.client, echoed); err != nil {
		return err
	}
	answered := time.Now()
	last, err := kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	// Data segments sent for the message, less any sent again (on a
	// slow machine, the link may forward late enough for a probe).
	resent := last.TotalRetrans - first.TotalRetrans
	segs := last.DataSegsOut - first.DataSegsOut - resent
	a := <-c.got
	after, err := delayedACKs(l)
	if err != nil {
		return err
	}
	text, why := explain(a, ci, segs, resent, answered.Sub(written), after-delacks)
	note(l, c.client, text, why)
	return nil
}

// explain says how long the text took to follow its length to the
// server (text), and why (note), from what this run showed: the server's Reads, the
// client's TCP_INFO right after its writes, and the server's kernel's
// count of delayed ACKs. segs is how many data segments the message
// took, resent how many were sent again.
func explain(a arrival, ci *kernel.Info, segs, resent uint32, wait time.Duration, delacks int64) (text, note string) {
	gap := tracer.FormatDuration(a.text.Sub(a.length))
	took := fmt.Sprintf("TCP_INFO data_segs_out +%d", segs)
	if resent > 0 {
		took = fmt.Sprintf("TCP_INFO data_segs_out +%d, less %d sent again: total_retrans +%d", segs+resent, resent, resent)
	}
	got := fmt.Sprintf("The message took %s (%s). The server's Reads got the text %s after its length.",
		plural(int(segs), "data segment"), took, gap)
	held := fmt.Sprintf("When the writes returned, the client's kernel held %d bytes unsent, with %s unacknowledged (TCP_INFO notsent_bytes, unacked).",
		ci.NotsentBytes, plural(int(ci.Unacked), "segment"))
	read := fmt.Sprintf("The client's Read waited %s for the echo; a round trip is %s.", tracer.FormatDuration(wait), tracer.FormatDuration(2*oneWay))
	switch {
	case ci.NotsentBytes == 0 && segs == 1:
		return "the length and the text in one segment: no wait",
			got + " They left together, in one segment: when the Write returned, the client's kernel held nothing unsent (TCP_INFO notsent_bytes 0). " + read
	case ci.NotsentBytes == 0:
		return "the text reached the server " + gap + " after its length: no wait",
			got + " They left together: when the writes returned, the client's kernel held nothing unsent (TCP_INFO notsent_bytes 0). " + read
	case delacks == 0:
		return "the text reached the server " + gap + " after its length: it waited for the ACK",
			got + " " + held + " The server's kernel ACKed the length at once (TcpExtDelayedACKs did not move), " +
				"and the text left when that ACK came back. " + read
	}
	return "the text reached the server " + gap + " after its length: it waited for a delayed ACK",
		fmt.Sprintf("%s %s The server's kernel sent %s meanwhile, when its timer ran out (TcpExtDelayedACKs +%d): "+
			"the ACK of the length, and the text left when it came back. %s", got, held, plural(int(delacks), "delayed ACK"), delacks, read)
}

// note adds a note of the client's about connection c to the trace:
// text on the event's line, why below it.
func note(l *lesson.Run, c net.Conn, text, why string) {
	l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote, Proto: "tcp",
		Local:  c.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
		Text:   text, Note: why})
}

// plural says n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// delayedACKs reads how many delayed ACKs the server's kernel has sent,
// each when its timer ran out (TcpExtDelayedACKs, in the server's
// namespace).
func delayedACKs(l *lesson.Run) (int64, error) {
	var n int64
	err := l.Server(func() error {
		c, err := kernel.ReadCounters()
		n = c["TcpExtDelayedACKs"]
		return err
	})
	return n, err
}

// close closes the client's end, then waits for the server to read
// the FIN and close its own.
func (c *conn) close() error {
	if err := c.client.Close(); err != nil {
		return err
	}
	return <-c.done
}
