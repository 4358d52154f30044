package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"tcptour/tracer"
)

func init() {
	register(&Exercise{
		Name: "framing", Lesson: "04", Order: 1, Role: "server",
		Title: "Three lines in one segment get three answers; a line in two segments gets one",
		Hints: []string{
			"A Read returns the bytes that have arrived so far, whatever the writes were: one Read may hold three lines, or half of one. The protocol's messages end at \"\\n\", so look for the \"\\n\"s.",
			"Keep the bytes after the last \"\\n\" of a Read: they are the start of a line whose end is still to come. bufio.Reader (ReadString('\\n')) and bufio.Scanner keep them for you.",
			"lines := bufio.NewScanner(conn); for lines.Scan() { fmt.Fprintf(conn, \"%d\\n\", len(lines.Text())) }",
		},
		Check: checkFraming,
	})
}

// checkFraming sends three lines in one write, sees on the wire that
// they went in one segment, and expects three answers; then it sends one
// line in two segments, the second only once the program has read the
// first, and expects one answer.
func checkFraming(c *Check) error {
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
	conn, err := c.Dial()
	if err != nil {
		return c.Fail("the client could not connect: %v", err)
	}
	defer conn.Close()
	c.Show(conn)
	client, server := Ends(conn)
	answers := bufio.NewReader(conn)

	// Three lines, one Write: on loopback, one segment.
	three := "one\ntwo\nthree\n"
	if _, err := conn.Write([]byte(three)); err != nil {
		return c.Fail("the client could not send %q: %v", three, err)
	}
	var segs []*tracer.Packet
	waitWire(c, time.Second, func() bool {
		segs = dataSegments(c.Segments(client, server), client)
		return len(segs) > 0 && segs[len(segs)-1].Seq+uint32(segs[len(segs)-1].Len) >= uint32(1+len(three))
	})
	if len(segs) == 1 && segs[0].Len == len(three) {
		c.Holds("the client wrote %q in one Write, and it went in one segment (%s)", three, Describe(segs[0]))
	}
	got, err := readLines(conn, answers, 3, time.Second)
	if want := []string{"3", "3", "5"}; !slices.Equal(got, want) {
		why := c.Unserved(conn)
		if s, ok := c.PeerSocket(conn); ok && why == "" && s.RecvQ == 0 && len(got) < len(want) {
			why = fmt.Sprintf(". The kernel says your program has read all %d bytes: its socket's receive queue (Recv-Q) is empty", len(three))
			lines := strings.SplitAfter(three, "\n")[:len(want)]
			switch {
			case len(got) > 0 && slices.Equal(got, want[:len(got)]):
				// The first answers are right: the lines after them
				// were read, and not answered.
				rest := quoteLines(trimNewlines(lines[len(got):]))
				if len(want)-len(got) == 1 {
					why += fmt.Sprintf(", so the other line, %s, was read, and lost in your program", rest)
				} else {
					why += fmt.Sprintf(", so the other lines, %s, were read, and lost in your program", rest)
				}
			case len(got) == 1 && got[0] == fmt.Sprint(len(three)-1):
				why += fmt.Sprintf(": %q is the length of all three lines less the last \"\\n\", taken for one line", got[0]+"\n")
			}
		}
		return c.Fail("the client wrote the three lines %q in one Write, which went in %s, and %s, where three lines want three: %s%s",
			three, plural(len(segs), "segment"), answered(got, err), quoteLines(want), why)
	}
	c.Holds("three lines in one segment got three answers: 3, 3 and 5")

	// One line, two segments: the second written once the program has
	// read the first (the server's ACK is on the wire and its socket's
	// receive queue is empty), so a Read can only return the first part.
	first, second := "hello ", "world\n"
	if _, err := conn.Write([]byte(first)); err != nil {
		return c.Fail("the client could not send %q: %v", first, err)
	}
	end := uint32(1 + len(three) + len(first))
	read := waitWire(c, time.Second, func() bool {
		acked := false
		for _, s := range Sent(c.Segments(client, server), server) {
			if s.Ack >= end {
				acked = true
			}
		}
		s, ok := c.PeerSocket(conn)
		return acked && ok && s.RecvQ == 0
	})
	if !read {
		return c.Fail("the client wrote %q and your program did not read it within 1 s%s", first, c.Unserved(conn))
	}
	c.Holds("the client wrote %q, and your program read it (the server's ACK on the wire, its receive queue empty)", first)
	if _, err := conn.Write([]byte(second)); err != nil {
		return c.Fail("the client could not send %q: %v", second, err)
	}
	waitWire(c, time.Second, func() bool {
		segs = dataSegments(c.Segments(client, server), client)
		return len(segs) > 0 && segs[len(segs)-1].Seq+uint32(segs[len(segs)-1].Len) >= end+uint32(len(second))
	})
	if n := len(segs); n >= 2 && segs[n-2].Len == len(first) && segs[n-1].Len == len(second) {
		c.Holds("then %q: the line went in two segments (%s, then %s)", second, Describe(segs[n-2]), Describe(segs[n-1]))
	}
	got, err = readLines(conn, answers, 1, time.Second)
	if !slices.Equal(got, []string{"11"}) {
		msg := fmt.Sprintf("the client wrote the line %q in two segments, %q and then %q, and %s, where one line wants one: \"11\\n\"",
			first+second, first, second, answered(got, err))
		if len(got) > 0 && got[0] == fmt.Sprint(len(first)) {
			msg += fmt.Sprintf(": %q is the length of %q, the first segment alone, taken for a whole line", got[0]+"\n", first)
		}
		return c.Fail("%s", msg)
	}
	c.Holds("one line in two segments got one answer: 11")
	if p.Exited() != "" {
		return c.Fail("your program ended (%s) while its client was connected", p.Exited())
	}
	return nil
}

