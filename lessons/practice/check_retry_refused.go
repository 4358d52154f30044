package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
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
// between the SYNs must be at least 50 ms and grow (see judgeWaits).
// Then it runs the client again with nothing listening: it must give up
// after at most 6 attempts, exit status not 0. In the lab, a third run
// gives it an address with no route: one connect, no retry, exit status
// not 0 (judgeOtherError).
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
	return judgeOtherError(c)
}

// unroutable is an address the lab has no route to (it has lo alone):
// a connect there fails at once with ENETUNREACH, "network is
// unreachable", and the kernel counts each such connect in IpOutNoRoutes.
// 192.0.2.1 is TEST-NET-1 (RFC 5737), an address for examples.
var unroutable = netip.MustParseAddrPort("192.0.2.1:6969")

// judgeOtherError runs the client a third time, with an -addr the lab
// has no route to: its connect fails at once, not refused, and the
// client must not try again. No SYN leaves for such a connect, so the
// attempts are counted by the kernel's counter IpOutNoRoutes of the
// lab's network, where only the program connects. On this machine's
// own network, which may route anywhere, this part is left out.
func judgeOtherError(c *Check) error {
	if !lab.Inside() {
		c.Note("not checked on this machine's network: what your client does when a connect fails other than refused (the lab has an address with no route for that)")
		return nil
	}
	noRoutes := func() (int64, error) {
		n, err := kernel.ReadCounters()
		return n["IpOutNoRoutes"], err
	}
	before, err := noRoutes()
	if err != nil {
		return err
	}
	c.Note(fmt.Sprintf("the check starts your client again with -addr %s, an address this lab has no route to: a connect there fails at once with \"network is unreachable\", not refused", unroutable))
	started := time.Now()
	p, err := c.Start("-addr", unroutable.String())
	if err != nil {
		return err
	}
	// A client that retries is caught at its second attempt.
	const bound = 3 * time.Second
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	retried := func(n int64) error {
		return c.Fail("started with -addr %s, an address with no route in the lab, your client tried to connect %d times (the kernel's counter IpOutNoRoutes went up by %d, once for each connect that failed with \"network is unreachable\"): only a refusal is worth waiting for; an error like this one does not go away by waiting, and should be returned at once", unroutable, n, n)
	}
	tried := int64(0)
	for {
		n, err := noRoutes()
		if err != nil {
			return err
		}
		tried = n - before
		if tried > 1 {
			return retried(tried)
		}
		select {
		case <-p.Done():
			if n, err := noRoutes(); err == nil {
				tried = n - before
			}
		case <-deadline.C:
			return c.Fail("started with -addr %s, an address with no route in the lab, your client was still running %s later, after %s that failed with \"network is unreachable\" (the kernel's counter IpOutNoRoutes)", unroutable, seconds(bound), plural(int(tried), "connect"))
		case <-tick.C:
			continue
		}
		break
	}
	switch {
	case tried > 1:
		return retried(tried)
	case tried == 0:
		return c.Fail("started with -addr %s, an address with no route in the lab, your client ended (%s) without a connect that failed with \"network is unreachable\" (the kernel's counter IpOutNoRoutes did not move): it should dial the address its -addr flag gives", unroutable, p.Exited())
	case p.ExitCode() == 0:
		return c.Fail("started with -addr %s, an address with no route in the lab, your client tried once (\"network is unreachable\") and ended with exit status 0: a client that could not connect should say so in its exit status", unroutable)
	}
	c.Holds("run with -addr %s, an address with no route in the lab, your client tried to connect once (\"network is unreachable\", the kernel's counter IpOutNoRoutes up by 1) and gave up: it ended (%s) %s after it started", unroutable, p.Exited(), ms(time.Since(started)))
	return nil
}

// lateSleep is how late judgeWaits allows a sleep to come out on a busy
// machine.
const lateSleep = 75 * time.Millisecond

// judgeWaits checks the gaps between the SYNs of tries: none under
// 50 ms (a loop that does not wait), and, with grow, each wait from the
// third on at least 1.6 times the one before it (doubling is 2 times),
// or 3.2 times the one before that (doubling is 4 times). A sleep is
// never early but may come out late on a busy machine, and late waits
// must not turn a backoff into a failure: the earlier wait counts less
// the lateness a busy machine gives it (lateSleep; 29 and 50 ms late in
// a row once, beside other tests). Waits that grow by a fixed step
// fail: 100, 200, 300, 400 ms by their span, 1 s where the task's waits
// take 1.5 s; 200, 400, 600, 800 ms at the last wait (800 ms, not 1.6
// times 600 less the lateness). total is how many SYNs the client sent
// in all, for the message.
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
	if !grow {
		return nil
	}
	for i := 2; i < len(gaps); i++ {
		g, before, twoBefore := float64(gaps[i]), float64(gaps[i-1]-lateSleep), float64(gaps[i-2]-lateSleep)
		if g >= 1.6*before || g >= 3.2*twoBefore {
			continue
		}
		return c.Fail("your client's SYNs were %s apart: wait %d (%s) is not 1.6 times the one before it (%s), nor 3.2 times the one before that (%s), even were those %s late, so the waits do not double. A wait that grows slower than that keeps every client of a server that is down knocking at nearly the same rate; make each wait twice the last", list, i+1, gapWords(gaps[i]), gapWords(gaps[i-1]), gapWords(gaps[i-2]), ms(lateSleep))
	}
	// The task's first four waits, 100, 200, 400 and 800 ms, take
	// 1.5 s, and a sleep is never early: a span much shorter than that
	// had shorter waits, however late one of them came out. (The
	// ratios alone pass waits that grow by a fixed step when the
	// last sleep comes out late on a busy machine.)
	const taskSpan, spanFloor = 1500 * time.Millisecond, 1400 * time.Millisecond
	if span := tries[len(tries)-1].syn.Sub(tries[0].syn); len(gaps) == 4 && span < spanFloor {
		return c.Fail("your client's SYNs were %s apart, %s from the first to the fifth: the task's waits, 100, 200, 400 and 800 ms, take %s, and a sleep is never early, so your client's waits were shorter than the task's; start at 100 ms and make each wait twice the last", list, ms(span), seconds(taskSpan))
	}
	c.Holds("the waits between your client's SYNs grow as a doubling backoff's do: %s", list)
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
