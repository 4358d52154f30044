// Command serverbench measures the traced server (./server) against its
// references under the same load, in one run: all the servers up at
// once, each on its own loopback port, and tracer/load run against each
// in turn, several rounds, the order rotated each round. It reports each
// server's connections per second, its ratio to the untraced Go echo
// server of the same round (min–median–max over the rounds), its CPU
// time per connection, and the targets of issue 19, met or not.
//
//	go run ./tracer/serverbench                          # 4 and 50 clients, 2 s per run, 3 rounds
//	go run ./tracer/serverbench -c 4 -d 3s -rounds 5
//	go run ./tracer/serverbench -only untraced,traced     # a subset
//	go run ./tracer/serverbench -keep /tmp/sb             # keep the binaries, outputs and pcaps
//
// On the shared machine, take figures under the lock, as root (for the
// capturing servers):
//
//	flock /tmp/tcptour-measure.lock go run ./tracer/serverbench
//
// The servers (-only takes their names):
//
//   - untraced: the reference, an untraced Go echo server that does what
//     the traced server does and nothing more: a goroutine per
//     connection, the traced server's buffers (1 KiB, doubled when a
//     read fills one, up to 64 KiB), each read answered with
//     `You said "…"` in one write (the seed's protocol). It is this
//     program run again in a process of its own.
//   - traced: ./server -json -capture=off, the trace to a file.
//   - node: the seed's Node.js server, node client/testdata/server.js
//     (HOST and PORT from the environment), its lines to a file; skipped
//     where node is not installed.
//   - captured: ./server -json -capture=on -pcap FILE: the packets in the
//     trace and in a pcapng file; skipped where capture is not permitted
//     (root or CAP_NET_RAW), with the server's own reason.
//   - untraced+tcpdump: another untraced server, while tcpdump -i lo
//     --immediate-mode -B 262144 -w FILE 'tcp port P' records its port:
//     the simplest alternative a user has to the captured server; skipped
//     where tcpdump is missing or may not capture, with its reason.
//     tcpdump gets a 256 MiB ring (-tcpdump-buffer, in KiB), as in
//     tracer/capbench, so that it does the same work as the captured
//     server: with its default 2 MiB it drops a large part of the packets
//     here (it says how many at exit, reported below the tables), and a
//     tcpdump that drops packets does less work than one that keeps them.
//
// ./server and tracer/load are built once, into a temporary directory
// (or -keep DIR), from the tree as it is. Each server's stdout and stderr
// go to files there, never through this program. A server is ready when
// a connection to its port succeeds (its output goes to a file, so its
// "listening" line is not read), tcpdump when it says "listening on".
//
// Each run is `load -addr 127.0.0.1:PORT -c N -d D` against one server;
// its connections/s, p50, p99 and errors come from load's output. The
// CPU time of a run is the server's utime+stime (children included) from
// /proc/PID/stat, read before load starts and again once the server has
// gone quiet after it (no tick of CPU for 50 ms, at most 1 s: the
// server's last batch of trace, the capture's last block), divided by
// the connections load made. For untraced+tcpdump, tcpdump's own CPU
// time is read the same way and shown beside the server's. On a machine
// shared with the load generator the CPU per connection is steadier
// than the rate. Times come in clock ticks (10 ms): about 1 % of a 2 s
// run's CPU.
//
// Before the first run each server gets a short warm-up run (-warmup,
// not reported), so that no server's first round pays for its start
// (Node's compiler, Go's heap growing). After the last run, every server
// and tcpdump is stopped (SIGINT, then SIGKILL after 15 s), and the two
// packet files are read: their packets are counted, and an empty one is
// an error. Ctrl-C stops every process this program started; each is in
// a process group of its own and is killed by the kernel should this
// program die (Pdeathsig).
//
// The exit status is 0 when every run answered with no error and the
// packet files hold packets, 1 otherwise, 2 for bad flags; a target not
// met is reported, not an error.
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The servers, in the order of the first round.
const (
	untraced        = "untraced"
	traced          = "traced"
	node            = "node"
	captured        = "captured"
	untracedTcpdump = "untraced+tcpdump"
)

