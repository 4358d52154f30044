package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"time"

	"tcptour/tracer"
)

func init() {
	register(&Exercise{
		Name: "retry-refused", Lesson: "09", Order: 2, Role: "client",
		Title: "A client that retries a refused connect, waiting longer each time",
		Hints: []string{
			"A refused connect fails in microseconds: the server's kernel answers the SYN with RST. To try again later, the client has to wait itself, with time.Sleep, between attempts.",
			"Keep the wait in a variable: start at 100 ms and double it after each refusal, so that each wait is longer than the last. Stop after the 6th attempt and return its error: with nobody listening, the client must give up and exit with a failure.",
			"for attempt := 1; ; attempt++ { conn, err := net.Dial(\"tcp\", addr); if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || attempt == 6 { return conn, err }; time.Sleep(wait); wait *= 2 }",
		},
		Check: checkRetryRefused,
	})
}

// attemptSYN is one connect the client tried: its SYN and, when the
// kernel refused it, the RST.
type attemptSYN struct {
	port    uint16
	syn     time.Time
	refused bool
}

// checkRetryRefused lets the client's first four connects be refused
// (nothing listens), then listens: the fifth connects. The waits
// between the SYNs must be at least 50 ms and grow (see judgeWaits). Then it runs the client again with nothing
// listening: it must give up after at most 6 attempts, exit status
// not 0.
func checkRetryRefused(c *Check) error {
	p, err := c.Start()
	if err != nil {
		return err
	}
	const refusals = 4
	bound := 5 * time.Second
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var tries []attemptSYN
wait:
	for {
		tries = attempts(c, time.Time{})
		if countRefused(tries) >= refusals {
			break
		}
		select {
		case <-p.Done():
			tries = attempts(c, time.Time{})
			n := countRefused(tries)
			switch {
			case n >= refusals:
				// The refusals came, and so did its end: judged below.
				break wait
			case len(tries) == 0:
				return c.Fail("your program ended (%s) without trying to connect to %s", p.Exited(), c.Addr)
			case n < len(tries):
				return c.Fail("your client sent %s to %s (%d refused with RST) and ended (%s)", plural(len(tries), "SYN"), c.Addr, n, p.Exited())
			case len(tries) == 1:
				return c.Fail("your client tried once: its SYN was refused (answered with RST: nobody listened yet), and it ended (%s) without trying again", p.Exited())
			}
			return c.Fail("your client tried %s, each refused (its SYN answered with RST: nobody listened yet), and then ended (%s) without trying again", plural(len(tries), "time"), p.Exited())
		case <-deadline.C:
			return c.Fail("in %s your client tried %s, each refused, and no more: wait 100 ms after the first refusal, then longer each time", seconds(bound), plural(len(tries), "time"))
		case <-tick.C:
		}
	}
	c.Holds("nothing listened on %s: your client's first %d SYNs were refused, each with RST", c.Addr, refusals)
	if err := judgeWaits(c, tries[:refusals], len(tries), false); err != nil {
		return err
	}

	ln, err := c.Listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	c.Note("the check's server listens now, after the client's fourth refused connect")
	conn, err := acceptFrom(c, ln, p, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		c.Show(conn)
		return c.Fail("your client connected, but the check's server did not get its line: %v", err)
	}
	// NOTE: the client may have gone: its exit is judged below.
	_, _ = conn.Write([]byte("hello to you\n"))
	if !p.Wait(2 * time.Second) {
		return c.Fail("your client connected and sent %q, got its answer, and was still running 2 s later", line)
	}
	tries = attempts(c, time.Time{})
	if len(tries) != refusals+1 || countRefused(tries) != refusals {
		return c.Fail("your client made %d connects (%d refused); once the server listened, one more should have connected", len(tries), countRefused(tries))
	}
	if err := judgeWaits(c, tries, len(tries), true); err != nil {
		return err
	}
	c.Holds("once the check listened, your client's attempt %d connected and sent %q", len(tries), strings.TrimSuffix(line, "\n"))
	if code := p.ExitCode(); code != 0 {
		return c.Fail("your client connected, then ended with %s", p.Exited())
	}
	c.Holds("your client ended with exit status 0")

	// Then with nothing listening at all: the client must give up.
	if err := ln.Close(); err != nil {
		return err
	}
	c.Note("the check stops listening and starts your client again: nothing will accept it now")
	again := time.Now()
	p2, err := c.Start()
	if err != nil {
		return err
	}
	const most, giveUp = 6, 6 * time.Second
	if !p2.Wait(giveUp) {
		return c.Fail("with nothing listening, your client was still trying %s after it started, %s refused so far: it should give up after attempt %d", seconds(giveUp), plural(len(attempts(c, again)), "SYN"), most)
	}
	tries = attempts(c, again)
	if len(tries) > most {
		return c.Fail("with nothing listening, your client tried %d times before it gave up: at most %d", len(tries), most)
	}
	if p2.ExitCode() == 0 {
		return c.Fail("with nothing listening, your client gave up after %s but ended with exit status 0: a client that could not connect should say so in its exit status", plural(len(tries), "attempt"))
	}
	c.Holds("run again with nothing listening, your client gave up after %s, %s after it started (%s)", plural(len(tries), "attempt"), ms(time.Since(again)), p2.Exited())
	return nil
}

