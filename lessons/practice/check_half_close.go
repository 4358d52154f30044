package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tcptour/tracer"
)

func init() {
	register(&Exercise{
		Name: "half-close", Lesson: "06", Order: 1, Role: "client",
		Title: "A client that half-closes and reads the whole answer",
		Hints: []string{
			"The server reads until EOF, and a read gets EOF only when the other end sends FIN. Your client must send its FIN, and still read.",
			"Close sends FIN too, but gives up the socket: what the server sends afterwards is refused with RST. Close only the sending half: shutdown(SHUT_WR), Node's socket.end().",
			"conn.(*net.TCPConn).CloseWrite() after the request, then read until EOF as the code does.",
		},
		Check: checkHalfClose,
	})
}

// halfCloseAnswer is what the check's server answers: 200 KB that
// take many segments, the same on every run, and not periodic (a
// part in the wrong place changes the hash).
var halfCloseAnswer = func() []byte {
	b := make([]byte, 200<<10)
	r := rand.NewChaCha8([32]byte{'t', 'c', 'p', 't', 'o', 'u', 'r'})
	// NOTE: ChaCha8.Read never fails.
	_, _ = r.Read(b)
	return b
}()

var answerLine = regexp.MustCompile(`answer: (\d+) bytes, sha256 ([0-9a-f]+)`)

// checkHalfClose is the server: it reads the client's request until
// EOF, then answers with 200 KB and closes. The client's FIN must come
// before the answer, and the whole answer must reach the program.
func checkHalfClose(c *Check) error {
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
	c.Holds("your client connected")

	// The server reads the request until EOF: the client's FIN.
	const wait = 2 * time.Second
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	req, err := io.ReadAll(conn)
	_ = conn.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.Show(conn)
		state := "your program is still running, waiting too"
		if p.Exited() != "" {
			state = "your program ended (" + p.Exited() + ")"
		}
		failed := c.Fail("your client sent %s and then no FIN within %s: the server reads the request until EOF, which only the client's FIN gives, so it has not answered; %s", plural(len(req), "byte"), seconds(wait), state)
		// The check ends the program before its server's end closes:
		// that FIN would end the client's read, and the program would
		// go on to print an answer of 0 bytes the server never sent.
		c.Note("the check ends your program (SIGKILL) before its server closes the connection")
		// NOTE: ignoring the error: the program may have ended.
		_ = p.Signal(os.Kill)
		p.Wait(2 * time.Second)
		return failed
	case err != nil:
		c.Show(conn)
		return c.Fail("the server's read of the request failed after %s: %v", plural(len(req), "byte"), err)
	}
	c.Holds("your client sent its request (%s) and then FIN: the server read EOF", plural(len(req), "byte"))

	// NOTE: the write fails when the client refuses the answer; what
	// its end did is judged on the wire below.
	_, _ = conn.Write(halfCloseAnswer)
	_ = conn.Close()
	if !p.Wait(5 * time.Second) {
		c.Show(conn)
		return c.Fail("the server sent its answer (%s) and FIN, and your program had not ended 5 s later", plural(len(halfCloseAnswer), "byte"))
	}

	segs := segmentEvents(c, client, server)
	finAt, dataAt, rstAt := -1, -1, -1
	acked := 0 // the bytes of the answer the client acknowledged before any RST
	for i, e := range segs {
		s := e.Packet
		switch {
		case s.Src == client && HasFlag(s, "FIN") && finAt < 0:
			finAt = i
		case s.Src == server && s.Len > 0 && dataAt < 0:
			dataAt = i
		case s.Src == client && HasFlag(s, "RST") && rstAt < 0:
			rstAt = i
		}
		if s.Src == client && rstAt < 0 && HasFlag(s, "ACK") && int(s.Ack)-1 > acked {
			acked = min(int(s.Ack)-1, len(halfCloseAnswer))
		}
	}
	if finAt < 0 || dataAt >= 0 && dataAt < finAt {
		c.Show(conn)
		return c.Fail("the capture shows no FIN from your client before the server's answer")
	}
	c.Holds("on the wire, your client's FIN (%s) came before the answer's first byte", Describe(segs[finAt].Packet))

	sum := sha256.Sum256(halfCloseAnswer)
	want := fmt.Sprintf("%d bytes, sha256 %x", len(halfCloseAnswer), sum)
	m := answerLine.FindStringSubmatch(p.Output())
	got := "no line \"answer: …\""
	if m != nil {
		got = strings.TrimPrefix(m[0], "answer: ")
	}
	if m == nil || m[0] != "answer: "+want {
		c.Show(conn)
		msg := fmt.Sprintf("your client did not get the whole answer: the server sent %s, your program printed %s", want, got)
		if n, err := strconv.Atoi(firstOr(m, 1)); err == nil && n < len(halfCloseAnswer) {
			msg = fmt.Sprintf("your client read %d of the %d bytes the server sent (%s)", n, len(halfCloseAnswer), p.Exited())
		} else if m == nil {
			msg = fmt.Sprintf("your client printed no \"answer: …\" line (%s): the server sent %d bytes", p.Exited(), len(halfCloseAnswer))
		}
		if rstAt >= 0 {
			rst := Describe(segs[rstAt].Packet)
			if acked == 0 {
				msg += fmt.Sprintf(". Its end acknowledged none of the answer and sent RST (%s) when the first of it came: the kernel refuses data for a socket closed for reading, as Close closes it, and what was on the way is lost", rst)
			} else {
				msg += fmt.Sprintf(". Its end acknowledged %d bytes of it, then sent RST (%s): the program closed its socket before reading to EOF, with the rest unread or still coming", acked, rst)
			}
		}
		return c.Fail("%s", msg)
	}
	if rstAt >= 0 {
		c.Show(conn)
		return c.Fail("your client got the whole answer, but its end sent RST (%s)", Describe(segs[rstAt].Packet))
	}
	if code := p.ExitCode(); code != 0 {
		return c.Fail("your client got the whole answer but ended with %s", p.Exited())
	}
	c.Holds("your client read all %d bytes (the same SHA-256) and ended with exit status 0", len(halfCloseAnswer))
	c.Holds("no RST from your client: the answer was read, not refused")
	return nil
}