var serverNames = []string{untraced, traced, node, captured, untracedTcpdump}

// config is what the flags ask for.
type config struct {
	clients []int         // client counts, a table each
	dur     time.Duration // each run
	rounds  int
	only    []string      // the servers to run, in serverNames' order
	keep    string        // keep the files in this directory; "" for a temporary one
	warmup  time.Duration // a run per server before the first, not reported; 0 for none
	// tcpdumpBuf is tcpdump's -B, in KiB (0: its default, 2 MiB).
	tcpdumpBuf int
}

// roleEnv, set to "untraced" in this program's environment, makes it the
// untraced reference server, listening on the address in addrEnv.
const (
	roleEnv = "TCPTOUR_SERVERBENCH_ROLE"
	addrEnv = "TCPTOUR_SERVERBENCH_ADDR"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("serverbench: ")
	if os.Getenv(roleEnv) == "untraced" {
		if err := serveUntraced(os.Getenv(addrEnv), os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stdout, os.Stderr)
	if err == nil && rep != nil && !rep.ok() {
		err = errors.New("some runs had errors, or a packet file is empty (see above)")
	}
	if err != nil {
		stop()
		log.Print(err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("serverbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.String("c", "4,50", "client counts, comma separated: a table for each")
	fs.DurationVar(&cfg.dur, "d", 2*time.Second, "how long each run lasts")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds per client count: each server once a round, the order rotated each round")
	only := fs.String("only", "", "run only these `servers`, comma separated: "+strings.Join(serverNames, ", ")+" (default: all)")
	fs.StringVar(&cfg.keep, "keep", "", "build and write into this `dir` and keep it: the binaries, each server's output, the pcaps\n(default: a temporary directory, removed at the end)")
	fs.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "a run against each server before the first, with the first client count, not reported (0: none)")
	fs.IntVar(&cfg.tcpdumpBuf, "tcpdump-buffer", 262144, "tcpdump's -B, its ring in `KiB` (0: tcpdump's default, 2048), large enough that it drops nothing\nand so does the same work as the captured server (see the package doc)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: go run ./tracer/serverbench [flags]

Runs tracer/load against the traced server (./server) and its references
(an untraced Go echo server, the seed's Node.js server, the captured
server, the untraced server with tcpdump recording its port), all up at
once, in turn, several rounds; prints connections/s, the ratio to the
untraced server of the same round, CPU time per connection, and the
targets of issue 19. Linux only; capture needs root.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	cfg.clients, err = parseInts(*clients)
	if err == nil {
		cfg.only, err = parseOnly(*only)
	}
	switch {
	case err != nil:
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.dur <= 0 || cfg.dur > 10*time.Minute:
		err = fmt.Errorf("-d %v: want more than 0 and at most 10m", cfg.dur)
	case cfg.rounds < 1 || cfg.rounds > 100:
		err = fmt.Errorf("-rounds %d: want 1 to 100", cfg.rounds)
	case cfg.warmup < 0:
		err = fmt.Errorf("-warmup %v: want 0 or more", cfg.warmup)
	case cfg.tcpdumpBuf < 0:
		err = fmt.Errorf("-tcpdump-buffer %d: want 0 or more KiB", cfg.tcpdumpBuf)
	}
	if err != nil {
		fmt.Fprintf(stderr, "serverbench: %v\n", err)
		fs.Usage()
	}
	return cfg, err
}

// parseInts parses -c: client counts, 1 to 10,000 (load's bounds).
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("-c %q: want client counts from 1 to 10000, comma separated, e.g. 4,50", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseOnly parses -only into server names, in serverNames' order.
func parseOnly(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return slices.Clone(serverNames), nil
	}
	want := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(serverNames, f) {
			return nil, fmt.Errorf("-only: no server %q: want some of %s", f, strings.Join(serverNames, ", "))
		}
		want[f] = true
	}
	var out []string
	for _, n := range serverNames {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
