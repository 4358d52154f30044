package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// TestEcho: the reference answers each read with `You said "…"`, and a
// message longer than its first buffer in pieces, each in its own
// answer, as the traced server does: all the bytes, in order, with
// buffers of 1, 2, 4… KiB.
func TestEcho(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close() // ends echo, and the writer, if the test stops early
	done := make(chan struct{})
	go func() {
		defer close(done)
		echo(server)
	}()
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(`You said "hi"`))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != `You said "hi"` {
		t.Errorf("answer %q, want %q", got, `You said "hi"`)
	}
	// net.Pipe hands a write over in reads of at most the reader's
	// buffer: 1 KiB, then 2, then 4.
	long := bytes.Repeat([]byte("0123456789"), 700) // 7,000 bytes
	go func() {
		// NOTE: ignoring the error: the reads below say what arrived.
		_, _ = client.Write(long)
	}()
	var pieces []string
	for _, size := range []int{1024, 2048, 3928} {
		b := make([]byte, len(`You said ""`)+size)
		if _, err := io.ReadFull(client, b); err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.HasPrefix(s, `You said "`) || !strings.HasSuffix(s, `"`) {
			t.Fatalf("answer %.40q…, want `You said \"…\"`", s)
		}
		pieces = append(pieces, strings.TrimSuffix(strings.TrimPrefix(s, `You said "`), `"`))
	}
	if strings.Join(pieces, "") != string(long) {
		t.Error("the answers do not carry the message's bytes in order")
	}
	client.Close()
	<-done
}
