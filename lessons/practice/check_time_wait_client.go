package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

func init() {
	register(&Exercise{
		Name: "time-wait-client", Lesson: "17", Order: 1, Role: "server",
		Title: "Closing so that TIME_WAIT lands on the client",
		Hints: []string{
			"TIME_WAIT goes to the side whose FIN goes first. Your Close sends the server's FIN; as long as it comes right after the answer, the server is first.",
			"Once it has answered, let the server read again: that read returns io.EOF when the client's FIN comes, and only then close. A pause (time.Sleep) only guesses how long the client takes; a deadline of closeWait on that read keeps a client that never closes from holding the connection for ever. CloseWrite sends FIN too, and so does not help; SetLinger(0) sends RST, which hides TIME_WAIT instead of moving it.",
			"After the Write: conn.SetReadDeadline(time.Now().Add(closeWait)); io.Copy(io.Discard, r); then the deferred Close.",
		},
		Check: checkTimeWaitClient,
	})
}

// twCloseWait is the exercise file's closeWait: the longest the server
// waits for a client's FIN after its answer. twSlack is what the check
// allows on top, for a busy machine.
const (
	twCloseWait = 2 * time.Second
	twSlack     = 2 * time.Second
	// twLateClose is how long client 4 waits after its answer before
	// it closes: a server that waits for the client's FIN waits that
	// long too; one that merely pauses may not.
	twLateClose = time.Second
)

