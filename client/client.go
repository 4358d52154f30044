package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/cli"
	"tcptour/tracer/page"
	"tcptour/tracer/wire"
)

// run does what the seed's client does: connect to cfg.addr, write
// cfg.msg, print the first answer as DATA, close, and print
// "Connection closed". Then it stops the capture, prints the rest of
// the trace and, in the pretty output, the ladder of the connection.
//
// The trace goes to stdout. The seed's lines go to stdout too, between
// the trace's, or to stderr with cfg.json so that stdout holds only JSON.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	// The output files are checked before the client starts; a run
	// that fails leaves what was at their paths.
	files, err := wire.CreateFiles(cfg.pcap, cfg.mermaid, cfg.html)
	if err != nil {
		return err
	}
	defer files.Discard()
	var printer tracer.Printer
	say := stdout // where the seed's lines go
	if cfg.json {
		printer = tracer.NewJSON(stdout)
		say = stderr
	} else {
		printer = tracer.NewPrettyWith(stdout, tracer.PrettyOptions{
			Color: tracer.ColorWanted(stdout, cfg.noColor), Width: tracer.TerminalWidth(stdout)})
	}
	tl, skipped, err := wire.NewTimeline("client", printer, say, wire.Config{Mode: cfg.capture, PCAP: files.PCAP, Program: "./client"})
	if err != nil {
		return err
	}
	for _, line := range skipped {
		fmt.Fprintf(stderr, "client: %s\n", line)
	}
	err = talk(ctx, cfg, tl)
	awaitPeerClose(tl)
	// On Ctrl-C as on an error: stop the capture, so that the pcap
	// file ends cleanly, and print what is left of the trace.
	packets, stats, cerr := tl.Close()
	if err == nil {
		err = cerr
	}
	if err == nil && cfg.mermaid != "" {
		err = tl.WriteMermaid(files.Mermaid)
	}
	// The page, of a run that ended well or was stopped by Ctrl-C:
	// what happened so far.
	html := cfg.html != "" && cerr == nil && (err == nil || errors.Is(err, errInterrupted))
	if html {
		if perr := page.Write(files.HTML, page.Doc{Title: "client to " + cfg.addr, Command: cfg.command,
			Events: tl.Events()}); perr != nil {
			err = perr
		}
	}
	switch {
	case err == nil:
		err = files.Commit(tl.Session() != nil, cfg.mermaid != "", html)
	case errors.Is(err, errInterrupted) && cerr == nil:
		// Stopped by Ctrl-C: the packets so far are complete (the
		// Mermaid file is written only by a run that ended well).
		if ferr := files.Commit(tl.Session() != nil, false, html); ferr != nil {
			err = ferr
		}
	}
	if cfg.json || cerr != nil {
		return err
	}
	events := tl.Events()
	if ids := wire.Conns(events, true); len(ids) > 0 {
		width := tracer.TerminalWidth(stdout)
		fmt.Fprintf(stdout, "\n%s\n", tracer.Wrap("The ladder: each connection's segments, with the client's calls beside them", 0, width))
		for i, id := range ids {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			// NOTE: ignoring the error; stdout failed, and Close said so.
			_ = wire.FitLadder(stdout, events, id, width)
		}
		_, _ = wire.AskedFootnote(stdout, events, ids, width)
	}
	tl.Summary(stdout, packets, stats, cfg.pcap)
	return err
}

// linger is how long the client, once it has closed, watches the wire
// for the server's FIN: the server sends it as soon as it reads the
// client's, and with it the trace, the ladder and the pcap file show
// the whole close.
const linger = 250 * time.Millisecond

