// Command inspect reads a saved capture — a pcap or pcapng file written
// by a lesson's --pcap, by tcpdump -w or by Wireshark, gzip-compressed or
// not, or standard input — and prints the same annotated timeline and
// ladder diagrams a lesson prints live, for each TCP connection in it.
// Reading a file needs no privilege.
//
//	go run ./tracer/inspect tracer/inspect/testdata/lesson03.pcapng
//	go run ./tracer/inspect --json capture.pcap | jq .
//	go run ./tracer/inspect -stats capture.pcap.gz
//	tcpdump -i any -w - port 80 | go run ./tracer/inspect -port 80 -
//	go run ./tracer/inspect --quiz tracer/inspect/testdata/lesson03.pcapng
//
// It reads the file once, as a stream: what it keeps grows with the
// connections open at once, not with the file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"tcptour/tracer/cli"

	"github.com/mattn/go-isatty"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("inspect: ")
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	// Someone to answer the questions: a terminal that is not where
	// the capture comes from.
	cfg.quizIn = os.Stdin
	cfg.quizAsk = cfg.quiz && cfg.file != "-" && isatty.IsTerminal(os.Stdin.Fd())
	if err := run(cfg, os.Stdout, os.Stderr); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// config is what the command line asks for. The filters are kept as
// given, parsed by newFilter.
type config struct {
	file    string
	json    bool
	noColor bool
	mermaid string
	html    string
	command string // the command line, for the page
	stats   bool
	port    string
	host    string
	conn    string
	// quiz ends the output with questions about the capture; quizAsk
	// asks them, reading the replies from quizIn, where main sets it
	// when standard input is a terminal (and not the capture).
	quiz    bool
	quizAsk bool
	quizIn  io.Reader
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.json, "json", false, "print the timeline as JSON lines (docs/trace-format.md); with -stats, a JSON line per connection")
	fs.BoolVar(&cfg.noColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	fs.StringVar(&cfg.mermaid, "mermaid", "", "write the ladder diagrams to this `file` as a Mermaid sequence diagram, put in place once complete:\na new file, or a regular file of yours replaced whole; a symlink or another user's file is refused")
	fs.StringVar(&cfg.html, "html", "", "write the capture as one HTML `file`: timeline, each connection's ladder and time–sequence graph, states;\nit opens offline in any browser; a large capture's ordinary segments fold, drawn on demand; as with -mermaid")
	fs.BoolVar(&cfg.stats, "stats", false, "print a summary of each TCP connection instead of the timeline: endpoints, duration,\nsegments and bytes each way, handshake round trip, segments sent again, how it ended")
	fs.StringVar(&cfg.port, "port", "", "show only packets to or from these `ports` (comma separated: 80,443)")
	fs.StringVar(&cfg.host, "host", "", "show only packets to or from these `addresses` or prefixes (comma separated: 192.0.2.1,2001:db8::/32)")
	fs.StringVar(&cfg.conn, "conn", "", "show only these TCP `connections`, by the numbers (#3) inspect gives them without filters (comma separated: 1,3)")
	fs.BoolVar(&cfg.quiz, "quiz", false, "after the ladders, up to 5 questions the capture answers (a teacher hands out a pcap), about the\nconnections shown and kept whole; asked when standard input is a terminal, else printed with their answers")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: go run ./tracer/inspect [flags] FILE

Prints the annotated timeline and ladder of each TCP connection in a pcap
or pcapng file, gzip-compressed or not; FILE "-" reads standard input.
Filters combine: a packet is shown when it passes every filter given.

Flags:`)
		fs.PrintDefaults()
	}
	cfg.command = cli.CommandLine("./tracer/inspect", args)
	// Flags may come before or after the file name.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		err := errors.New("want one capture file")
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return cfg, err
	}
	cfg.file = files[0]
	if cfg.quiz && (cfg.json || cfg.stats) {
		err := errors.New("-quiz asks a person about the timeline: not with -json or -stats")
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return cfg, err
	}
	if _, err := newFilter(cfg); err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return cfg, err
	}
	return cfg, nil
}

// plural is "1 packet" or "2 packets".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(parts []string) string {
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