// checkTimeWaitClient makes 5 connections, each a request and its
// answer. Clients 1 to 3 close at once, client 4 closes 1 s after its
// answer, client 5 never closes. It checks, on the wire, that the first
// FIN of each of the first 4 is the client's, with no RST, and that the
// program's FIN follows within 1 s; in the kernel, that their TIME_WAIT
// sockets are the client's, none on the program's port; then that the
// program closed client 5's connection within closeWait (and the
// slack).
func checkTimeWaitClient(c *Check) error {
	if !c.Captured() {
		return c.NeedPackets()
	}
	p, err := c.Start()
	if err != nil {
		return err
	}
	if err := c.WaitListening(p); err != nil {
		return err
	}
	ask := func(i int) (net.Conn, error) {
		conn, err := c.Dial()
		if err != nil {
			return nil, c.Fail("client %d could not connect: %v", i, err)
		}
		line := fmt.Sprintf("request %d", i)
		if err := askLine(conn, line, strings.ToUpper(line), 2*time.Second); err != nil {
			c.Show(conn)
			return conn, c.Fail("client %d sent %q and %v%s%s", i, line+"\n", err, resetBy(c, conn), c.Unserved(conn))
		}
		return conn, nil
	}
	// closed waits until conn's connection is over: one end in
	// TIME_WAIT, or an RST. When the client's FIN went first and, 1 s
	// after it, the program has still not closed, it fails.
	closed := func(i int, conn net.Conn) error {
		client, server := Ends(conn)
		if waitWire(c, time.Second, func() bool {
			return timeWaitEnd(c, client, server) != "" || resetBy(c, conn) != ""
		}) {
			return nil
		}
		segs := timedSegments(c, client, server)
		fin := firstFINEither(segs)
		if fin == nil || fin.Packet.Src != client || firstFIN(segs, server) != nil {
			return nil // the checks that follow say what the wire shows
		}
		held := ""
		if s, ok := c.PeerSocket(conn); ok && s.State == kernel.CloseWait {
			held = fmt.Sprintf(", and the kernel shows its end, %s ↔ %s, in CLOSE_WAIT: the client's FIN has arrived, and the socket waits for your program's Close", s.Local, s.Remote)
		}
		c.Show(conn)
		return c.Fail("client %d closed (%s), and 1 s later your program had still not closed its end: no FIN from it on the wire%s", i, Describe(fin.Packet), held)
	}
	var conns []net.Conn
	for i := 1; i <= 3; i++ {
		conn, err := ask(i)
		if conn != nil {
			defer conn.Close()
		}
		if err != nil {
			return err
		}
		conns = append(conns, conn)
		// The client closes as soon as it has its answer.
		// NOTE: Close on a connection that works cannot fail.
		_ = conn.Close()
		if err := closed(i, conn); err != nil {
			return err
		}
	}
	// Clients 4 and 5 at once: 5 never closes, and its wait runs
	// while 4 takes its time.
	late, err := ask(4)
	if late != nil {
		defer late.Close()
	}
	if err != nil {
		return err
	}
	never, err := ask(5)
	if never != nil {
		defer never.Close()
	}
	if err != nil {
		return err
	}
	neverAnswered := time.Now()
	// Client 4 reads for 1 s before it closes: io.EOF, the server's
	// FIN, ends that read sooner.
	// NOTE: ignoring the errors: the wire says what happened.
	_ = late.SetReadDeadline(time.Now().Add(twLateClose))
	_, err = io.Copy(io.Discard, late)
	_ = late.Close()
	if err := closed(4, late); err != nil {
		return err
	}
	conns = append(conns, late)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.Holds("4 clients each sent a request, read its answer, and closed: 3 at once, 1 after %s", seconds(twLateClose))
	} else {
		c.Holds("4 clients each sent a request, read its answer, and closed: 3 at once, 1 when its read ended before %s", seconds(twLateClose))
	}

	var clientTW []string
	for i, conn := range conns {
		client, server := Ends(conn)
		segs := timedSegments(c, client, server)
		if r := resetBy(c, conn); r != "" {
			c.Show(conn)
			return c.Fail("on client %d's connection%s. A reset ends a connection at once, with no TIME_WAIT at either end, and a peer still reading gets \"connection reset by peer\" instead of io.EOF: TIME_WAIT is moved by closing second, not skipped", i+1, r)
		}
		fin := firstFINEither(segs)
		if fin == nil {
			c.Show(conn)
			return c.Fail("client %d closed, and within 1 s no FIN from either end of its connection is in the capture", i+1)
		}
		if fin.Packet.Src == server {
			c.Show(conn)
			where := ""
			switch timeWaitEnd(c, client, server) {
			case "server":
				where = fmt.Sprintf(", and the kernel shows your program's end, %s ↔ %s, in TIME_WAIT: on the server's port%s", server, client, timeWaitLeft(c, server, client))
			case "client":
				where = " (yet the kernel shows the client's end in TIME_WAIT)"
			}
			who := fmt.Sprintf("client %d's connection", i+1)
			if conn == late {
				who = fmt.Sprintf("client %d's connection, a client that closes %s after its answer,", i+1, seconds(twLateClose))
			}
			return c.Fail("on %s the first FIN was your program's (%s), %s after its answer and before the client's FIN%s", who, Describe(fin.Packet), roundMs(fin.Time.Sub(lastDataTime(segs, server))), where)
		}
		if end := timeWaitEnd(c, client, server); end != "client" {
			c.Show(conn)
			return c.Fail("on client %d's connection the client's FIN came first, yet within 1 s the kernel showed %s in TIME_WAIT, not the client's", i+1, orNone(end))
		}
		clientTW = append(clientTW, fmt.Sprint(client.Port()))
	}
	c.Holds("on each of the %d connections the first FIN is the client's, and no RST", len(conns))
	// Client 5's connection may be closed by the server by now, and
	// keep its TIME_WAIT there: the price of a client that never
	// closes.
	neverClient, neverServer := Ends(never)
	onServer := 0
	if socks, err := c.Sockets(kernel.TimeWait); err == nil {
		for _, s := range socks {
			if s.Local.Port() == c.Addr.Port() && s.Remote != neverClient {
				onServer++
			}
		}
	}
	if onServer > 0 {
		return c.Fail("the kernel shows %s in TIME_WAIT on your program's port %d", plural(onServer, "socket"), c.Addr.Port())
	}
	c.Holds("the kernel shows their TIME_WAIT sockets at the client's ports (%s), none at port %d", strings.Join(clientTW, ", "), c.Addr.Port())

	// Client 5 reads until the server's FIN (io.EOF), for closeWait
	// and the slack after its answer.
	wait := twCloseWait + twSlack
	// NOTE: ignoring the error: the wire says what happened.
	_ = never.SetReadDeadline(neverAnswered.Add(wait))
	_, _ = io.Copy(io.Discard, never)
	var fin *tracer.Event
	waitWire(c, 200*time.Millisecond, func() bool {
		fin = firstFIN(timedSegments(c, neverClient, neverServer), neverServer)
		return fin != nil || resetBy(c, never) != ""
	})
	if r := resetBy(c, never); r != "" {
		c.Show(never)
		return c.Fail("client 5 read its answer and never closed, and%s", r)
	}
	if fin == nil {
		c.Show(never)
		held := ""
		if s, ok := c.PeerSocket(never); ok {
			held = fmt.Sprintf(", and the kernel shows its end, %s ↔ %s, still %s", s.Local, s.Remote, s.State)
		}
		return c.Fail("client 5 read its answer and never closed, and %s later (closeWait is %s) your program still held the connection: no FIN from it on the wire%s", seconds(wait), seconds(twCloseWait), held)
	}
	segs := timedSegments(c, neverClient, neverServer)
	c.Holds("client 5 never closed, and your program closed its connection %s after the answer (%s)", roundMs(fin.Time.Sub(lastDataTime(segs, neverServer))), Describe(fin.Packet))
	if p.Exited() != "" {
		return c.Fail("your program ended (%s): a server goes on serving", p.Exited())
	}
	return nil
}