// awaitPeerClose returns once the capture has seen the server close
// (FIN or RST) every connection that has packets in the trace, or
// after linger. Without capture it returns at once.
func awaitPeerClose(tl *wire.Timeline) {
	if tl.Session() == nil {
		return
	}
	deadline := time.NewTimer(linger)
	defer deadline.Stop()
	// The capture's goroutine adds packets to the trace as it reads
	// them; look at the trace now and then.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !peerClosed(tl.Trace().Events()) {
		select {
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// peerClosed reports whether the server sent FIN or RST on every
// connection with packets in events.
func peerClosed(events []tracer.Event) bool {
	closed := map[int]bool{}
	for _, e := range events {
		if p := e.Packet; p != nil && p.From == "server" && (strings.Contains(p.Flags, "FIN") || strings.Contains(p.Flags, "RST")) {
			closed[e.Conn] = true
		}
	}
	for _, id := range wire.Conns(events, true) {
		if !closed[id] {
			return false
		}
	}
	return true
}

// talk is the seed's client, with its events traced in tl. The trace
// is printed at each of the seed's lines, up to that line.
func talk(ctx context.Context, cfg config, tl *wire.Timeline) error {
	hooks := tl.Hooks()
	read := hooks.Read
	hooks.Read = func(i tracer.IOInfo) {
		if errors.Is(i.Err, net.ErrClosed) && ctx.Err() != nil {
			// Ctrl-C closed the connection while Read waited; the
			// trace already has that close.
			i.Err = nil
		}
		read(i)
	}
	say := func(format string, args ...any) {
		tl.Say(format, args...)
		// NOTE: ignoring the error; Close returns it.
		_ = tl.Flush()
	}
	// Stopped by a signal: the trace says so, once, before the close it
	// causes, whether the client was looking up, connecting or waiting.
	interrupted := sync.OnceFunc(func() {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			tl.Trace().Note("client", cause.Error()+": closing")
		}
	})
	defer context.AfterFunc(ctx, interrupted)()
	if cfg.dns != "" {
		// The query and the answer are datagrams to and from the DNS
		// server's port: capture it before the lookup starts.
		// NOTE: ignoring the error; parseFlags checked the address.
		_, port, _ := net.SplitHostPort(cfg.dns)
		n, _ := strconv.ParseUint(port, 10, 16)
		tl.Session().AddUDPPort(uint16(n))
	}

	// client.connect(PORT, HOST, …): first the name becomes addresses
	// (Node's lookupAndConnect; nothing to do for an IP literal), then
	// connect(2) to each address until one answers. The timeout covers
	// both, as net.Dialer's does.
	dialCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	d := tracer.Dialer{
		Hooks:     hooks,
		DNSServer: cfg.dns,
		Net:       net.Dialer{Timeout: cfg.timeout},
	}
	conn, err := d.DialContext(dialCtx, "tcp", cfg.addr)
	if err != nil {
		if ctx.Err() != nil {
			interrupted()
			return errInterrupted
		}
		return dialError(cfg, err)
	}
	stop := context.AfterFunc(ctx, func() {
		interrupted()
		// NOTE: ignoring the error; the trace shows the close.
		_ = conn.Close()
	})
	defer stop()
	say("CONNECTED TO: %s\n", cfg.addr)
	remote := conn.RemoteAddr()

	// client.write('I am Chuck Norris!')
	_, err = io.WriteString(conn, cfg.msg)
	if err == nil {
		// client.on('data', …): one Read is one chunk of what the
		// kernel has received, as one 'data' event is in Node.
		// NOTE: ignoring the error; the wrapped *net.TCPConn supports deadlines.
		_ = conn.SetReadDeadline(time.Now().Add(cfg.timeout))
		buf := make([]byte, 64<<10)
		var n int
		n, err = conn.Read(buf)
		if n > 0 {
			say("DATA: %s", cli.Said(buf[:n]))
		}
		if errors.Is(err, io.EOF) {
			// The server closed without a word more: Node emits 'end'
			// and 'close', and no error.
			err = nil
		}
	}
	// "Completely close the connection": client.destroy(). Usually the
	// client closes first (the active close); the trace's note says.
	// NOTE: ignoring the error; the trace shows the close.
	_ = conn.Close()
	say("Connection closed\n")
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		interrupted()
		return errInterrupted
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &explained{fmt.Sprintf("no answer from %s within %s (is it the seed's server? it answers at once)", remote, cfg.timeout), err}
	}
	return &explained{fmt.Sprintf("talking to %s: %s", remote, cause(err)), err}
}

// dialError says in one line why the dial failed, and what to do.
func dialError(cfg config, err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		msg := fmt.Sprintf("lookup %s: %s", dnsErr.Name, dnsErr.Err)
		switch {
		case dnsErr.IsNotFound:
		case cfg.dns != "" && (errors.Is(err, syscall.ECONNREFUSED) || strings.HasSuffix(dnsErr.Err, "connection refused")):
			// Go keeps only the text of the cause here.
			msg = fmt.Sprintf("lookup %s: no DNS server at %s (connection refused): start one with go run ./server -lab %s", dnsErr.Name, cfg.dns, cfg.dns)
		case dnsErr.IsTimeout:
			msg = fmt.Sprintf("lookup %s: timed out after %s", dnsErr.Name, cfg.timeout)
		}
		return &explained{msg, err}
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Addr == nil {
		return err
	}
	addr := opErr.Addr.String()
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &explained{fmt.Sprintf("connect %s: connection refused (is the server running? go run ./server)", addr), err}
	case errors.As(err, &ne) && ne.Timeout():
		return &explained{fmt.Sprintf("connect %s: timed out after %s (nothing answered the SYN: is the address right? a firewall may drop it)", addr, cfg.timeout), err}
	}
	return &explained{fmt.Sprintf("connect %s: %s", addr, cause(err)), err}
}

// cause returns the innermost useful part of a network error:
// "connection reset by peer" rather than
// "read tcp 127.0.0.1:52844->127.0.0.1:6969: read: connection reset by peer".
func cause(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		err = opErr.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return err
}

// explained is an error with a message for people, that still unwraps
// to the error it explains.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
