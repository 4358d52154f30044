package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"tcptour/tracer"
	"tcptour/tracer/cli"
)

// binary is n bytes of noise with every byte value in it, NUL, ESC and
// 0xff included, except '"': answers are split at the quotes.
func binary(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
		if i >= 256 {
			b[i] = byte(r.UintN(256))
		}
		if b[i] == '"' {
			b[i] = 0
		}
	}
	return b
}

// text is n bytes of letters with no newline.
func text(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// converse sends msg on c, shuts down the sending half and reads every
// answer until the server closes, at the same time: a client that
// wrote 10 MiB before reading would wait forever on a server waiting
// for it to read. It returns the pieces the server answered, in order:
// the answers are `You said "<piece>"` back to back.
func converse(t *testing.T, c net.Conn, msg []byte) [][]byte {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.Write(msg); err != nil {
			t.Errorf("writing %d bytes: %v", len(msg), err)
			return
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
	})
	answers, err := io.ReadAll(c)
	wg.Wait()
	if err != nil {
		t.Fatalf("reading the answers: %v (%d bytes read)", err, len(answers))
	}
	var pieces [][]byte
	for len(answers) > 0 {
		rest, ok := bytes.CutPrefix(answers, []byte(`You said "`))
		end := bytes.IndexByte(rest, '"')
		if !ok || end < 0 {
			t.Fatalf("answer %d does not read You said \"…\": %q", len(pieces)+1, answers[:min(len(answers), 40)])
		}
		pieces = append(pieces, rest[:end])
		answers = rest[end+1:]
	}
	return pieces
}

// checkPieces checks that the pieces answered make up msg, each at most
// max bytes long.
func checkPieces(t *testing.T, pieces [][]byte, msg []byte, max int) {
	t.Helper()
	for i, p := range pieces {
		if len(p) > max {
			t.Errorf("answer %d has %d bytes, want at most %d", i+1, len(p), max)
		}
	}
	if got := bytes.Join(pieces, nil); !bytes.Equal(got, msg) {
		t.Errorf("the %d answers hold %d bytes, not the %d sent", len(pieces), len(got), len(msg))
	}
}

// checkReadable checks that a pretty trace can be read on a terminal:
// valid UTF-8 with no control character but newline, and no line much
// longer than cli.MaxSaid however long the messages were.
func checkReadable(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("the output is not valid UTF-8")
	}
	for i, line := range strings.Split(out, "\n") {
		if i := strings.IndexFunc(line, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }); i >= 0 {
			t.Errorf("line %d has the control character %q: %q", i+1, line[i], line)
		}
		// A short text message is shown as it is, up to cli.MaxSaid.
		if n := utf8.RuneCountInString(line); n > cli.MaxSaid+100 {
			t.Errorf("line %d has %d characters: %.80q…", i+1, n, line)
		}
	}
}

// closed is the server's CLOSED line for client c.
func closed(c net.Conn) string {
	a := c.LocalAddr().(*net.TCPAddr).AddrPort()
	return fmt.Sprintf("CLOSED: %s %d\n", a.Addr(), a.Port())
}