// waitWire calls done every 5 ms, the capture and the kernel asked
// afresh each time, until it returns true or d passes; it reports
// whether done came true.
func waitWire(c *Check, d time.Duration, done func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if done() {
			return true
		}
		select {
		case <-deadline.C:
			return done()
		case <-c.Context().Done():
			return false
		case <-tick.C:
		}
	}
}

// dataSegments are the segments of segs that src sent with data.
func dataSegments(segs []*tracer.Packet, src netip.AddrPort) []*tracer.Packet {
	var out []*tracer.Packet
	for _, p := range Sent(segs, src) {
		if p.Len > 0 {
			out = append(out, p)
		}
	}
	return out
}

// readLines reads up to n lines from r, conn's reader, within d, and
// returns them without their "\n"; the error is why it stopped short.
func readLines(conn net.Conn, r *bufio.Reader, n int, d time.Duration) ([]string, error) {
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(d))
	defer conn.SetReadDeadline(time.Time{})
	var lines []string
	for len(lines) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			if line != "" {
				lines = append(lines, line+" (no \\n)")
			}
			return lines, err
		}
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
	return lines, nil
}

// trimNewlines is lines without their "\n"s, as quoteLines takes them.
func trimNewlines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimSuffix(l, "\n")
	}
	return out
}

// quoteLines is the answers as the client read them: "3\n", "3\n".
func quoteLines(lines []string) string {
	q := make([]string, len(lines))
	for i, l := range lines {
		q[i] = fmt.Sprintf("%q", l+"\n")
	}
	return strings.Join(q, ", ")
}

// answered says what came back, for a sentence: "got 1 answer, "13\n"
// (then nothing for 1 s)".
func answered(got []string, err error) string {
	var s string
	if len(got) == 0 {
		s = "got no answer"
	} else {
		s = fmt.Sprintf("got %s, %s", plural(len(got), "answer"), quoteLines(got))
	}
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		s += " (then nothing more within 1 s)"
	default:
		s += fmt.Sprintf(" (then the read failed: %v)", err)
	}
	return s
}
