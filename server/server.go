package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/cli"
	"tcptour/tracer/lab"
	"tcptour/tracer/page"
	"tcptour/tracer/wire"
)

// flushEvery is how often a running server prints its trace. Packets
// reach the trace from the capture's goroutine a little after the
// events that caused them, so the trace is not live: it is printed in
// time order on this ticker, up to the moment the capture caught up,
// and sooner when events come fast (see wire.Timeline.FlushEvery).
const flushEvery = 100 * time.Millisecond

// run listens on cfg.addr and serves every client in its own goroutine
// until ctx is done. Then it closes the listener and the connections
// still open, waits for their goroutines, stops the capture and prints
// the rest of the trace, and returns nil.
//
// The trace goes to stdout. The seed's lines go to stdout too, between
// the trace's, or to stderr with cfg.json so that stdout holds only JSON.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	// The output files are checked before the server starts; a run
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
	// The server runs for long: its trace keeps no event once printed,
	// unless -mermaid or -html needs them all at exit.
	history := tracer.NoHistory
	if cfg.mermaid != "" || cfg.html != "" {
		history = 0
	}
	// With -json, the seed's lines go to stderr: to another file than
	// the trace (unless 2>&1), where they are written all at once at
	// each flush.
	tl, skipped, err := wire.NewTimeline("server", printer, say, wire.Config{Mode: cfg.capture, PCAP: files.PCAP, History: history, Program: "./server",
		SayApart: !cli.SameFile(stdout, say)})
	if err != nil {
		return err
	}
	for _, line := range skipped {
		fmt.Fprintf(stderr, "server: %s\n", line)
	}

	stopFlushing := tl.FlushEvery(flushEvery)
	// Stopped by a signal: the trace says so before the closes it
	// causes, or at the end if the server had not listened yet.
	interrupted := sync.OnceFunc(func() {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			tl.Trace().Note("server", cause.Error()+": closing")
		}
	})
	err = listenAndServe(ctx, cfg, tl, interrupted)
	if ctx.Err() != nil {
		interrupted()
	}
	stopFlushing()
	// On Ctrl-C as on an error: stop the capture, so that the pcap
	// file ends cleanly, and print what is left of the trace.
	packets, stats, cerr := tl.Close()
	if err == nil {
		err = cerr
	}
	if err == nil && cfg.mermaid != "" {
		err = tl.WriteMermaid(files.Mermaid)
	}
	if err == nil && cfg.html != "" {
		err = page.Write(files.HTML, page.Doc{Title: "server on " + cfg.addr, Command: cfg.command, Events: tl.Events()})
	}
	if err == nil {
		err = files.Commit(tl.Session() != nil, cfg.mermaid != "", cfg.html != "")
	}
	if err == nil && !cfg.json {
		tl.Summary(stdout, packets, stats, cfg.pcap)
	}
	return err
}

