package main

import (
	"errors"
	"io"
	"syscall"
	"tcptour/lessons/internal/lessontest"
	"testing"
)

// The recap: after an RST, the peer's next Read or Write fails with
// ECONNRESET; after that Read returns io.EOF and Write fails with EPIPE.
// Checked with each call first.
func TestAfterReset(t *testing.T) {
	for _, first := range []string{"read", "write"} {
		t.Run(first+" first", func(t *testing.T) {
			ln, port := lessontest.Listen(t)
			c := lessontest.Dial(t, port)
			s := lessontest.Accept(t, ln)
			s.SetLinger(0) // then Close sends RST
			s.Close()
			lessontest.WaitGone(t, lessontest.Tuple(c)) // the RST has come
			buf := make([]byte, 8)
			read := func() error { _, err := c.Read(buf); return err }
			write := func() error { _, err := c.Write([]byte("x")); return err }
			calls := []func() error{read, write}
			if first == "write" {
				calls = []func() error{write, read}
			}
			if err := calls[0](); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the first %s after the RST: %v, want ECONNRESET", first, err)
			}
			if err := read(); !errors.Is(err, io.EOF) {
				t.Errorf("a Read after that: %v, want io.EOF", err)
			}
			if err := write(); !errors.Is(err, syscall.EPIPE) {
				t.Errorf("a Write after that: %v, want EPIPE", err)
			}
		})
	}
}