// TestBadInput proves the server under bad input. For each case the
// server answers or closes as it should and its trace stays readable;
// then a normal client is served as usual, and every goroutine the
// bad client cost the server has ended.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
		// bad plays the bad client; it returns once the server has
		// closed its connection (the CLOSED line is printed).
		bad func(t *testing.T, r *running)
	}{
		{
			name: "binary, NUL bytes",
			bad: func(t *testing.T, r *running) {
				msg := binary(1000)
				c := dial(t, r.addr)
				checkPieces(t, converse(t, c, msg), msg, defaultMaxMessage)
				r.out.waitFor(t, closed(c))
				out := r.out.String()
				checkReadable(t, out)
				// The READ event and the DATA line show hex, cut, and
				// count what they leave out.
				if !strings.Contains(out, " bytes hex 000102030405060708090a0b0c0d0e0f1011121314151617… (+") ||
					!strings.Contains(out, ": hex 000102030405060708090a0b0c0d0e0f1011121314151617… (+") {
					t.Errorf("want the READ event and the DATA line in hex, cut:\n%s", out)
				}
			},
		},
		{
			name: "binary, NUL bytes, JSON",
			cfg:  config{json: true},
			bad: func(t *testing.T, r *running) {
				msg := binary(1000)
				c := dial(t, r.addr)
				checkPieces(t, converse(t, c, msg), msg, defaultMaxMessage)
				r.errOut.waitFor(t, closed(c))
				checkReadable(t, r.errOut.String())
				n := 0
				for _, e := range jsonEvents(t, r.out.String()) {
					if e.Phase != tracer.PhaseRead && e.Phase != tracer.PhaseWrite {
						continue
					}
					n += e.Bytes
					if !strings.HasPrefix(e.Data, "hex ") || !strings.HasSuffix(e.Data, fmt.Sprintf("… (+%d bytes)", e.Bytes-24)) {
						t.Errorf("%s of %d bytes: data %q, want 24 bytes in hex and the rest counted", e.Phase, e.Bytes, e.Data)
					}
				}
				if want := 2*len(msg) + 11; n < want {
					t.Errorf("the reads and writes count %d bytes, want at least %d", n, want)
				}
			},
		},
		{
			name: "10 MiB, no newline",
			bad: func(t *testing.T, r *running) {
				msg := text(10 << 20)
				c := dial(t, r.addr)
				checkPieces(t, converse(t, c, msg), msg, defaultMaxMessage)
				r.out.waitFor(t, closed(c))
				out := r.out.String()
				checkReadable(t, out)
				// The trace holds previews, not the message.
				if len(out) > 1<<20 {
					t.Errorf("the trace of a 10 MiB message has %d bytes", len(out))
				}
				if !strings.Contains(out, `"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl…" (+`) {
					t.Errorf("no cut preview in:\n%.2000s", out)
				}
			},
		},
		{
			name: "10 MiB, no newline, JSON",
			cfg:  config{json: true},
			bad: func(t *testing.T, r *running) {
				msg := text(10 << 20)
				c := dial(t, r.addr)
				checkPieces(t, converse(t, c, msg), msg, defaultMaxMessage)
				r.errOut.waitFor(t, closed(c))
				checkReadable(t, r.errOut.String())
				read := 0
				for _, e := range jsonEvents(t, r.out.String()) {
					if e.Phase == tracer.PhaseRead {
						read += e.Bytes
					}
					if len(e.Data) > 100 {
						t.Errorf("%s of %d bytes: %d bytes of data in the trace", e.Phase, e.Bytes, len(e.Data))
					}
				}
				if read != len(msg) {
					t.Errorf("the reads count %d bytes, want %d", read, len(msg))
				}
			},
		},
		{
			// Each Read takes at most -max-message bytes, answered at
			// once: the buffer a connection holds, whatever comes.
			name: "-max-message 1000",
			cfg:  config{maxMessage: 1000},
			bad: func(t *testing.T, r *running) {
				msg := text(1 << 20)
				c := dial(t, r.addr)
				pieces := converse(t, c, msg)
				checkPieces(t, pieces, msg, 1000)
				if len(pieces) < len(msg)/1000 {
					t.Errorf("%d answers, want at least %d", len(pieces), len(msg)/1000)
				}
				r.out.waitFor(t, closed(c))
			},
		},
		{
			// Without an idle timeout a client that sends nothing
			// stays connected, and others are served meanwhile.
			name: "sends nothing",
			bad: func(t *testing.T, r *running) {
				silent := dial(t, r.addr)
				r.out.waitFor(t, "CONNECTED: "+silent.LocalAddr().String())
				other := dial(t, r.addr)
				say(t, other, "hi", `You said "hi"`)
				other.Close()
				silent.Close()
				r.out.waitFor(t, closed(silent))
			},
		},
		{
			name: "sends nothing, -idle-timeout 50ms",
			cfg:  config{idleTimeout: 50 * time.Millisecond},
			bad: func(t *testing.T, r *running) {
				c := dial(t, r.addr)
				r.out.waitFor(t, closed(c))
				if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
					t.Errorf("the client read %q, %v; want EOF", b, err)
				}
				out := r.out.String()
				if !inOrder(out, "ACCEPT", "NOTE       idle for 50ms: closing\n", "CLOSE ", closed(c)) {
					t.Errorf("want the note before the close:\n%s", out)
				}
				if strings.Contains(out, "ERROR") {
					t.Errorf("the timeout traced as an error:\n%s", out)
				}
			},
		},
		{
			// A client that sends without reading fills the buffers
			// both ways, and the server's Write waits: until the idle
			// timeout.
			name: "never reads, -idle-timeout 50ms",
			cfg:  config{idleTimeout: 50 * time.Millisecond},
			bad: func(t *testing.T, r *running) {
				msg := text(64 << 20) // before the dial: the server waits only 50ms
				c := dial(t, r.addr)
				// NOTE: ignoring the error: the server closes while
				// this writes, and that is the point.
				_, _ = c.Write(msg)
				r.out.waitFor(t, closed(c))
				if out := r.out.String(); !strings.Contains(out, "NOTE       the answer waited 50ms for the client to read: closing\n") {
					t.Errorf("no note on why the server closed:\n%s", out)
				}
			},
		},
		{
			name: "reset mid-message",
			bad: func(t *testing.T, r *running) {
				c := dial(t, r.addr)
				if _, err := io.WriteString(c, "I am Chuck"); err != nil {
					t.Fatal(err)
				}
				r.out.waitFor(t, "DATA "+c.LocalAddr().String()+": I am Chuck\n")
				// SetLinger(0): Close sends RST, not FIN.
				if err := c.(*net.TCPConn).SetLinger(0); err != nil {
					t.Fatal(err)
				}
				c.Close()
				r.out.waitFor(t, closed(c))
				if out := r.out.String(); !strings.Contains(out, "ERROR      read: read tcp ") || !strings.Contains(out, "connection reset by peer") {
					t.Errorf("want the reset in the trace:\n%s", out)
				}
			},
		},
		{
			// Opened and dropped at once: some say a word first, half
			// close with RST.
			name: "300 connections dropped at once",
			bad: func(t *testing.T, r *running) {
				const n = 300
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						c, err := net.Dial("tcp", r.addr.String())
						if err != nil {
							t.Errorf("dial %d: %v", i, err)
							return
						}
						if i%3 == 0 {
							// NOTE: ignoring the error; the server may be gone.
							_, _ = io.WriteString(c, "x")
						}
						if i%2 == 0 {
							// NOTE: ignoring the error; Close is what matters.
							_ = c.(*net.TCPConn).SetLinger(0)
						}
						c.Close()
					})
				}
				wg.Wait()
				r.out.waitUntil(t, fmt.Sprintf("%d CLOSED lines", n), func(s string) bool {
					return strings.Count(s, "CLOSED: ") == n
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, tt.cfg)
			// The server's own goroutines (accepting, printing) are
			// there before the bad client and stay after it.
			server := goleak.IgnoreCurrent()
			tt.bad(t, r)

			// A normal client is still served as the seed's is.
			c := dial(t, r.addr)
			say(t, c, "I am Chuck Norris!", `You said "I am Chuck Norris!"`)
			c.Close()
			seed := r.out
			if tt.cfg.json {
				seed = r.errOut
			}
			seed.waitFor(t, closed(c))
			if !strings.Contains(seed.String(), "DATA "+c.LocalAddr().String()+": I am Chuck Norris!\n") {
				t.Errorf("no DATA line for the normal client")
			}
			// Every connection's goroutine has ended.
			goleak.VerifyNone(t, server)
			if err := r.stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
			if strings.Contains(r.out.String(), "panic") {
				t.Errorf("a panic:\n%s", r.out)
			}
		})
	}
}

// TestSaid proves the DATA line's form of each message: the seed's, for
// short text; the trace's preview otherwise.
func TestSaid(t *testing.T) {
	tests := []struct {
		data []byte
		want string
	}{
		{[]byte("I am Chuck Norris!"), "I am Chuck Norris!\n"},
		{[]byte("hello\n"), "hello\n"},
		{[]byte("tab\tand\r\n"), "tab\tand\r\n"},
		{[]byte("héllo ✓"), "héllo ✓\n"},
		{[]byte("\x00\x01\xff"), "hex 0001ff\n"},
		{[]byte("\x1b[31mred"), "hex 1b5b33316d726564\n"}, // a terminal escape, not obeyed
		{[]byte("caf\xc3"), "hex 636166c3\n"},             // invalid UTF-8
		{text(cli.MaxSaid), string(text(cli.MaxSaid)) + "\n"},
		{text(cli.MaxSaid + 1), `"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl…" (+961 bytes)` + "\n"},
	}
	for _, tt := range tests {
		if got := cli.Said(tt.data); got != tt.want {
			t.Errorf("cli.Said(%.30q) = %.100q, want %.100q", tt.data, got, tt.want)
		}
	}
}
