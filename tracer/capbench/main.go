// Command capbench measures the packet capture of tracer/capture: does it
// see every packet, once, and what does it cost? It drives a burst of
// loopback connections (each a handshake, "I am Chuck Norris!" echoed and a
// close) while capturing them with tracer/capture and, when it is
// installed, with tcpdump -i lo on the same traffic in the same run, and
// prints both side by side:
//
//	go build -o capbench ./tracer/capbench && sudo ./capbench            # 2,000 connections
//	go build -o capbench ./tracer/capbench && sudo ./capbench -n 20000 -c 32
//
// What it reports, for each capture:
//
//   - packets expected: the TCP segments the kernel sent, from its own
//     counters (/proc/net/snmp: OutSegs + RetransSegs, before and after
//     the burst). The burst runs in a network namespace of its own
//     (-netns, the default), whose lo carries nothing else, so the count
//     is exact.
//   - captured; duplicated (the same frame twice); lost (expected minus
//     the distinct frames captured); dropped by the kernel (its
//     PACKET_STATISTICS, which tcpdump prints at exit).
//   - CPU per packet: the CPU time the capturing process used during the
//     burst, divided by the packets it captured. Each capture runs in a
//     process of its own (this package's in a child of capbench that keeps
//     each packet as a lesson would, tcpdump writing its file with -w), and
//     the time is the sum over the process's threads of the scheduler's
//     run time (/proc/PID/task/TID/schedstat, in ns), read just before
//     the burst and once the process has gone quiet after it. The same
//     method for both. The kernel's work of copying each frame to the
//     packet socket runs on the sending thread, so it is charged to the
//     traffic, not to either capture.
//
// tcpdump runs as tcpdump -i lo --immediate-mode -w FILE, with -B 262144
// (-tcpdump-buffer, in KiB: a 256 MiB ring): without --immediate-mode,
// tcpdump stopped soon after the traffic can leave its packets
// unwritten; with its default 2 MiB ring (-tcpdump-buffer 0) it drops
// most of this burst on a small machine in immediate mode, and with
// 64 MiB still a few hundred packets in most runs, and its count is
// then no reference.
//
// Capture needs root or CAP_NET_RAW; the namespace needs root
// (CAP_SYS_ADMIN). With -netns=false the burst runs on the machine's own
// lo, where other programs' traffic makes "expected" an upper bound.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"
)

// config is what the flags ask for.
type config struct {
	conns   int    // connections in the burst
	clients int    // concurrent clients
	msg     string // what each client says
	tcpdump string // path of tcpdump; "" to run without it
	// tcpdumpBuf is tcpdump's -B, in KiB (0: its default, 2 MiB).
	tcpdumpBuf int
	cpuprofile string        // write a CPU profile of the capturing child here
	netns      bool          // run the burst in a network namespace of its own
	timeout    time.Duration // bound on the whole run

	role      string // internal: "" (main), "bench" (in the namespace), "capture" (the capturing child)
	port      int    // internal: the port the capture child captures
	profileFD int    // internal: the inherited file descriptor to write the CPU profile to; 0 for none
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("capbench: ")
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("capbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.conns, "n", 2000, "connections in the burst")
	fs.IntVar(&cfg.clients, "c", 8, "concurrent clients")
	fs.StringVar(&cfg.msg, "msg", "I am Chuck Norris!", "what each client says")
	fs.StringVar(&cfg.tcpdump, "tcpdump", "tcpdump", "tcpdump to compare with (a name on PATH or a path); \"\" for none")
	fs.IntVar(&cfg.tcpdumpBuf, "tcpdump-buffer", 262144, "tcpdump's -B, its ring in `KiB` (0: tcpdump's default, 2048); see the package doc")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the capturing child (tracer/capture) to `file`, for go tool pprof;\nwritten beside it and put in place at the end: a new file, or a regular file of yours (never a symlink)")
	fs.BoolVar(&cfg.netns, "netns", true, "run the burst in a network namespace of its own, so that lo carries only its traffic (needs root)")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up after this long")
	fs.StringVar(&cfg.role, "role", "", "internal: the part this process plays")
	fs.IntVar(&cfg.port, "port", 0, "internal: the port to capture")
	fs.IntVar(&cfg.profileFD, "profile-fd", 0, "internal: the file descriptor to write the CPU profile to")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sudo ./capbench [flags]   (built with go build -o capbench ./tracer/capbench)

Drives a burst of loopback connections while capturing them with
tracer/capture and with tcpdump -i lo, and reports for each: packets
expected, captured, duplicated, lost, dropped by the kernel, and the
capture's CPU time per packet.

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
	case cfg.conns < 1 || cfg.conns > 1_000_000:
		err = fmt.Errorf("-n %d: want 1 to 1000000", cfg.conns)
	case cfg.clients < 1 || cfg.clients > 1000:
		err = fmt.Errorf("-c %d: want 1 to 1000", cfg.clients)
	case cfg.tcpdumpBuf < 0:
		err = fmt.Errorf("-tcpdump-buffer %d: want 0 or more KiB", cfg.tcpdumpBuf)
	case cfg.msg == "" || len(cfg.msg) > 1000:
		err = errors.New("-msg: want 1 to 1000 bytes")
	}
	if err != nil {
		fmt.Fprintf(stderr, "capbench: %v\n", err)
		fs.Usage()
	}
	return cfg, err
}
