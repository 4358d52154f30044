package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"tcptour/tracer/lab"
)

func init() {
	register(&Exercise{
		Name: "pause", Lesson: "08", Order: 1, Role: "server",
		Title: "When the program falls behind, make the sender wait, and lose nothing",
		Sysctls: []lab.Sysctl{{Name: "net.ipv4.tcp_rmem", Value: "4096 32768 65536",
			Why: "Receive buffers of at most 64 KB, as on a busy server: a paused reader fills its buffer after 64 KB, not after several megabytes, so the check is quick."}},
		Hints: []string{
			"A select with a default case never waits: when the queue is full, the record goes to the default case and is lost. A wait with a time limit that then drops is no better: lose nothing means wait as long as it takes.",
			"Let the reader wait for room in the queue. While it waits it does not read, the bytes stay in the kernel, and once the kernel's receive buffer is full it advertises a window of 0 to the client.",
			"Replace the whole select with a plain send, queue <- records.Text(): it blocks while the queue is full.",
		},
		Check: checkPause,
	})
}

// pauseRecords and pauseSize are what the check's client sends: half a
// megabyte, far more than the server's receive buffer and queue hold.
const (
	pauseRecords = 500
	pauseSize    = 1000
)

// checkPause sends 500 records at once, half-closes, and wants every
// record stored; and, on the wire, the server's window at 0 while its
// worker caught up.
func checkPause(c *Check) error {
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
	var b strings.Builder
	for i := range pauseRecords {
		line := fmt.Sprintf("record %04d ", i+1)
		b.WriteString(line + strings.Repeat("x", pauseSize-len(line)-1) + "\n")
	}
	// One write of the whole: the client's kernel sends as fast as the
	// server's window lets it, and the write returns once the last
	// byte is in the client's send buffer.
	sent := make(chan error, 1)
	go func() {
		_, err := conn.Write([]byte(b.String()))
		if err == nil {
			err = conn.(interface{ CloseWrite() error }).CloseWrite()
		}
		sent <- err
	}()
	// NOTE: a deadline on a connection that works cannot fail.
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	answer, rerr := bufio.NewReader(conn).ReadString('\n')
	if err := <-sent; err != nil {
		c.Show(conn)
		return c.Fail("the client could not send its %d records: %v", pauseRecords, err)
	}
	c.Holds("the client sent %d records of %d bytes in one write, then closed its side (FIN)", pauseRecords, pauseSize)
	local, remote := Ends(conn)
	segs := c.SegmentEvents(local, remote)
	// When the first record arrived, and when the server's kernel
	// acknowledged the last byte: it had then received every record.
	var first, all time.Time
	zero := 0
	for _, e := range segs {
		s := e.Packet
		switch {
		case s.Src == local && s.Len > 0 && first.IsZero():
			first = e.Time
		case s.Src == remote && HasFlag(s, "ACK") && !before(s.Ack, pauseRecords*pauseSize+1) && all.IsZero():
			all = e.Time
		}
		if s.Src == remote && slices.Contains(s.Analysis, "zero-window") {
			zero++
		}
	}
	answered := time.Now()
	var stored int
	switch {
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		c.Show(conn)
		return c.Fail("no answer came within 15 s of the client's last record")
	case rerr != nil && answer == "":
		c.Show(conn)
		return c.Fail("instead of an answer, the client's read failed: %v", rerr)
	}
	if _, err := fmt.Sscanf(answer, "stored %d", &stored); err != nil {
		c.Show(conn)
		return c.Fail("the answer was %q, not \"stored N\"", answer)
	}
	// How long the client's bytes took to arrive, against how long
	// the server took to store them: a server that pauses takes in
	// the last bytes only near the end; one that does not, at once.
	var took, storing time.Duration
	if !first.IsZero() && !all.IsZero() {
		took, storing = all.Sub(first), answered.Sub(first)
	}
	arrival := ""
	if storing > 0 {
		arrival = fmt.Sprintf("the server's kernel had received and acknowledged the last byte %s after the first record, while storing them took %s", ms(took), ms(storing))
	}
	if stored != pauseRecords {
		c.Show(conn)
		why := ""
		if !all.IsZero() {
			why = fmt.Sprintf(". Every record reached the server's kernel: it acknowledged all %d bytes %s after the first record. They were lost in your program", pauseRecords*pauseSize, ms(took))
		}
		return c.Fail("your server stored %d of the %d records%s", stored, pauseRecords, why)
	}
	c.Holds("your server stored all %d records", pauseRecords)
	if arrival == "" {
		c.Show(conn)
		return c.Fail("every record was stored, but the capture does not show the first record or the ACK of the last byte, so the check cannot tell whether the client was made to wait")
	}
	if took < storing*2/5 {
		c.Show(conn)
		return c.Fail("every record was stored, but on the wire %s: your program read far ahead of its worker and held what the worker had not stored in its own memory. A client that sends more (or many clients) makes that grow without bound, and the sender is never told to wait", arrival)
	}
	c.Holds("on the wire, %s: the client's last bytes were taken in only as the worker made room", arrival)
	if zero > 0 {
		c.Holds("the server's kernel advertised a window of 0 in %s: the client's kernel waited, and sent on when the window opened", plural(zero, "segment"))
	}
	return nil
}

// before reports whether sequence number a comes before b.
func before(a, b uint32) bool { return int32(a-b) < 0 }
