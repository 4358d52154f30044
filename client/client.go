package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"tcptour/tracer"
)

// run does what the seed's client does: connect to cfg.addr, write
// cfg.msg, print the first answer as DATA, close, and print
// "Connection closed".
//
// The trace goes to stdout. The seed's lines go to stdout too, between
// the trace's, or to stderr with cfg.json so that stdout holds only JSON.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	useColor := tracer.ColorWanted(stdout, cfg.noColor)
	// Ctrl-C closes the connection from another goroutine, and its
	// trace event may print while this one prints: keep lines whole.
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	var printer tracer.Printer
	say := stdout // where the seed's lines go
	if cfg.json {
		printer = tracer.NewJSON(stdout)
		say = stderr
	} else {
		printer = tracer.NewPretty(stdout, useColor)
	}
	// Live: print each event as it happens, between the seed's lines.
	tr := tracer.New(tracer.Options{Printers: []tracer.Printer{printer}, Live: true})
	err := talk(ctx, cfg, tr, say)
	if ferr := tr.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing the trace: %w", ferr)
	}
	return err
}

// talk is the seed's client, with its events traced in tr.
func talk(ctx context.Context, cfg config, tr *tracer.Trace, say io.Writer) error {
	hooks := tr.Hooks("client")
	read := hooks.Read
	hooks.Read = func(i tracer.IOInfo) {
		if errors.Is(i.Err, net.ErrClosed) && ctx.Err() != nil {
			// Ctrl-C closed the connection while Read waited; the
			// trace already has that close.
			i.Err = nil
		}
		read(i)
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
			return errInterrupted
		}
		return dialError(cfg, err)
	}
	stop := context.AfterFunc(ctx, func() {
		// NOTE: ignoring the error; the trace shows the close.
		_ = conn.Close()
	})
	defer stop()
	fmt.Fprintf(say, "CONNECTED TO: %s\n", cfg.addr)
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
			end := "\n"
			if buf[n-1] == '\n' {
				end = "" // the answer ends a line already
			}
			fmt.Fprintf(say, "DATA: %s%s", buf[:n], end)
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
	fmt.Fprintln(say, "Connection closed")
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
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

// syncWriter makes each Write whole when several goroutines write.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
