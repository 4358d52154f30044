package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func init() {
	register(&Exercise{
		Name: "accept-loop", Lesson: "02", Order: 1, Role: "server",
		Title: "A server that serves many clients at once",
		Hints: []string{
			"Accept returns one connection. If the loop then serves it before calling Accept again, the next client waits until this one leaves.",
			"Start a goroutine for each connection: the loop goes straight back to Accept, and each client has a goroutine of its own that may block on its Read as long as it likes.",
			"for { conn, err := ln.Accept(); if err != nil { log.Fatal(err) }; go serve(conn) }",
		},
		Check: checkAcceptLoop,
	})
}

// checkAcceptLoop connects a client that says nothing and stays, then
// two more that each send a line: both must be answered while the first
// is still connected.
func checkAcceptLoop(c *Check) error {
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
	c.Holds("client 1 connected, and stays without a word")
	for i, line := range []string{"hello", "are you there"} {
		n := i + 2
		conn, err := c.Dial()
		if err != nil {
			return c.Fail("client %d could not connect: %v", n, err)
		}
		defer conn.Close()
		if err := askLine(conn, line, strings.ToUpper(line), 2*time.Second); err != nil {
			c.Show(conn)
			return c.Fail("client %d sent %q while client 1 stayed connected, and %v%s", n, line+"\n", err, c.Unserved(conn))
		}
		c.Holds("client %d sent %q and got %q back while client 1 was still connected", n, line, strings.ToUpper(line))
	}
	// The one that stayed silent is served too.
	if err := askLine(silent, "last", "LAST", 2*time.Second); err != nil {
		c.Show(silent)
		return c.Fail("client 1, silent until now, sent %q and %v", "last\n", err)
	}
	c.Holds("client 1, silent until now, is served too")
	if p.Exited() != "" {
		return c.Fail("your program ended (%s) while its clients were connected", p.Exited())
	}
	return nil
}

// askLine writes line and a newline to conn and reads one line back
// within d; it says what went wrong as the end of a sentence.
func askLine(conn net.Conn, line, want string, d time.Duration) error {
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		return fmt.Errorf("could not send it: %v", err)
	}
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(d))
	got, err := bufio.NewReader(conn).ReadString('\n')
	_ = conn.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no answer came within %s", seconds(d))
	case err != nil && got == "":
		return fmt.Errorf("instead of an answer its read failed: %v", err)
	case strings.TrimSuffix(got, "\n") != want:
		return fmt.Errorf("the answer was %q, not %q", got, want+"\n")
	}
	return nil
}
