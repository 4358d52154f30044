package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/link"
)

// nagleOneWay is the link's delay each way, as lesson 14's: a round
// trip of 20 ms.
const nagleOneWay = 10 * time.Millisecond

func init() {
	register(&Exercise{
		Name: "nagle", Lesson: "14", Order: 1, Role: "client",
		Title: "One round trip a message on a 20 ms link, despite Nagle",
		Link:  &link.Config{DelayToServer: nagleOneWay, DelayToClient: nagleOneWay},
		Hints: []string{
			"With Nagle's algorithm on, a small write waits in the kernel while earlier bytes are unacknowledged. The length leaves at once; the text waits for the length's ACK, a round trip or more.",
			"Either give the kernel the whole message at once, so there is no second small write to hold back, or turn Nagle's algorithm off on the socket. A bufio.Writer helps only if it is flushed once a message.",
			"In send: buf := binary.BigEndian.AppendUint32(nil, uint32(len(msg))); buf = append(buf, msg...); conn.Write(buf). Or conn.(*net.TCPConn).SetNoDelay(true).",
		},
		Check: checkNagle,
	})
}

// checkNagle echoes the client's five messages and judges, on the
// wire at the client's end, that no text waited for its length's ACK:
// none left when that ACK came back, a round trip or more after its
// length. The time of each exchange is said, not judged (see below).
func checkNagle(c *Check) error {
	ln, err := c.Listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	p, err := c.Start()
	if err != nil {
		return err
	}
	conn, err := acceptFrom(c, ln, p, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	server, client := Ends(conn)
	c.Holds("your client connected across the link (10 ms each way: a round trip of 20 ms)")

	// The echo server: a length, the text, the text back.
	var sizes []int
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 5 {
		var length [4]byte
		if _, err := io.ReadFull(conn, length[:]); err != nil {
			c.Show(conn)
			return c.Fail("after %s, the check's server could not read a length: %v", plural(len(sizes), "message"), err)
		}
		n := binary.BigEndian.Uint32(length[:])
		if n > 1<<10 {
			c.Show(conn)
			return c.Fail("message %d's length says %d bytes: not a message of the program as written", len(sizes)+1, n)
		}
		text := make([]byte, n)
		if _, err := io.ReadFull(conn, text); err != nil {
			c.Show(conn)
			return c.Fail("the check's server read message %d's length, %d, but not its text: %v", len(sizes)+1, n, err)
		}
		if _, err := conn.Write(text); err != nil {
			c.Show(conn)
			return c.Fail("the check's server could not echo message %d: %v", len(sizes)+1, err)
		}
		sizes = append(sizes, int(n))
	}
	if !p.Wait(3 * time.Second) {
		c.Show(conn)
		return c.Fail("your client got its five echoes and was still running 3 s later")
	}

	events := c.Events()
	// Each message's first byte (its length's) and its last (the end
	// of its text), in the client's sequence space.
	rtt := 2 * nagleOneWay
	off := uint32(1)
	type held struct {
		msg, start      int
		lenSeg, textSeg *tracer.Packet
		lenAt, textAt   time.Time
		ackAt           time.Time
	}
	var waits []string
	var worst *held
	together := 0
	for i, n := range sizes {
		start, end := off, off+4+uint32(n)
		off = end
		lenSeg, lenAt := leaving(events, client, start)
		textSeg, textAt := leaving(events, client, end-1)
		if lenSeg == nil || textSeg == nil {
			c.Show(conn)
			return c.Fail("the capture at your client's end lacks message %d's segments", i+1)
		}
		wait := textAt.Sub(lenAt)
		if lenSeg == textSeg {
			wait = 0
			together++
		}
		waits = append(waits, ms(wait))
		// Nagle's mark: the text left when the length's ACK came
		// back, within a moment of it. A text that left later than
		// that waited for the program, not for the ACK: the time of
		// each exchange, below, judges that.
		if wait < rtt/4 {
			continue
		}
		ackAt, ok := arrival(events, server, "client", start+4, lenAt)
		if !ok || ackAt.After(textAt) || textAt.Sub(ackAt) > 2*time.Millisecond {
			continue
		}
		if worst == nil || wait > worst.textAt.Sub(worst.lenAt) {
			worst = &held{i + 1, int(start), lenSeg, textSeg, lenAt, textAt, ackAt}
		}
	}
	if w := worst; w != nil {
		c.Show(conn)
		start := uint32(w.start)
		msg := fmt.Sprintf("each message's text left your client this long after its length: %s. Message %d's text (%s) left %s after its length (%s), %s after the ACK of the length came back: it waited for that ACK, as Nagle's algorithm holds a small segment while bytes sent before it are unacknowledged",
			strings.Join(waits, ", "), w.msg, Describe(w.textSeg), ms(w.textAt.Sub(w.lenAt)), Describe(w.lenSeg), gapWords(w.textAt.Sub(w.ackAt)))
		if held, ok := ackHeld(events, client, server, start, start+4); ok && held >= 30*time.Millisecond {
			msg += fmt.Sprintf("; and the server's kernel sent that ACK %s after the length reached it (a delayed ACK)", ms(held))
		}
		return c.Fail("%s. One message, one round trip: the text should leave with its length", msg)
	}
	if together == len(sizes) {
		c.Holds("each message left your client in one segment, its length and its text together")
	} else {
		c.Holds("no message's text waited for the ACK of its length: it left %s after it", strings.Join(waits, ", "))
	}
	// Each exchange, from its length leaving the client to the last
	// byte of its echo reaching it, beside the handshake's round trip
	// on this run. Not judged by a bound: on a busy machine the link
	// itself, a program forwarding frames, can take tens of ms more.
	// Nagle's wait is judged above, on the segments.
	var took []string
	off = 1
	echoed := uint32(1)
	for i, n := range sizes {
		_, lenAt := leaving(events, client, off)
		off += 4 + uint32(n)
		echoed += uint32(n)
		backAt, ok := dataArrival(events, server, "client", echoed, lenAt)
		if !ok {
			c.Show(conn)
			return c.Fail("the capture at your client's end lacks message %d's echo", i+1)
		}
		took = append(took, ms(backAt.Sub(lenAt)))
	}
	handshake := ""
	if synAt, ok := synLeft(events, client); ok {
		if synAckAt, ok := arrivalWith(events, server, "client", "SYN", synAt); ok {
			handshake = fmt.Sprintf(" (the handshake's round trip: %s)", ms(synAckAt.Sub(synAt)))
		}
	}
	c.Holds("the exchanges took %s at your client's end, from the length leaving to the echo back%s", strings.Join(took, ", "), handshake)
	if code := p.ExitCode(); code != 0 {
		return c.Fail("your client got its echoes, then ended with %s", p.Exited())
	}
	return nil
}

// leaving finds the data segment from src carrying the byte at
// relative sequence number seq, first sent, as it left src (At is
// src's end): the segment and its time.
func leaving(events []tracer.Event, src interface{ String() string }, seq uint32) (*tracer.Packet, time.Time) {
	for _, e := range events {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" || p.Src.String() != src.String() || p.At != p.From {
			continue
		}
		if p.Len > 0 && p.Seq <= seq && seq < p.Seq+uint32(p.Len) {
			return p, e.Time
		}
	}
	return nil, time.Time{}
}

