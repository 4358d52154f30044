package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"tcptour/tracer/kernel"
)

func init() {
	register(&Exercise{
		Name: "graceful-shutdown", Lesson: "09", Order: 1, Role: "server",
		Title: "On SIGTERM, stop accepting and finish the requests in flight",
		Hints: []string{
			"A signal you do not handle takes its default action: SIGTERM ends the program at once, and its kernel closes every socket, answered or not. signal.Notify turns it into a value on a channel.",
			"When the signal comes, close the listener: new clients are refused, and Accept returns net.ErrClosed, so the accept loop can end. Closing the connections too would drop the requests in flight: wait for their handlers instead, every one, including one still waiting for its request (a fixed sleep is a guess that a late request outlasts).",
			"signal.Notify(stop, syscall.SIGTERM); a goroutine does <-stop then ln.Close(); the loop breaks on errors.Is(err, net.ErrClosed); a sync.WaitGroup counts the handlers (wg.Go(func() { handle(conn) })), and main returns after wg.Wait().",
		},
		Check: checkGracefulShutdown,
	})
}

// checkGracefulShutdown opens a connection it sends nothing on yet,
// sends a request whose answer takes 300 ms on another, sends SIGTERM
// while the program works on it, and then wants: the listener gone (a
// new connection refused), the whole answer, the server's FIN and no
// RST on the connection; then, sent 1.5 s after SIGTERM, the first
// connection's request answered too (judgeIdle); and exit status 0.
func checkGracefulShutdown(c *Check) error {
	p, err := c.Start()
	if err != nil {
		return err
	}
	if err := c.WaitListening(p); err != nil {
		return err
	}
	exitedAt := make(chan time.Time, 1)
	go func() { <-p.Done(); exitedAt <- time.Now() }()

	// A second connection, accepted before SIGTERM, whose request
	// the check sends only later: it is in flight too.
	idle, err := c.Dial()
	if err != nil {
		return c.Fail("the check could not connect: %v", err)
	}
	defer idle.Close()
	conn, err := c.Dial()
	if err != nil {
		return c.Fail("the check could not connect: %v", err)
	}
	defer conn.Close()
	const request, answer = "work\n", "done: work\n"
	if _, err := conn.Write([]byte(request)); err != nil {
		return c.Fail("the check could not send its request: %v", err)
	}
	// The request is in flight once the program has read it: its
	// socket has a file descriptor (accepted) and nothing unread.
	if err := waitRead(c, p, conn, 2*time.Second); err != nil {
		return err
	}
	c.Holds("your program accepted a connection and read its request %q (its answer takes 300 ms)", request)
	if err := waitAccepted(c, p, idle, 2*time.Second); err != nil {
		return err
	}
	c.Holds("your program accepted another connection, whose request the check holds back until %s after SIGTERM", seconds(idleRequestAfter))

	c.Note("the check sends SIGTERM to the server, with a request in flight")
	sentAt := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("sending SIGTERM: %w", err)
	}

	type reply struct {
		got []byte
		err error
		at  time.Time
	}
	replied := make(chan reply, 1)
	go func() {
		// NOTE: a deadline on a connection that works cannot fail.
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := io.ReadAll(conn)
		replied <- reply{got, err, time.Now()}
	}()

	// The listener must go while the request is still in flight: a
	// new connection is refused then.
	var got *reply
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	// Once the answer is in, the listener has a moment more to go: on
	// a busy machine, the program's goroutines may run in either order.
	var grace <-chan time.Time
	listening := true
