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
		Name: "read-deadline", Lesson: "15", Order: 1, Role: "server",
		Title: "A read deadline that drops a client silent for 1 s, and keeps one that talks",
		Hints: []string{
			"A silent peer sends nothing, so Read has nothing to return: it waits for ever unless the connection has a deadline. conn.SetReadDeadline(t) makes any Read still waiting at t fail with os.ErrDeadlineExceeded; then close.",
			"A deadline is a moment, not a duration: set once, it passes however much the client talks. Set it again before each read, idleTimeout from now.",
			"In the loop, before each read: conn.SetReadDeadline(time.Now().Add(idleTimeout)); when the read fails (os.ErrDeadlineExceeded or io.EOF), return, and the deferred Close sends FIN.",
		},
		Check: checkReadDeadline,
	})
}

// checkReadDeadline connects a client that sends one line and then
// stays silent: the program's FIN must follow its last line by about
// 1 s, on the wire. Meanwhile a second client sends a line every 300 ms
// for 1.8 s: each must be answered, and no FIN come.
func checkReadDeadline(c *Check) error {
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
	silent, err := c.Dial()
	if err != nil {
		return c.Fail("client 1 could not connect: %v", err)
	}
	defer silent.Close()
	if err := askLine(silent, "anyone there?", "ANYONE THERE?", 2*time.Second); err != nil {
		c.Show(silent)
		return c.Fail("client 1 sent %q and %v%s", "anyone there?\n", err, c.Unserved(silent))
	}
	c.Holds("client 1 sent a line and got its answer; from then on it says nothing")
	// Client 1 reads until the program closes, for up to 2.5 s.
	var (
		silentGot []byte
		silentErr error
		silentEnd = make(chan struct{})
	)
	// NOTE: a deadline on a connection that works cannot fail.
	_ = silent.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
	go func() {
		defer close(silentEnd)
		silentGot, silentErr = io.ReadAll(silent)
	}()
	defer func() { _ = silent.Close(); <-silentEnd }()

	talker, err := c.Dial()
	if err != nil {
		return c.Fail("client 2 could not connect: %v", err)
	}
	defer talker.Close()
	const lines, every = 7, 300 * time.Millisecond
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 1; i <= lines; i++ {
		line := fmt.Sprintf("line %d of %d", i, lines)
		if err := askLine(talker, line, strings.ToUpper(line), time.Second); err != nil {
			c.Show(talker)
			return c.Fail("client 2 sends a line every 300 ms; its line %d, %q, %v%s", i, line+"\n", err, dropped(c, talker, "client 2"))
		}
		if i < lines {
			<-tick.C
		}
	}
	if s, ok := c.PeerSocket(talker); ok && s.State != kernel.Established {
		c.Show(talker)
		return c.Fail("client 2 sent a line every 300 ms, each answered, but the kernel shows your program's end of its connection in %s, not ESTABLISHED%s", s.State, dropped(c, talker, "client 2"))
	}
	c.Holds("client 2 sent a line every 300 ms for %s, each answered, and is still connected", seconds((lines-1)*every))

	<-silentEnd
	switch {
	case errors.Is(silentErr, os.ErrDeadlineExceeded):
		c.Show(silent)
		fin := "no FIN on the wire"
		if sentFIN(c, silent) {
			fin = "its FIN is on the wire, but client 1's read did not end"
		}
		if s, ok := c.PeerSocket(silent); ok {
			fin += fmt.Sprintf(", and the kernel shows your program's end still %s", s.State)
		}
		return c.Fail("client 1 said nothing after its answer, and 2.5 s later your program had still not closed the connection: %s", fin)
	case silentErr != nil:
		c.Show(silent)
		return c.Fail("client 1 said nothing after its answer, and its read failed: %v (a Close sends FIN; this is not one)", silentErr)
	}
	client, server := Ends(silent)
	segs := timedSegments(c, client, server)
	lastLine, fin := lastData(segs, client), firstFIN(segs, server)
	if lastLine == nil || fin == nil {
		c.Show(silent)
		return c.Fail("client 1's read ended (io.EOF), but the capture does not show its last line and your program's FIN")
	}
	idle := fin.Time.Sub(lastLine.Time)
	said := ""
	if len(silentGot) > 0 {
		said = fmt.Sprintf(", after it sent %q", silentGot)
	}
	switch {
	case idle < 900*time.Millisecond:
		c.Show(silent)
		return c.Fail("your program closed client 1's connection (its FIN) %s after client 1's last line%s: client 1 was silent for less than 1 s", roundMs(idle), said)
	case idle > 1800*time.Millisecond:
		c.Show(silent)
		return c.Fail("your program closed client 1's connection (its FIN) only %s after client 1's last line%s, where a client silent for 1 s should be dropped", roundMs(idle), said)
	}
	c.Holds("your program dropped client 1: its FIN came %s after client 1's last line", roundMs(idle))
	if p.Exited() != "" {
		return c.Fail("your program ended (%s) while a client was connected", p.Exited())
	}
	return nil
}

// dropped says, to end a sentence, when the program's FIN on conn came,
// as captured: after the connect and after the client's last line.
func dropped(c *Check, conn net.Conn, who string) string {
	client, server := Ends(conn)
	segs := timedSegments(c, client, server)
	fin := firstFIN(segs, server)
	if fin == nil || len(segs) == 0 {
		return ""
	}
	var last *tracer.Event
	for i := range segs {
		if segs[i].Time.Before(fin.Time) && segs[i].Packet.Src == client && segs[i].Packet.Len > 0 {
			last = &segs[i]
		}
	}
	s := fmt.Sprintf(". Your program closed the connection: its FIN came %s after %s connected", roundMs(fin.Time.Sub(segs[0].Time)), who)
	if last != nil {
		s += fmt.Sprintf(", %s after %s's last line before it: dropped while it talked", roundMs(fin.Time.Sub(last.Time)), who)
	}
	return s
}

// lastData is the last segment src sent with data, nil if none.
func lastData(segs []tracer.Event, src netip.AddrPort) *tracer.Event {
	var last *tracer.Event
	for i := range segs {
		if segs[i].Packet.Src == src && segs[i].Packet.Len > 0 {
			last = &segs[i]
		}
	}
	return last
}

// firstFIN is the first segment src sent with FIN, nil if none.
func firstFIN(segs []tracer.Event, src netip.AddrPort) *tracer.Event {
	for i := range segs {
		if segs[i].Packet.Src == src && HasFlag(segs[i].Packet, "FIN") {
			return &segs[i]
		}
	}
	return nil
}