// timeWaitEnd says which end of the connection between client and
// server the kernel holds in TIME_WAIT: "client", "server", or "".
func timeWaitEnd(c *Check, client, server netip.AddrPort) string {
	socks, err := c.Sockets(kernel.TimeWait)
	if err != nil {
		return ""
	}
	for _, s := range socks {
		switch {
		case s.Local == client && s.Remote == server:
			return "client"
		case s.Local == server && s.Remote == client:
			return "server"
		}
	}
	return ""
}

// timeWaitLeft says how long the kernel keeps the TIME_WAIT socket
// local ↔ remote still: ", 59.9 s more".
func timeWaitLeft(c *Check, local, remote netip.AddrPort) string {
	socks, err := c.Sockets(kernel.TimeWait)
	if err != nil {
		return ""
	}
	for _, s := range socks {
		if s.Local == local && s.Remote == remote && s.Expires > 0 {
			return fmt.Sprintf(", for %s more", seconds(s.Expires.Round(100*time.Millisecond)))
		}
	}
	return ""
}

// resetBy says, to end a sentence, that the program reset conn, when
// an RST from its end is in the capture; "" when none is.
func resetBy(c *Check, conn net.Conn) string {
	client, server := Ends(conn)
	for _, e := range timedSegments(c, client, server) {
		if e.Packet.Src == server && HasFlag(e.Packet, "RST") {
			return fmt.Sprintf(", your program reset the connection (%s on the wire) instead of closing it with FIN", Describe(e.Packet))
		}
	}
	return ""
}

// firstFINEither is the first segment with FIN from either end.
func firstFINEither(segs []tracer.Event) *tracer.Event {
	for i := range segs {
		if HasFlag(segs[i].Packet, "FIN") {
			return &segs[i]
		}
	}
	return nil
}

// lastDataTime is when src last sent data on the connection.
func lastDataTime(segs []tracer.Event, src netip.AddrPort) time.Time {
	var t time.Time
	for _, e := range segs {
		if e.Packet.Src == src && e.Packet.Len > 0 {
			t = e.Time
		}
	}
	return t
}

func orNone(end string) string {
	if end == "" {
		return "neither end"
	}
	return "the " + end + "'s end"
}