func firstOr(m []string, i int) string {
	if i < len(m) {
		return m[i]
	}
	return ""
}

// acceptFrom accepts the learner's client's connection within d. It
// fails, saying so, when the program ends first or never connects.
func acceptFrom(c *Check, ln net.Listener, p *Program, d time.Duration) (net.Conn, error) {
	type accepted struct {
		conn net.Conn
		err  error
	}
	ch := make(chan accepted, 1)
	go func() {
		conn, err := ln.Accept()
		ch <- accepted{conn, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, fmt.Errorf("the check's server could not accept: %w", a.err)
		}
		return a.conn, nil
	case <-p.Done():
		// A connection may have come just before the end.
		select {
		case a := <-ch:
			if a.err == nil {
				return a.conn, nil
			}
		case <-time.After(100 * time.Millisecond):
		}
		return nil, c.Fail("your program ended (%s) without connecting to %s", p.Exited(), c.Addr)
	case <-t.C:
		return nil, c.Fail("your program did not connect to %s within %s", c.Addr, seconds(d))
	}
}

// segmentEvents is Check.Segments with each segment's event, for its
// time: the segments between a and b, in time order, each once (on a
// link, as it left its sender).
func segmentEvents(c *Check, a, b netip.AddrPort) []tracer.Event {
	var out []tracer.Event
	for _, e := range c.Events() {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" {
			continue
		}
		if !(p.Src == a && p.Dst == b || p.Src == b && p.Dst == a) {
			continue
		}
		if p.At != "" && p.At != sender(p) {
			continue
		}
		out = append(out, e)
	}
	return out
}
