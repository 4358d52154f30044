package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/lab"
)

// run listens on cfg.addr and serves every client in its own goroutine
// until ctx is done. Then it closes the listener and the connections
// still open, waits for their goroutines, and returns nil.
//
// The trace goes to stdout. The seed's lines go to stdout too, between
// the trace's, or to stderr with cfg.json so that stdout holds only JSON.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	useColor := tracer.ColorWanted(stdout, cfg.noColor)
	// Every connection's goroutine prints: one lock per stream keeps
	// each line whole.
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	var printer tracer.Printer
	say := stdout // where the seed's lines go
	if cfg.json {
		printer = tracer.NewJSON(stdout)
		say = stderr
	} else {
		printer = tracer.NewPretty(stdout, useColor)
	}
	// Live: a server runs until stopped, so print each event at once.
	tr := tracer.New(tracer.Options{Printers: []tracer.Printer{printer}, Live: true})
	hooks := tr.Hooks("server")
	read := hooks.Read
	hooks.Read = func(i tracer.IOInfo) {
		if errors.Is(i.Err, net.ErrClosed) {
			// The server closed the connection itself, on shutdown,
			// while Read waited; the trace already has that close.
			i.Err = nil
		}
		read(i)
	}

	// The seed: server.listen(PORT, HOST). The kernel answers SYNs from
	// here on, whether or not anyone calls Accept.
	ln, err := tracer.Listen(ctx, hooks, "tcp", cfg.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return listenError(cfg.addr, err)
	}
	local := addrPort(ln.Addr())
	fmt.Fprintf(say, "Server listening on %s\n", local)

	var labAddr netip.AddrPort
	if cfg.lab != "" {
		srv, err := lab.Start(cfg.lab, lab.Names)
		if err != nil {
			// NOTE: ignoring the error; the listener is of no more use.
			_ = ln.Close()
			return err
		}
		defer srv.Close()
		labAddr = srv.Addr()
		names := slices.Sorted(maps.Keys(lab.Names))
		fmt.Fprintf(say, "Lab DNS server answering on udp %s for %s\n", labAddr, strings.Join(names, ", "))
		fmt.Fprintf(say, "  try: go run ./client -dns %s -addr chuck.norris.test:%d\n", labAddr, local.Port())
	}
	if cfg.ready != nil {
		cfg.ready(local, labAddr)
	}

	// Closing the listener is what ends the Accept loop.
	stop := context.AfterFunc(ctx, func() {
		// NOTE: ignoring the error; the trace shows the close.
		_ = ln.Close()
	})
	defer stop()
	s := &server{say: say, conns: make(map[net.Conn]struct{})}
	s.serve(ctx, ln)
	s.closeAll()
	s.wg.Wait()
	fmt.Fprintln(say, "Server closed")
	if err := tr.Flush(); err != nil {
		return fmt.Errorf("writing the trace: %w", err)
	}
	return nil
}

// server keeps the connections being served, to close them on shutdown.
type server struct {
	say io.Writer // the seed's lines

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// serve is Node's 'connection' event: a loop around Accept that hands
// each new connection to its own goroutine. It returns when the listener
// is closed.
func (s *server) serve(ctx context.Context, ln net.Listener) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Out of file descriptors, say: the trace shows the error.
			// Wait a little and try again, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

// handle serves one client as the seed's handlers do: print what it
// says, answer `You said "…"`, and close when it closes.
func (s *server) handle(c net.Conn) {
	defer s.wg.Done()
	peer := addrPort(c.RemoteAddr())
	fmt.Fprintf(s.say, "CONNECTED: %s\n", peer)

	// Node reads in chunks of up to 64 KiB and emits a 'data' event
	// for each; a Read here is one such chunk.
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			data := buf[:n]
			end := "\n"
			if data[n-1] == '\n' {
				end = "" // nc sends whole lines: don't print a blank one
			}
			fmt.Fprintf(s.say, "DATA %s: %s%s", peer, data, end)
			reply := make([]byte, 0, n+11)
			reply = append(reply, `You said "`...)
			reply = append(reply, data...)
			reply = append(reply, '"')
			if _, err := c.Write(reply); err != nil {
				break // the trace shows why
			}
		}
		if err != nil {
			// io.EOF: the client sent FIN (Node's 'end'). Anything
			// else: a reset, or the server closing on shutdown.
			break
		}
	}
	// NOTE: ignoring the error; the trace shows the close.
	_ = c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	fmt.Fprintf(s.say, "CLOSED: %s %d\n", peer.Addr(), peer.Port())
}

// closeAll closes the connections still open, on shutdown: each Read
// waiting in handle returns, and handle ends.
func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		// NOTE: ignoring the error; the trace shows the close.
		_ = c.Close()
	}
}

// listenError says why listening failed, in one line, with what to do.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen %s: %w (another program has this port: stop it or choose another with -addr)", addr, syscall.EADDRINUSE)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen %s: %w (ports below 1024 need root: choose another with -addr)", addr, syscall.EACCES)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen %s: %w (no interface of this machine has that address)", addr, syscall.EADDRNOTAVAIL)
	}
	return err
}

// addrPort returns a's IP and port, with an IPv4 address in IPv6 form
// (a client of a dual-stack listener) written as plain IPv4.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if ta, ok := a.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	} else {
		// NOTE: ignoring the error; a zero address prints as "invalid AddrPort".
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

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
