// Lesson 04 shows that TCP carries a stream of bytes, not messages:
// three writes can come out of one read, one write can take four reads,
// so a protocol marks where its messages end (here: one per line). And
// the stream runs both ways at once, each direction with its own
// segments and acknowledgements.
//
// It answers the seed's last line: "After establishing a full-duplex
// Socket, the user program can listen for the data event to obtain
// data." A 'data' event, like a Read, hands over a chunk of the
// stream: it keeps no message boundaries.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
)

var info = lesson.Lesson{
	Number: "04",
	Title:  "Data is a stream",
	Intro: "The client writes three times and the server reads once; the server writes once and the client " +
		"reads four times. Newlines then mark where each message ends, and both sides write at the same time.",
	Steps: 6,
	Recap: []string{
		"TCP delivers a stream of bytes in order. It keeps no trace of how they were written: one Read can return " +
			"several writes, or part of one.",
		"What a Read returns depends on what the kernel holds when it is called and on the size of the buffer you give it.",
		"So a protocol frames its messages: a delimiter (a newline, read with bufio) or a length prefix " +
			"(encoding/binary, then io.ReadFull).",
		"Node's 'data' event hands over a chunk of the stream, as Read does: it keeps no message boundaries either.",
		"Here each Write left as one segment flagged PSH ACK. The receiving kernel acknowledges data by itself, " +
			"whether or not its program has read it: at once, or a little later with one ACK for several segments, " +
			"or riding on data of its own.",
		"The connection is full duplex: two independent byte streams, one each way, which both sides may use at once.",
	},
	TryThis: []string{
		"Run go run ./lessons/04 --hold and paste, in another terminal, the first command it prints:\n" +
			"printf 'one\\ntwo\\nthr' | nc -N 127.0.0.1 PORT, with nc started in the lesson's lab. Two answers\n" +
			"come back; the server reads \"thr\" but never answers it: no newline, no message.",
		"In step 4, change bufio.NewReaderSize(server, 16) to bufio.NewReader(server) (4096 bytes): the server " +
			"reads all 53 bytes at once, and the same three lines come out.",
		"In step 2, read in a goroutine started before the client writes, until all 18 bytes are in\n" +
			"(io.ReadFull(server, buf[:18])), and wait for it instead of waitUnread. Run it a few times: the first Read\n" +
			"returns \"I am \" alone, or 11 bytes, or all 18, depending on whether the goroutine is already waiting\n" +
			"in Read when the first segment arrives. Here most runs show one Read of 18.",
	},
	// Held (--hold), the server answers each line with a line: three
	// lines from printf, lines typed into nc, and ss on its port.
	HoldCommands: []string{
		"printf 'one\\ntwo\\nthr' | {lab}nc -N 127.0.0.1 PORT",
		"{lab}nc -N 127.0.0.1 PORT",
		"{lab}ss -tn '( sport = :PORT or dport = :PORT )'",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	l.Step("Start the server and connect",
		"The server listens on a loopback port, the client dials it, and the server accepts the connection. "+
			"The rest of the lesson writes and reads on this one connection.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()

	// The accept loop hands the first connection to the lesson, which
	// drives it step by step; with --hold it answers others (nc) line
	// by line, as step 4's server does.
	accepted := make(chan net.Conn, 1)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for first := true; ; first = false {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			if first {
				accepted <- conn
				continue
			}
			// NOTE: nobody waits for these; with --hold, connections
			// still open at Ctrl-C end with the program.
			go answerLines(conn)
		}
	}()

	dialer := tracer.Dialer{Hooks: l.Hooks("client")}
	client, err := dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer client.Close()
	server := <-accepted
	defer server.Close()

	l.Step("Three writes, one read",
		"The client writes \"I am \", \"Chuck \" and \"Norris!\": three Writes. Go turns Nagle's algorithm off "+
			"(TCP_NODELAY), so each leaves at once as its own segment. The server has not called Read; its kernel "+
			"acknowledges the segments and keeps the bytes. The server waits until all 18 bytes are there, then "+
			"calls Read once and gets all 18: three writes, one read. Had it been waiting in Read already, it "+
			"could have woken up for the first segment and got \"I am \" alone.")
	sent := 0
	for _, part := range []string{"I am ", "Chuck ", "Norris!"} {
		if _, err := io.WriteString(client, part); err != nil {
			return err
		}
		sent += len(part)
	}
	// Wait, without reading, until the server's kernel holds all 18
	// bytes. Read takes everything the kernel holds that fits in buf,
	// so the three writes come out of one Read.
	n, err := waitUnread(server, sent)
	if err != nil {
		return err
	}
	l.Note("server", fmt.Sprintf("%d bytes wait in the kernel's receive buffer, unread (ss shows them as Recv-Q)", n))
	buf := make([]byte, 1024)
	if _, err := server.Read(buf); err != nil {
		return err
	}

	l.Step("One write, four reads",
		`The server answers with one Write of 29 bytes, You said "I am Chuck Norris!": one segment. `+
			"The client reads it with an 8-byte buffer, so it takes four Reads: 8, 8, 8 and 5 bytes. "+
			"Node's 'data' event is the same: each one hands over a chunk of the stream, not a message.")
	answer := `You said "I am Chuck Norris!"`
	if _, err := io.WriteString(server, answer); err != nil {
		return err
	}
	small := make([]byte, 8)
	for got := 0; got < len(answer); {
		n, err := client.Read(small)
		if err != nil {
			return err
		}
		got += n
	}

	l.Step("Frame the messages: one per line",
		"A protocol must say where each message ends. Here each message ends with a newline. "+
			"The client writes three lines in two Writes that do not line up with them. The server reads "+
			"through a bufio.Reader with a 16-byte buffer, so no Read returns more than 16 bytes, and "+
			"ReadString('\\n') puts whole lines together however the bytes came. A length prefix "+
			"(say 4 bytes of length, then the message) works as well.")
	sent = 0
	for _, part := range []string{"I am Chuck Norris!\nI count", "ed to infinity. Twice.\nBye\n"} {
		if _, err := io.WriteString(client, part); err != nil {
			return err
		}
		sent += len(part)
	}
	if _, err := waitUnread(server, sent); err != nil {
		return err
	}
	lines := bufio.NewReaderSize(server, 16)
	for i := 1; i <= 3; i++ {
		line, err := lines.ReadString('\n')
		if err != nil {
			return err
		}
		l.Note("server", fmt.Sprintf("line %d: %q", i, strings.TrimSuffix(line, "\n")))
	}

	l.Step("Both ways at once",
		"The connection carries two streams, one each way. The client writes a line and the server writes a line; "+
			"neither has read yet. Then each reads the other's line. Each side's segment "+
			"acknowledges the bytes it has received (its ack number), whether or not its program has read them.")
	if _, err := io.WriteString(client, "ping from the client\n"); err != nil {
		return err
	}
	if _, err := io.WriteString(server, "pong from the server\n"); err != nil {
		return err
	}
	// The server goes on with its bufio.Reader, which could hold bytes
	// already taken from the connection (here it holds none).
	if _, err := lines.ReadString('\n'); err != nil {
		return err
	}
	if _, err := bufio.NewReader(client).ReadString('\n'); err != nil {
		return err
	}

	l.Step("Close",
		"The client closes; the server reads io.EOF (Node's 'end') and closes too. Then the listener closes. "+
			"Lesson 05 looks at closing closely.")
	if err := client.Close(); err != nil {
		return err
	}
	if _, err := lines.ReadString('\n'); !errors.Is(err, io.EOF) {
		return fmt.Errorf("server: want io.EOF after the client's close, got %v", err)
	}
	if err := server.Close(); err != nil {
		return err
	}
	l.Hold(ln.Addr()) // with --hold: answer nc's lines until Ctrl-C
	err = ln.Close()
	<-loopDone
	return err
}

// answerLines serves a connection from nc under --hold: it answers each
// line with a line, and closes when the peer has closed.
func answerLines(conn net.Conn) {
	defer conn.Close()
	lines := bufio.NewReader(conn)
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return // io.EOF: the peer sent FIN (Node's 'end'); NOTE: the trace shows other errors
		}
		if _, err := fmt.Fprintf(conn, "You said %q\n", strings.TrimSuffix(line, "\n")); err != nil {
			return
		}
	}
}
