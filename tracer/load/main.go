// Command load puts the seed's server under load on loopback: N clients
// at a time, for D seconds, each connecting, saying "I am Chuck Norris!",
// reading the reply and closing, again and again. It prints the
// connections per second, the latency of each connection (connect to
// close) at the 50th and 99th percentiles, and the errors.
//
//	go run ./server -capture=off >/dev/null &      # the traced server
//	go run ./tracer/load -addr 127.0.0.1:6969 -c 50 -d 10s
//
// It works against any server on this machine that answers as the seed's
// does, for example the seed's Node.js server, to compare.
//
// With -idle N it holds N connections open instead, sending nothing, for
// D, then checks that each still gets its reply; it reports the server's
// resident memory per connection (the server is found by its listening
// socket, or named with -pid):
//
//	go run ./tracer/load -idle 10000 -d 20s
//
// Only loopback addresses are accepted (127.0.0.0/8, ::1, or localhost),
// and no name is looked up: load is for this machine's own servers, and
// sends nothing anywhere else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is what the flags ask for.
type config struct {
	addr    string
	clients int
	dur     time.Duration
	msg     string
	timeout time.Duration // bound on each connection
	idle    int           // hold this many idle connections instead
	pid     int           // the server's process, for its memory (0: find it)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("load: ")
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6969", "the server's `host:port`: a loopback address (127.0.0.1, ::1) or localhost, nothing else")
	fs.IntVar(&cfg.clients, "c", 50, "concurrent clients")
	fs.DurationVar(&cfg.dur, "d", 10*time.Second, "how long to run (with -idle: how long to hold the connections)")
	fs.StringVar(&cfg.msg, "msg", "I am Chuck Norris!", "what each client says")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "give up on a connection that takes longer than this")
	fs.IntVar(&cfg.idle, "idle", 0, "hold this many idle connections for -d instead, and report the server's memory per connection")
	fs.IntVar(&cfg.pid, "pid", 0, "the server's process id, for its memory with -idle (default: the process listening on -addr)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: go run ./tracer/load [flags]

Runs clients against a server on loopback for a while, each connecting,
saying its message, reading the reply (You said "…") and closing; prints
connections per second, latency (p50, p99) and errors. With -idle N,
holds N idle connections and reports the server's memory per connection.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.clients < 1 || cfg.clients > 10000:
		err = fmt.Errorf("-c %d: want 1 to 10000", cfg.clients)
	case cfg.dur <= 0 || cfg.dur > 24*time.Hour:
		err = fmt.Errorf("-d %v: want more than 0 and at most 24h", cfg.dur)
	case cfg.msg == "" || len(cfg.msg) > 64<<10:
		err = errors.New("-msg: want 1 byte to 64 KiB")
	case cfg.timeout <= 0:
		err = fmt.Errorf("-timeout %v: want more than 0", cfg.timeout)
	case cfg.idle < 0 || cfg.idle > 1_000_000:
		err = fmt.Errorf("-idle %d: want 0 to 1000000", cfg.idle)
	case cfg.pid < 0:
		err = fmt.Errorf("-pid %d", cfg.pid)
	}
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		fs.Usage()
	}
	return cfg, err
}
