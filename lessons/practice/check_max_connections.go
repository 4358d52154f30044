package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"tcptour/tracer"
)

func init() {
	register(&Exercise{
		Name: "max-connections", Lesson: "07", Order: 1, Role: "server",
		Title: "Node's maxConnections in Go: at most 2 at once, the extra one closed at once",
		Hints: []string{
			"Your program cannot refuse a handshake: the kernel completes it before Accept returns. What it can do, as Node does, is accept the extra connection and close it at once.",
			"Keep a count of the connections open: the accept loop checks it and raises it, and each serving goroutine lowers it when it ends (sync/atomic's Int32, or a mutex, since goroutines end at any time). Do not stop calling Accept: the extra client would wait in the kernel's queue, unanswered.",
			"var open atomic.Int32; after Accept: if open.Load() >= maxConnections { conn.Close(); continue }; open.Add(1); go func() { defer open.Add(-1); serve(conn) }()",
		},
		Check: checkMaxConnections,
	})
}

// checkMaxConnections connects two clients that are served, a third
// that must be closed at once (the server's FIN, no data), checks that
// the first two are still served, and, once the first has left, that a
// fourth is served.
func checkMaxConnections(c *Check) error {
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
	kept := make([]net.Conn, 2)
	for i := range kept {
		conn, err := c.Dial()
		if err != nil {
			return c.Fail("client %d could not connect: %v", i+1, err)
		}
		defer conn.Close()
		kept[i] = conn
		line := fmt.Sprintf("I am client %d", i+1)
		if err := askLine(conn, line, strings.ToUpper(line), 2*time.Second); err != nil {
			c.Show(conn)
			return c.Fail("client %d sent %q, with %d connected, and %v%s", i+1, line+"\n", i+1, err, c.Unserved(conn))
		}
	}
	c.Holds("clients 1 and 2 are served at once")

	// The third: the kernel completes its handshake whatever the
	// program does; then the program must close it at once.
	extra, err := c.Dial()
	if err != nil {
		return c.Fail("client 3 could not connect: %v (the kernel completes the handshake even over the limit: it is the program that closes)", err)
	}
	defer extra.Close()
	c.Holds("client 3's connect succeeded: the kernel completed its handshake")
	_ = extra.SetReadDeadline(time.Now().Add(time.Second))
	got, err := io.ReadAll(extra)
	switch {
	case len(got) > 0:
		c.Show(extra)
		return c.Fail("your program sent client 3 %q, with clients 1 and 2 connected: over the limit it should close the connection at once, without a word", got)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.Show(extra)
		s, ok := c.PeerSocket(extra)
		if ok && s.Inode == 0 {
			return c.Fail("client 3 connected while clients 1 and 2 were, and for 1 s nothing came, no FIN: the kernel says your program never accepted it (its socket has no file descriptor, inode 0, and waits in the listener's queue). Node's maxConnections accepts the extra connection and closes it at once; not accepting leaves it waiting")
		}
		if !ok {
			return c.Fail("client 3 connected while clients 1 and 2 were, and for 1 s nothing came, no FIN: your program kept it open, 3 connections at once, where the limit is 2")
		}
		return c.Fail("client 3 connected while clients 1 and 2 were, and for 1 s nothing came, no FIN: the kernel shows that your program accepted the connection (its socket has a file descriptor) and keeps it open (%s), with clients 1 and 2 still connected: 3 connections at once, where the limit is 2", s.State)
	case errors.Is(err, syscall.ECONNRESET):
		c.Show(extra)
		return c.Fail("client 3's connection was reset (RST), not closed: Close sends FIN, as Node's maxConnections does")
	case err != nil:
		c.Show(extra)
		return c.Fail("client 3's read failed: %v", err)
	}
	client, server := Ends(extra)
	var fin *tracer.Event
	var segs []tracer.Event
	waitWire(c, time.Second, func() bool {
		segs = timedSegments(c, client, server)
		fin = firstFIN(segs, server)
		return fin != nil
	})
	if fin == nil {
		c.Show(extra)
		return c.Fail("client 3's read ended without data (io.EOF), but no FIN from your program is in the capture")
	}
	// The handshake ends with the client's first segment after its SYN.
	handshake := segs[0].Time
	for _, e := range segs {
		if e.Packet.Src == client && !HasFlag(e.Packet, "SYN") {
			handshake = e.Time
			break
		}
	}
	c.Holds("your program closed client 3's connection at once: its FIN came %s after the handshake, with no data before it (%s)", roundMs(fin.Time.Sub(handshake)), Describe(fin.Packet))

	// Clients 1 and 2 are still served.
	for i, conn := range kept {
		line := fmt.Sprintf("still here, %d", i+1)
		if err := askLine(conn, line, strings.ToUpper(line), 2*time.Second); err != nil {
			c.Show(conn)
			return c.Fail("after client 3 was turned away, client %d sent %q and %v", i+1, line+"\n", err)
		}
	}
	c.Holds("clients 1 and 2 are still served")

	// Client 1 leaves: once your program has closed its end too, its
	// place is free.
	_ = kept[0].Close()
	left := waitWire(c, time.Second, func() bool { return sentFIN(c, kept[0]) })
	if !left {
		c.Show(kept[0])
		return c.Fail("client 1 closed, and within 1 s no FIN came from your program on its connection: it has not closed its end, so the connection still counts")
	}
	c.Holds("client 1 left, and your program closed its end (its FIN on the wire)")

	// The goroutine that served client 1 lowers the count just after
	// its Close: client 4 may try again for up to 1 s.
	line := "I am client 4"
	pause := 10 * time.Millisecond
	tries := 0
	for {
		tries++
		conn, err := c.Dial()
		if err != nil {
			return c.Fail("client 4 could not connect: %v", err)
		}
		defer conn.Close()
		answer, err := askOnce(conn, line, 2*time.Second)
		if err == nil && answer == strings.ToUpper(line)+"\n" {
			break
		}
		turnedAway := answer == "" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET))
		if !turnedAway {
			c.Show(conn)
			if err != nil {
				return c.Fail("after client 1 left, client 4 sent %q and its read failed: %v", line+"\n", err)
			}
			return c.Fail("after client 1 left, client 4 sent %q and got %q back", line+"\n", answer)
		}
		if tries == 7 {
			c.Show(conn)
			return c.Fail("after client 1 left (its FIN and your program's on the wire), only client 2 is connected, yet client 4 was closed at once, with no answer, each of the %d times it connected over 0.6 s: the place client 1 left is not free again", tries)
		}
		// NOTE: a pause, doubled at each try, for the goroutine that
		// served client 1 to end.
		pause *= 2
		select {
		case <-time.After(pause / 2):
		case <-c.Context().Done():
			return c.Context().Err()
		}
	}
	c.Holds("client 4, connected after client 1 left, is served")
	if p.Exited() != "" {
		return c.Fail("your program ended (%s) while its clients were connected", p.Exited())
	}
	return nil
}

// askOnce writes line and a newline to conn and reads what comes back
// up to a newline, within d.
func askOnce(conn net.Conn, line string, d time.Duration) (string, error) {
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(d))
	defer conn.SetReadDeadline(time.Time{})
	return bufio.NewReader(conn).ReadString('\n')
}

// roundMs is d to the millisecond, or to 0.1 ms under 10 ms ("3.2
// ms"), or in microseconds under 1 ms ("40 µs").
func roundMs(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return seconds(d.Round(time.Millisecond))
}

// timedSegments are the events of the TCP segments captured on the
// connection between a and b, in time order: c.Segments with each
// segment's time.
func timedSegments(c *Check, a, b netip.AddrPort) []tracer.Event {
	var out []tracer.Event
	for _, e := range c.Events() {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" {
			continue
		}
		if p.Src == a && p.Dst == b || p.Src == b && p.Dst == a {
			out = append(out, e)
		}
	}
	return out
}