// judgeWaits checks the gaps between the SYNs of tries: none under
// 50 ms (a loop that does not wait), and, with grow, the last at least
// 2.5 times the shortest before it (waits that grow: 1.5 times each,
// over three steps, is 3.4 times). A sleep is never early but may be
// late on a busy machine, so the check compares the last wait with
// the shortest rather than each with the one before: one late wait
// does not turn a backoff into a failure. total is how many SYNs the
// client sent in all, for the message.
func judgeWaits(c *Check, tries []attemptSYN, total int, grow bool) error {
	var gaps []time.Duration
	for i := 1; i < len(tries); i++ {
		gaps = append(gaps, tries[i].syn.Sub(tries[i-1].syn))
	}
	words := make([]string, len(gaps))
	for i, g := range gaps {
		words[i] = gapWords(g)
	}
	list := strings.Join(words, ", then ")
	if len(gaps) > 0 && slices.Min(gaps) < 50*time.Millisecond {
		return c.Fail("your client's SYNs were %s apart (%s in all): it tries again without waiting, and a refusal takes microseconds, so a loop without a wait is over before a server that is starting has a chance, and hammers one that is down", list, plural(total, "SYN"))
	}
	if !grow || len(gaps) < 2 {
		return nil
	}
	last, shortest := gaps[len(gaps)-1], slices.Min(gaps[:len(gaps)-1])
	if float64(last) < 2.5*float64(shortest) {
		return c.Fail("your client's SYNs were %s apart: the last wait (%s) is not 2.5 times the shortest before it (%s), the waits do not grow enough. A wait that does not grow keeps every client of a server that is down knocking at the same rate; double it each time", list, gapWords(last), gapWords(shortest))
	}
	c.Holds("the waits between your client's SYNs grow: %s", list)
	return nil
}

// gapWords is a wait between two SYNs: "201 ms", "0.04 ms".
func gapWords(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return ms(d)
}

// attempts lists the connects the client has tried so far, since
// since, as the capture saw them: each SYN to the check's address, and
// whether an RST answered it.
func attempts(c *Check, since time.Time) []attemptSYN {
	var out []attemptSYN
	index := map[uint16]int{}
	for _, e := range c.Events() {
		s := e.Packet
		if e.Phase != tracer.PhasePacket || s == nil || s.Proto != "tcp" || e.Time.Before(since) {
			continue
		}
		switch {
		case s.Dst == c.Addr && HasFlag(s, "SYN") && !HasFlag(s, "ACK"):
			if _, seen := index[s.Src.Port()]; !seen {
				index[s.Src.Port()] = len(out)
				out = append(out, attemptSYN{port: s.Src.Port(), syn: e.Time})
			}
		case s.Src == c.Addr && HasFlag(s, "RST"):
			if i, ok := index[s.Dst.Port()]; ok {
				out[i].refused = true
			}
		}
	}
	return out
}

func countRefused(tries []attemptSYN) int {
	n := 0
	for _, t := range tries {
		if t.refused {
			n++
		}
	}
	return n
}