// listenAndServe is the seed's server, traced in tl: it listens, then
// serves until ctx is done, when it calls stopping before it closes the
// listener.
func listenAndServe(ctx context.Context, cfg config, tl *wire.Timeline, stopping func()) error {
	hooks := tl.Hooks()
	read, fail := hooks.Read, hooks.Error
	hooks.Read = func(i tracer.IOInfo) {
		if errors.Is(i.Err, net.ErrClosed) || errors.Is(i.Err, os.ErrDeadlineExceeded) {
			// The server closed the connection itself, on shutdown,
			// while Read waited: the trace already has that close. Or
			// the idle timeout passed: handle's note says so.
			i.Err = nil
		}
		read(i)
	}
	hooks.Error = func(i tracer.ErrorInfo) {
		if i.Op == "write" && (errors.Is(i.Err, net.ErrClosed) || errors.Is(i.Err, os.ErrDeadlineExceeded)) {
			// As for Read: shutdown closed the connection while Write
			// waited for a client that reads nothing, or the idle
			// timeout passed and handle's note says so.
			return
		}
		fail(i)
	}
	if ctx.Err() != nil {
		return nil // stopped before it started
	}

	// The lab DNS server first: if its port is taken, the server
	// stops before it has said it listens.
	var labAddr netip.AddrPort
	if cfg.lab != "" {
		srv, err := lab.Start(cfg.lab, lab.Names)
		if err != nil {
			return err
		}
		defer srv.Close()
		labAddr = srv.Addr()
		// The lookups of the clients that use it are on the wire too.
		tl.Session().AddUDPPort(labAddr.Port())
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
	tl.Say("Server listening on %s\n", local)
	if labAddr.IsValid() {
		names := slices.Sorted(maps.Keys(lab.Names))
		tl.Say("Lab DNS server answering on udp %s for %s\n", labAddr, strings.Join(names, ", "))
		tl.Say("  try: go run ./client -dns %s -addr chuck.norris.test:%d\n", labAddr, local.Port())
	}
	// Say where the server listens at once, not at the next tick.
	// NOTE: ignoring the error; Close returns it.
	_ = tl.Flush()
	if cfg.ready != nil {
		cfg.ready(local, labAddr)
	}

	// Closing the listener is what ends the Accept loop.
	stop := context.AfterFunc(ctx, func() {
		stopping()
		// NOTE: ignoring the error; the trace shows the close.
		_ = ln.Close()
	})
	defer stop()
	s := &server{tl: tl, idle: cfg.idleTimeout, max: cfg.maxMessage, conns: make(map[net.Conn]struct{})}
	if s.max <= 0 {
		s.max = defaultMaxMessage
	}
	s.serve(ctx, ln)
	s.closeAll()
	s.wg.Wait()
	tl.Say("Server closed\n")
	return nil
}

// firstRead is the size of a connection's first read buffer; it grows up
// to -max-message as the client sends more at once.
const firstRead = 1 << 10

// server keeps the connections being served, to close them on shutdown.
type server struct {
	tl   *wire.Timeline // the trace, and the seed's lines in it
	idle time.Duration  // close a connection idle this long; 0 never
	max  int            // the most bytes one Read takes

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
// says, answer `You said "…"`, and close when it closes, or when it has
// been idle for s.idle.
func (s *server) handle(c net.Conn) {
	defer s.wg.Done()
	peer := addrPort(c.RemoteAddr())
	s.tl.Say("CONNECTED: %s\n", peer)

	// Node reads in chunks of up to 64 KiB and emits a 'data' event
	// for each; a Read here is one such chunk, of at most s.max bytes,
	// answered at once. So a long message, even one with no newline, is
	// answered in pieces as it arrives, and the connection never holds
	// more than this one buffer: the answer is built around the bytes
	// read, in place. The buffer starts small, as most messages are,
	// and doubles, up to s.max, each time a Read fills it: an idle
	// connection holds 1 KiB, not 64.
	const prefix = `You said "`
	size := min(firstRead, s.max)
	buf := make([]byte, len(prefix)+size+1)
	copy(buf, prefix)
	var why string // why the server closes, when it is the one to choose
	for {
		if s.idle > 0 {
			// NOTE: ignoring the error; a *net.TCPConn has deadlines.
			_ = c.SetReadDeadline(time.Now().Add(s.idle))
		}
		n, err := c.Read(buf[len(prefix) : len(prefix)+size])
		if n > 0 {
			data := buf[len(prefix) : len(prefix)+n]
			s.tl.Say("DATA %s: %s", peer, cli.Said(data))
			reply := append(buf[:len(prefix)+n], '"')
			if s.idle > 0 {
				// A client that sends and never reads fills the
				// buffers both ways, and Write waits: not forever.
				// NOTE: ignoring the error, as above.
				_ = c.SetWriteDeadline(time.Now().Add(s.idle))
			}
			if _, werr := c.Write(reply); werr != nil {
				if errors.Is(werr, os.ErrDeadlineExceeded) {
					why = fmt.Sprintf("the answer waited %s for the client to read: closing", s.idle)
				}
				break // the trace shows why
			}
		}
		if n == size && size < s.max {
			// More may be on its way: a bigger buffer for the next Read.
			size = min(2*size, s.max)
			buf = make([]byte, len(prefix)+size+1)
			copy(buf, prefix)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			why = fmt.Sprintf("idle for %s: closing", s.idle)
		}
		if err != nil {
			// io.EOF: the client sent FIN (Node's 'end'). Anything
			// else: a reset, the idle timeout, or the server closing
			// on shutdown.
			break
		}
	}
	if why != "" {
		s.note(c, why)
	}
	// NOTE: ignoring the error; the trace shows the close.
	_ = c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.tl.Say("CLOSED: %s %d\n", peer.Addr(), peer.Port())
}

// note adds the server's note of why it closes c. It is a function of
// its own, so that the event it builds is not in the frame of handle,
// whose stack every idle connection keeps.
//
//go:noinline
func (s *server) note(c net.Conn, why string) {
	s.tl.Trace().Record(&tracer.Event{Actor: "server", Phase: tracer.PhaseNote, Proto: "tcp",
		Local: addrPort(c.LocalAddr()), Remote: addrPort(c.RemoteAddr()), Text: why})
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
