// Command server is the seed's Node.js TCP server in Go. It listens on
// 127.0.0.1:6969, prints CONNECTED, DATA and CLOSED for each client as
// the seed's server does, answers every message with `You said "…"`,
// and traces each step of each connection beside those lines.
//
//	go run ./server                   # then: go run ./client, or nc 127.0.0.1 6969
//	go run ./server -json | jq .phase # the trace as JSON lines
//	go run ./server -lab 127.0.0.1:10053
//	go run ./server -pcap s.pcapng    # as root: the packets too, in the trace and in a file
//	go run ./server -idle-timeout 30s # close a connection that sends nothing for 30s
//
// Where it may capture packets (root or CAP_NET_RAW; see -capture), the
// trace shows every packet of its connections too, in time order with
// its own events and the seed's lines, and -pcap saves them for tshark
// or Wireshark.
//
// It serves many clients at once. Whatever a client sends, binary or a
// message of any length, is answered chunk by chunk as it is read (at
// most -max-message bytes at a time, which bounds each connection's
// memory), and a client that sends nothing for -idle-timeout is closed.
// Ctrl-C (SIGINT) or SIGTERM closes the listener and every connection,
// notes the interruption in the trace, completes the pcap file and exits
// with the shell's status for the signal: 130 or 143.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"tcptour/tracer/cli"
	"tcptour/tracer/wire"
)

// config is what the flags ask for.
type config struct {
	addr    string // the address to listen on
	json    bool   // the trace as JSON lines; the seed's lines go to stderr
	noColor bool
	lab     string // where to run the lab DNS server; "" for none
	capture string // wire.ModeAuto, ModeOn or ModeOff ("" is auto)
	pcap    string // a pcapng file for the captured packets; "" for none
	mermaid string // a file for the Mermaid ladder diagrams, written at exit; "" for none
	html    string // a file for the page of the run (tracer/page), written at exit; "" for none
	command string // the command line, for the page

	idleTimeout time.Duration // close a connection idle this long; 0 never
	maxMessage  int           // the most bytes one Read takes, answered at once; 0 for 64 KiB

	// ready, if not nil, is called once the server listens, with the
	// address the kernel bound and that of the lab DNS server (zero
	// when there is none). Tests use it to learn the ports.
	ready func(listen, lab netip.AddrPort)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("server: ")
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2) // parseFlags has said why
	}
	ctx := cli.OnSignal()
	// Stopped by a signal, it exits as the shell would say the signal
	// killed it (130, 143), even if closing down failed too.
	cli.Exit(ctx, run(ctx, cfg, os.Stdout, os.Stderr))
}

// parseFlags parses the command line. On a bad flag it writes the error
// and the usage to stderr; on a bad address, one line. Either way it
// returns an error, flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6969", "listen on this `host:port` (port 0: the kernel chooses)")
	fs.BoolVar(&cfg.json, "json", false, "print the trace as JSON lines on stdout, one object per event (see docs/trace-format.md);\nthe seed's lines (Server listening…, CONNECTED…, DATA…, CLOSED…) then go to stderr")
	fs.BoolVar(&cfg.noColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	fs.StringVar(&cfg.lab, "lab", "", "also run the lab DNS server on this UDP `host:port` (e.g. 127.0.0.1:10053),\nso that go run ./client -dns host:port can look up chuck.norris.test")
	fs.StringVar(&cfg.capture, "capture", wire.ModeAuto, "capture the packets on loopback into the trace: auto (when permitted: root or CAP_NET_RAW), on (or fail), off")
	fs.StringVar(&cfg.pcap, "pcap", "", "save the captured packets to this pcapng `file` (for Wireshark or tshark -r), mode 0600, complete even after Ctrl-C.\nIt is written beside the path and takes its place at exit: a new file, or one that replaces a regular file of yours;\nan error leaves what was there; a symlink or another user's file is refused before the server starts")
	fs.StringVar(&cfg.mermaid, "mermaid", "", "at exit, write every connection's ladder diagram to this `file` as a Mermaid sequence diagram\n(the server's calls alone with -capture=off); as with -pcap: a new file, or a regular file of yours replaced whole")
	fs.StringVar(&cfg.html, "html", "", "at exit (Ctrl-C), write the run as one HTML `file` (timeline, every connection's ladder and graphs,\nstates), to open offline in any browser; the trace then keeps every event until exit; as with -pcap")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 5*time.Minute, "close a connection that sends nothing, or takes none of its answer, for this long; the trace says so (0: never)")
	fs.IntVar(&cfg.maxMessage, "max-message", defaultMaxMessage, "read at most this many `bytes` at a time, as Node's 'data' events hold at most 64 KiB, and answer\neach piece as it arrives: a longer message is answered in pieces; each connection holds one buffer, 1 KiB to start, doubling up to this size as a client sends more at once")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: go run ./server [flags]

The seed's Node.js TCP server in Go: it prints CONNECTED, DATA and CLOSED
for each client, answers each message with You said "<message>", and
traces every step of every connection. Ctrl-C (SIGINT) or SIGTERM stops it,
with status 130 or 143; errors exit with 1, bad flags with 2.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.command = cli.CommandLine("./server", args)
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return cfg, err
	}
	err := checkAddr("addr", cfg.addr)
	if err == nil && cfg.lab != "" {
		err = checkAddr("lab", cfg.lab)
	}
	if err == nil && cfg.idleTimeout < 0 {
		err = fmt.Errorf("-idle-timeout %s: want a positive duration, e.g. 5m, or 0 for never", cfg.idleTimeout)
	}
	if err == nil && (cfg.maxMessage < 1 || cfg.maxMessage > maxMaxMessage) {
		err = fmt.Errorf("-max-message %d: want 1 to %d bytes (16 MiB)", cfg.maxMessage, maxMaxMessage)
	}
	if err == nil {
		err = wire.CheckFlags(cfg.capture, cfg.pcap, cfg.mermaid, cfg.html)
	}
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
	}
	return cfg, err
}

// defaultMaxMessage is the size of Node's reads: each 'data' event has
// at most 64 KiB.
const defaultMaxMessage = 64 << 10

// maxMaxMessage bounds -max-message: a connection's buffer may grow that
// large, so a typo must not cost gigabytes.
const maxMaxMessage = 16 << 20

// checkAddr checks that the value of flag name is a host:port with a
// port the kernel can bind (0 to 65535), so that a typo gets a plain
// answer before anything starts.
func checkAddr(name, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("-%s %q: %v (want host:port, e.g. 127.0.0.1:6969)", name, addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("-%s %q: port %q is not a number", name, addr, port)
	}
	if n < 0 || n > 65535 {
		return fmt.Errorf("-%s %q: port %d is out of range (0 to 65535)", name, addr, n)
	}
	return nil
}