poll:
	for {
		socks, err := c.Sockets(kernel.Listen)
		if err != nil {
			return err
		}
		listening = slices.ContainsFunc(socks, func(s kernel.Socket) bool { return s.Local.Port() == c.Addr.Port() })
		switch {
		case !listening:
			break poll
		case got != nil && string(got.got) != answer:
			break poll // judged below: the answer is what matters
		case got != nil && grace == nil:
			grace = time.After(100 * time.Millisecond)
		}
		select {
		case r := <-replied:
			got = &r
		case <-grace:
			break poll
		case <-tick.C:
		}
	}
	if !listening {
		gone := time.Since(sentAt)
		late, err := c.Dial()
		if err == nil {
			late.Close()
			return c.Fail("your program's listener was gone from the kernel's sockets %s after SIGTERM, but a new connection was accepted", ms(gone))
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return c.Fail("your program's listener was gone %s after SIGTERM, and a new connection failed, not refused: %v", ms(gone), err)
		}
		c.Holds("%s after SIGTERM your program no longer listened: a new connection was refused (its SYN got RST, the refusal, on a connection of its own)", ms(gone))
		if got == nil {
			r := <-replied
			got = &r
		}
	} else if string(got.got) == answer {
		c.Show(conn)
		return c.Fail("your program still listened on %s when its answer came, %s after SIGTERM: a server that is stopping should stop accepting at once (close its listener), so that new clients are refused and go elsewhere", c.Addr, ms(got.at.Sub(sentAt)))
	}

	server, client := Ends(conn)
	segs := segmentEvents(c, server, client)
	var fin, rst time.Time
	for _, e := range segs {
		if e.Packet.Src != client {
			continue
		}
		if HasFlag(e.Packet, "FIN") && fin.IsZero() {
			fin = e.Time
		}
		if HasFlag(e.Packet, "RST") && rst.IsZero() {
			rst = e.Time
		}
	}
	// The program's state when its end closed: a program that
	// closed first and exited well after (150 ms: the check may see
	// an exit late on a busy machine) closed the connection itself.
	state := func(at time.Time) string {
		if p.Exited() == "" {
			return "your program is still running"
		}
		t := <-exitedAt
		exitedAt <- t
		after := ms(t.Sub(sentAt))
		switch {
		case at.IsZero() || p.Exited() == "signal: terminated":
			return fmt.Sprintf("your program ended (%s) %s after SIGTERM", p.Exited(), after)
		case t.After(at.Add(150 * time.Millisecond)):
			return fmt.Sprintf("your program was still running then (it ended, %s, %s after SIGTERM): it closed that connection itself, before the answer", p.Exited(), after)
		}
		return fmt.Sprintf("your program ended (%s) %s after SIGTERM, with the request in flight: the kernel closes the sockets of a program that ends, answered or not", p.Exited(), after)
	}
	if string(got.got) != answer {
		c.Show(conn)
		p.Wait(time.Second)
		what := fmt.Sprintf("%q", got.got)
		if len(got.got) == 0 {
			what = "nothing"
		}
		var end string
		switch {
		case !rst.IsZero():
			end = fmt.Sprintf("RST from your program's end %s after SIGTERM", ms(rst.Sub(sentAt)))
		case !fin.IsZero():
			end = fmt.Sprintf("FIN from your program's end %s after SIGTERM", ms(fin.Sub(sentAt)))
		case errors.Is(got.err, os.ErrDeadlineExceeded):
			end = "no end within 3 s"
		default:
			end = fmt.Sprint(got.err)
		}
		at := fin
		if at.IsZero() {
			at = rst
		}
		msg := fmt.Sprintf("the request in flight got %s instead of %q: %s; %s", what, answer, end, state(at))
		if p.Exited() == "signal: terminated" {
			msg += ": SIGTERM's default action ended it, and its kernel closed its sockets, answered or not"
		}
		return c.Fail("%s", msg)
	}
	c.Holds("the request in flight got its whole answer %q, %s after SIGTERM", answer, ms(got.at.Sub(sentAt)))
	if !rst.IsZero() {
		c.Show(conn)
		return c.Fail("the answer came whole, but your program's end then sent RST on that connection")
	}
	if fin.IsZero() {
		c.Show(conn)
		return c.Fail("the answer came, but the capture shows no FIN from your program's end")
	}
	c.Holds("then your program's FIN, and no RST on that connection")
	if err := judgeIdle(c, p, idle, sentAt, exitedAt); err != nil {
		return err
	}
	if !p.Wait(2 * time.Second) {
		return c.Fail("your program answered, but was still running 2 s later: once the requests in flight are answered, it should exit")
	}
	if code := p.ExitCode(); code != 0 {
		return c.Fail("your program answered, then ended with %s: a graceful stop exits with status 0 (a service manager reads anything else as a failure)", p.Exited())
	}
	c.Holds("%s", state(time.Time{}))
	return nil
}

// idleRequestAfter is when, after SIGTERM, the check sends the request
// of the connection it held back.
const idleRequestAfter = 1500 * time.Millisecond

