// Command capbench measures the packet capture of tracer/capture against
// tcpdump doing the same work: does it see every packet, once, and what
// does it cost? It drives a burst of loopback connections (each a
// handshake, "I am Chuck Norris!" echoed and a close) while capturing
// them, in the same run, each capture in a process of its own:
//
//   - capture → pcapng: tracer/capture writing each packet to a pcapng
//     file, with the writer and the file a lesson's --pcap and the
//     server's -pcap use (capture.NewWriter on a tracer/outfile.File,
//     made by wire.CreateFiles and put in place at the end);
//   - tcpdump -w: tcpdump -i lo --immediate-mode -w FILE, when it is
//     installed;
//   - lesson pipeline (-pipeline, the default): what a lesson runs for
//     each packet, as a reference beside them: capture, decode,
//     annotate and record (tracer/wire's Timeline and Session, writing
//     the pcapng file too), and print (the trace, as JSON or pretty
//     text, -print, to a file, every 100 ms or 1,024 events, as the
//     server prints).
//
// It prints them side by side:
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
//   - captured: the packets in its file, read back once it has
//     stopped; duplicated (the same frame twice); lost (expected minus
//     the distinct frames in the file); dropped by the kernel (its
//     PACKET_STATISTICS, which tcpdump prints at exit).
//   - CPU per packet: the CPU time the capturing process used during the
//     burst, divided by the packets in its file. The time is the sum over
//     the process's threads of the scheduler's run time
//     (/proc/PID/task/TID/schedstat, in ns), read just before the burst
//     and once the process has gone quiet after it. The same method for
//     all. The kernel's work of copying each frame to the packet socket
//     runs on the sending thread, so it is charged to the traffic, not
//     to any capture.
//   - the files compared frame by frame with tcpdump's: the frames in
//     both, in one only, and how far apart their timestamps are.
//
// tcpdump runs as tcpdump -i lo --immediate-mode -w FILE, with -B 262144
// (-tcpdump-buffer, in KiB: a 256 MiB ring): without --immediate-mode,
// tcpdump stopped soon after the traffic can leave its packets
// unwritten; with its default 2 MiB ring (-tcpdump-buffer 0) it drops
// most of this burst on a small machine in immediate mode, and with
// 64 MiB still a few hundred packets in most runs, and its count is
// then no reference.
//
// -cpuprofile and -pipeline-cpuprofile write CPU profiles of the
// capturing children, for go tool pprof.
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
	cpuprofile string // write a CPU profile of the capture → pcapng child here
	pipeline   bool   // run the lesson pipeline too
	print      string // the pipeline's trace: "json" or "pretty"
	// pipelineCPUProfile is where to write a CPU profile of the
	// pipeline's child.
	pipelineCPUProfile string
	netns              bool          // run the burst in a network namespace of its own
	timeout            time.Duration // bound on the whole run

	role  string // internal: "" (main), "bench" (in the namespace), "capture" (a capturing child)
	mode  string // internal: the capturing child's work, modePcapng or modePipeline
	port  int    // internal: the port the capture child captures
	pcap  string // internal: the pcapng file the capturing child writes
	trace string // internal: the file the pipeline prints its trace to
	// profileFD and pipelineProfileFD are internal: the inherited file
	// descriptors to write the CPU profiles to; 0 for none.
	profileFD, pipelineProfileFD int
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
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the capture → pcapng child to `file`, for go tool pprof;\nwritten beside it and put in place at the end: a new file, or a regular file of yours (never a symlink)")
	fs.BoolVar(&cfg.pipeline, "pipeline", true, "run a lesson's whole pipeline too (capture, decode, annotate, print), in a child of its own")
	fs.StringVar(&cfg.print, "print", "json", "how the pipeline prints its trace (to a file): json or pretty")
	fs.StringVar(&cfg.pipelineCPUProfile, "pipeline-cpuprofile", "", "write a CPU profile of the pipeline's child to `file`, as -cpuprofile")
	fs.BoolVar(&cfg.netns, "netns", true, "run the burst in a network namespace of its own, so that lo carries only its traffic (needs root)")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up after this long")
	fs.StringVar(&cfg.role, "role", "", "internal: the part this process plays")
	fs.IntVar(&cfg.port, "port", 0, "internal: the port to capture")
	fs.StringVar(&cfg.mode, "mode", "", "internal: the capturing child's work")
	fs.StringVar(&cfg.pcap, "pcap", "", "internal: the pcapng file the capturing child writes")
	fs.StringVar(&cfg.trace, "trace", "", "internal: the file the pipeline prints its trace to")
	fs.IntVar(&cfg.profileFD, "profile-fd", 0, "internal: the file descriptor to write the CPU profile to")
	fs.IntVar(&cfg.pipelineProfileFD, "pipeline-profile-fd", 0, "internal: the file descriptor to write the pipeline's CPU profile to")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sudo ./capbench [flags]   (built with go build -o capbench ./tracer/capbench)

Drives a burst of loopback connections while capturing them to a
pcapng file with tracer/capture, to a pcap file with tcpdump -i lo -w,
and with a lesson's whole pipeline (capture, decode, annotate, print),
and reports for each: packets expected, captured (in its file),
duplicated, lost, dropped by the kernel, and the CPU time per packet.

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
	case cfg.print != "json" && cfg.print != "pretty":
		err = fmt.Errorf("-print %q: want json or pretty", cfg.print)
	case cfg.msg == "" || len(cfg.msg) > 1000:
		err = errors.New("-msg: want 1 to 1000 bytes")
	}
	if err != nil {
		fmt.Fprintf(stderr, "capbench: %v\n", err)
		fs.Usage()
	}
	return cfg, err
}
