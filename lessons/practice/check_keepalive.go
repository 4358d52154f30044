package main

import (
	"bufio"
	"fmt"
	"slices"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

func init() {
	register(&Exercise{
		Name: "keepalive", Lesson: "15", Order: 1, Role: "client",
		Title: "Notice a dead server within seconds, with keepalive probes",
		Link:  &link.Config{DelayToServer: 10 * time.Millisecond, DelayToClient: 10 * time.Millisecond},
		Hints: []string{
			"A server whose cable is cut sends nothing, not even a FIN or an RST: a read waits for ever. Only sending something finds out, and on an idle connection keepalive probes do that.",
			"Go turns keepalive on for every connection it dials, with its own timing: the first probe after 15 s of silence, then one every 15 s, 9 in all (Go's defaults; Linux's own, without Go, are 2 hours, 75 s and 9). net.Dialer's KeepAliveConfig sets the idle time, the interval and the count.",
			"d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 3}}; conn, err := d.Dial(\"tcp\", *addr)",
		},
		Check: checkKeepalive,
	})
}

// keepaliveBound is how long after the cut the client must have given
// up: the probes it is asked for take about 4 s.
const keepaliveBound = 6 * time.Second

// checkKeepalive reads the client's request, never answers, and cuts
// the link once the client has the ACK of its request: the server is
// gone as if its cable were cut. The client must send keepalive probes
// (unanswered), end within keepaliveBound, and leave no socket behind.
func checkKeepalive(c *Check) error {
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
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		c.Show(conn)
		return c.Fail("your client connected, but the check's server did not get a line from it: %v", err)
	}
	// The request is acknowledged at the client's end before the cut:
	// otherwise the client would send it again, and notice the cut by
	// its retransmissions rather than by keepalive.
	end := uint32(1 + len(line))
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	acked := time.NewTimer(2 * time.Second)
	defer acked.Stop()
	for {
		if _, ok := arrival(c.Events(), server, "client", end, time.Time{}); ok {
			break
		}
		select {
		case <-acked.C:
			c.Show(conn)
			return c.Fail("the server's ACK of your client's request did not reach it within 2 s")
		case <-tick.C:
		}
	}
	c.Note("the check cuts the link: from now on it drops every segment, both ways")
	// NOTE: ignoring the error: a segment sent just before the cut
	// that passes changes nothing the check asks of the client.
	_ = c.Link().SetRules(link.Rule{Action: link.Drop, Retransmits: link.AllRetransmits})
	cut := time.Now()
	c.Holds("your client sent its request (%d bytes) and got its ACK; then the link was cut, and the server never answers", len(line))

	ended := p.Wait(keepaliveBound)
	var probes []time.Time
	var other []*tracer.Packet
	for _, e := range segmentEvents(c, client, server) {
		s := e.Packet
		if s.Src != client || e.Time.Before(cut) {
			continue
		}
		if s.Flags == "ACK" && s.Len <= 1 && s.Seq == end-1 {
			probes = append(probes, e.Time)
		} else {
			other = append(other, s)
		}
	}
	after := func(ts []time.Time) string {
		var w []string
		for _, t := range ts {
			w = append(w, fmt.Sprintf("%.1f s", t.Sub(cut).Seconds()))
		}
		return joinWords(w)
	}
	if !ended {
		c.Show(conn)
		if len(probes) == 0 {
			return c.Fail("your client was still waiting %s after the link was cut, and its kernel had sent no keepalive probe: a read on a connection whose peer is gone waits until something is sent (Go's default keepalive, for one, sends its first probe after 15 s of silence)", seconds(keepaliveBound))
		}
		return c.Fail("your client was still waiting %s after the link was cut: its kernel sent %s (%s after the cut), unanswered, and had not given the connection up", seconds(keepaliveBound), plural(len(probes), "keepalive probe"), after(probes))
	}
	took := time.Since(cut)
	if len(probes) == 0 {
		c.Show(conn)
		return c.Fail("your client ended (%s) %.1f s after the link was cut, but its kernel sent no keepalive probe: it gave up on silence alone, which would drop a live server that is slow to answer as well. Keepalive asks the peer, and a live one answers", p.Exited(), took.Seconds())
	}
	c.Holds("your client's kernel sent %s after the cut (%s), unanswered", plural(len(probes), "keepalive probe"), after(probes))
	c.Holds("your client ended (%s) %.1f s after the link was cut", p.Exited(), took.Seconds())

	// Its socket is gone: not left to retransmit a FIN on a dead link.
	deadline := time.NewTimer(500 * time.Millisecond)
	defer deadline.Stop()
	for {
		socks, err := c.Sockets()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(socks, func(s kernel.Socket) bool { return s.Local == client && s.Remote == server })
		if i < 0 {
			break
		}
		select {
		case <-deadline.C:
			return c.Fail("your client ended, but its kernel still holds its socket, in %s", socks[i].State)
		case <-tick.C:
		}
	}
	c.Holds("its socket is gone from the kernel: the connection was given up, not left behind")
	return nil
}

// joinWords is "a", "a and b", "a, b and c".
func joinWords(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return fmt.Sprintf("%s and %s", joinComma(w[:len(w)-1]), w[len(w)-1])
}

func joinComma(w []string) string {
	s := w[0]
	for _, x := range w[1:] {
		s += ", " + x
	}
	return s
}