// judgeIdle sends the request of idle, a connection the program
// accepted before SIGTERM, idleRequestAfter after SIGTERM (sentAt),
// and wants its whole answer: a server that stops serves every
// connection it accepted, not only the requests already read. A
// program that ends first fails, with what the capture shows on that
// connection. exitedAt holds the time the program ended, once it has.
func judgeIdle(c *Check, p *Program, idle net.Conn, sentAt time.Time, exitedAt chan time.Time) error {
	const request, answer = "later\n", "done: later\n"
	wait := time.NewTimer(time.Until(sentAt.Add(idleRequestAfter)))
	defer wait.Stop()
	select {
	case <-p.Done():
		c.Show(idle)
		t := <-exitedAt
		exitedAt <- t
		server, client := Ends(idle)
		end := "the capture shows nothing from your program's end on it"
		for _, e := range segmentEvents(c, server, client) {
			if e.Packet.Src == client && (HasFlag(e.Packet, "FIN") || HasFlag(e.Packet, "RST")) {
				flag := "FIN"
				if HasFlag(e.Packet, "RST") {
					flag = "RST"
				}
				end = fmt.Sprintf("%s from your program's end %s after SIGTERM", flag, ms(e.Time.Sub(sentAt)))
				// As in checkGracefulShutdown: 150 ms for an exit
				// the check sees late on a busy machine.
				if t.After(e.Time.Add(150 * time.Millisecond)) {
					end += ", while it was still running: it closed that connection itself"
				} else {
					end += ", as it ended: the kernel closes the sockets of a program that ends"
				}
				break
			}
		}
		return c.Fail("your program ended (%s) %s after SIGTERM, before the other connection it had accepted sent its request (the check sends it %s after SIGTERM): %s. A server that stops serves every connection it accepted: wait for their handlers to finish", p.Exited(), ms(t.Sub(sentAt)), seconds(idleRequestAfter), end)
	case <-wait.C:
	}
	c.Note("the check sends the request it held back, on a connection your program accepted before SIGTERM")
	if _, err := idle.Write([]byte(request)); err != nil {
		c.Show(idle)
		return c.Fail("the check could not send its request on the other connection, %s after SIGTERM: %v", seconds(idleRequestAfter), err)
	}
	// NOTE: a deadline on a connection that works cannot fail.
	_ = idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(idle)
	if string(got) != answer {
		c.Show(idle)
		what := fmt.Sprintf("%q", got)
		if len(got) == 0 {
			what = "nothing"
		}
		why := fmt.Sprint(err)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			why = "no end within 2 s"
		case err == nil:
			why = "then your program's FIN"
		}
		state := "your program was still running"
		if p.Exited() != "" {
			state = "your program ended (" + p.Exited() + ")"
		}
		return c.Fail("the request the check sent %s after SIGTERM, on a connection your program had accepted before it, got %s instead of %q: %s; %s", seconds(idleRequestAfter), what, answer, why, state)
	}
	c.Holds("the request sent %s after SIGTERM, on a connection your program accepted before it, got its whole answer %q", seconds(idleRequestAfter), answer)
	return nil
}

// waitAccepted waits up to d until the program has accepted conn's
// connection, as the kernel shows it: its socket has a file
// descriptor.
func waitAccepted(c *Check, p *Program, conn net.Conn, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, ok := c.PeerSocket(conn); ok && s.Inode != 0 {
			return nil
		}
		select {
		case <-p.Done():
			c.Show(conn)
			return c.Fail("your program ended (%s) before it accepted a second connection", p.Exited())
		case <-deadline.C:
			c.Show(conn)
			return c.Fail("your program did not accept a second connection within %s%s", seconds(d), c.Unserved(conn))
		case <-tick.C:
		}
	}
}

// waitRead waits up to d until the program has accepted conn's
// connection and read what the check sent, as the kernel shows it:
// its socket has a file descriptor and an empty receive queue.
func waitRead(c *Check, p *Program, conn net.Conn, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, ok := c.PeerSocket(conn); ok && s.Inode != 0 && s.RecvQ == 0 {
			return nil
		}
		select {
		case <-p.Done():
			c.Show(conn)
			return c.Fail("your program ended (%s) before it read the request", p.Exited())
		case <-deadline.C:
			c.Show(conn)
			return c.Fail("your program did not read the request within %s%s", seconds(d), c.Unserved(conn))
		case <-tick.C:
		}
	}
}

// ms formats d in milliseconds: "12 ms".
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