// arrival is when the first segment from src that acknowledges ack
// (an Ack at or past it) reached the end at, after t.
func arrival(events []tracer.Event, src interface{ String() string }, at string, ack uint32, t time.Time) (time.Time, bool) {
	for _, e := range events {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" || p.Src.String() != src.String() || p.At != at || e.Time.Before(t) {
			continue
		}
		if HasFlag(p, "ACK") && p.Ack >= ack {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// dataArrival is when the first data segment from src whose bytes
// reach up to end (relative, exclusive) reached the end at, after t.
func dataArrival(events []tracer.Event, src interface{ String() string }, at string, end uint32, t time.Time) (time.Time, bool) {
	for _, e := range events {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" || p.Src.String() != src.String() || p.At != at || e.Time.Before(t) {
			continue
		}
		if p.Len > 0 && p.Seq+uint32(p.Len) >= end {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// synLeft is when src's SYN left it.
func synLeft(events []tracer.Event, src interface{ String() string }) (time.Time, bool) {
	for _, e := range events {
		p := e.Packet
		if e.Phase == tracer.PhasePacket && p != nil && p.Proto == "tcp" && p.Src.String() == src.String() && p.At == p.From && HasFlag(p, "SYN") {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// arrivalWith is when the first segment from src with flag
// reached the end at, after t.
func arrivalWith(events []tracer.Event, src interface{ String() string }, at, flag string, t time.Time) (time.Time, bool) {
	for _, e := range events {
		p := e.Packet
		if e.Phase == tracer.PhasePacket && p != nil && p.Proto == "tcp" && p.Src.String() == src.String() && p.At == at && !e.Time.Before(t) && HasFlag(p, flag) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// ackHeld is how long the server's kernel held its ACK of the bytes up
// to ack: from the segment with seq reaching the server to the first
// ACK at or past ack leaving it.
func ackHeld(events []tracer.Event, client, server interface{ String() string }, seq, ack uint32) (time.Duration, bool) {
	var reached time.Time
	for _, e := range events {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" || p.At != "server" {
			continue
		}
		if reached.IsZero() && p.Src.String() == client.String() && p.Len > 0 && p.Seq == seq {
			reached = e.Time
		}
		if !reached.IsZero() && p.Src.String() == server.String() && HasFlag(p, "ACK") && p.Ack >= ack {
			return e.Time.Sub(reached), true
		}
	}
	return 0, false
}
