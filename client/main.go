// Command client is the seed's Node.js TCP client in Go. It connects to
// localhost:6969, says "I am Chuck Norris!", prints the server's answer
// as DATA, closes the connection and prints "Connection closed", and
// traces each step beside those lines: the name lookup, the connect,
// the data and the close.
//
//	go run ./server &
//	go run ./client                          # localhost: /etc/hosts answers, no DNS query (if it lists ::1 first, a SYN to [::1]:6969 is refused before 127.0.0.1 is tried)
//	go run ./client -addr 127.0.0.1:6969     # an IP literal: no lookup at all
//	go run ./server -lab 127.0.0.1:10053 &
//	go run ./client -dns 127.0.0.1:10053 -addr chuck.norris.test:6969  # a real DNS query
//	go run ./client -addr 127.0.0.1:6969 -pcap c.pcapng  # as root: the packets too, and their ladder
//
// Where it may capture packets (root or CAP_NET_RAW; see -capture), the
// trace shows the packets too, in time order with the client's events,
// and ends with the connection's ladder diagram; -pcap saves the
// packets for tshark or Wireshark.
//
// Ctrl-C (SIGINT) or SIGTERM, whenever it comes, closes the connection,
// notes the interruption in the trace, completes the pcap file and exits
// with the shell's status for the signal: 130 or 143. A server's answer
// that is binary or long shows in the DATA line as the trace shows it:
// in hex, or cut with the count of the bytes left out.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"time"

	"tcptour/tracer/cli"
	"tcptour/tracer/wire"
)

// config is what the flags ask for.
type config struct {
	addr    string        // host:port to connect to
	msg     string        // what to say
	dns     string        // DNS server host:port to ask; "" for the system's
	json    bool          // the trace as JSON lines; the seed's lines go to stderr
	noColor bool          //
	timeout time.Duration // for the dial (lookup included) and for the reply
	capture string        // wire.ModeAuto, ModeOn or ModeOff ("" is auto)
	pcap    string        // a pcapng file for the captured packets; "" for none
	mermaid string        // a file for the Mermaid ladder diagram, written at exit; "" for none
	html    string        // a file for the page of the run (tracer/page), written at exit; "" for none
	command string        // the command line, for the page
}

// errInterrupted is returned when Ctrl-C stopped the client.
var errInterrupted = cli.ErrInterrupted

func main() {
	log.SetFlags(0)
	log.SetPrefix("client: ")
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2) // parseFlags has said why
	}
	ctx := cli.OnSignal()
	// Stopped by a signal, it exits as the shell would say the signal
	// killed it (130, 143), whatever the client was doing.
	cli.Exit(ctx, run(ctx, cfg, os.Stdout, os.Stderr))
}

// parseFlags parses the command line. On a bad flag it writes the error
// and the usage to stderr; on a bad value, one line. Either way it
// returns an error, flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "localhost:6969", "connect to this `host:port`: a name is looked up first, an IP literal is not")
	fs.StringVar(&cfg.msg, "msg", "I am Chuck Norris!", "the `message` to send")
	fs.StringVar(&cfg.dns, "dns", "", "ask the DNS server at this `host:port` (port 53 if left out) instead of the system's;\n/etc/hosts is still read first (try the lab DNS server: go run ./server -lab 127.0.0.1:10053)")
	fs.BoolVar(&cfg.json, "json", false, "print the trace as JSON lines on stdout, one object per event (see docs/trace-format.md);\nthe seed's lines (CONNECTED TO…, DATA…, Connection closed) then go to stderr")
	fs.BoolVar(&cfg.noColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "give up connecting (the lookup included), and waiting for the answer, after this long")
	fs.StringVar(&cfg.capture, "capture", wire.ModeAuto, "capture the packets on loopback into the trace: auto (when permitted: root or CAP_NET_RAW), on (or fail), off")
	fs.StringVar(&cfg.pcap, "pcap", "", "save the captured packets to this pcapng `file` (for Wireshark or tshark -r), mode 0600, complete even after Ctrl-C.\nIt is written beside the path and takes its place at exit: a new file, or one that replaces a regular file of yours;\nan error leaves what was there; a symlink or another user's file is refused before the client starts")
	fs.StringVar(&cfg.mermaid, "mermaid", "", "at exit, write the connection's ladder diagram to this `file` as a Mermaid sequence diagram\n(the client's calls alone with -capture=off); as with -pcap: a new file, or a regular file of yours replaced whole")
	fs.StringVar(&cfg.html, "html", "", "at exit, write the run as one HTML `file` (timeline, ladder, time–sequence graph, states), to open offline\nin any browser; also after Ctrl-C; as with -pcap: a new file, or a regular file of yours replaced whole")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: go run ./client [flags]

The seed's Node.js TCP client in Go: it connects, says "I am Chuck Norris!",
prints the answer as DATA, closes, and traces every step on the way.
Ctrl-C (SIGINT) or SIGTERM stops it, with status 130 or 143; errors exit
with 1, bad flags with 2.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.command = cli.CommandLine("./client", args)
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return cfg, err
	}
	err := checkAddr("addr", cfg.addr)
	if err == nil && cfg.dns != "" {
		if _, _, serr := net.SplitHostPort(cfg.dns); serr != nil {
			// A bare address means the DNS port.
			cfg.dns = net.JoinHostPort(cfg.dns, "53")
		}
		err = checkAddr("dns", cfg.dns)
	}
	if err == nil && cfg.timeout <= 0 {
		err = fmt.Errorf("-timeout %s: want a positive duration, e.g. 5s", cfg.timeout)
	}
	if err == nil {
		err = wire.CheckFlags(cfg.capture, cfg.pcap, cfg.mermaid, cfg.html)
	}
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
	}
	return cfg, err
}

// checkAddr checks that the value of flag name is a host:port with a
// port one can connect to (1 to 65535), so that a typo gets a plain
// answer before anything starts.
func checkAddr(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("-%s %q: %v (want host:port, e.g. localhost:6969)", name, addr, err)
	}
	if host == "" {
		return fmt.Errorf("-%s %q: no host (want host:port, e.g. localhost:6969)", name, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("-%s %q: port %q is not a number", name, addr, port)
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("-%s %q: port %d is out of range (1 to 65535)", name, addr, n)
	}
	return nil
}
