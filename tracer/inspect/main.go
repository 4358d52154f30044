// Command inspect reads a saved capture — a pcap or pcapng file written
// by a lesson's --pcap, or by tcpdump -i lo -w — and prints the same
// annotated timeline and ladder diagrams a lesson prints live, for each
// TCP connection in it. Reading a file needs no privilege.
//
//	go run ./tracer/inspect tracer/inspect/testdata/lesson03.pcapng
//	go run ./tracer/inspect --json capture.pcap | jq .
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/outfile"
	"tcptour/tracer/wire"
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
	if err := run(cfg, os.Stdout, os.Stderr); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

type config struct {
	file    string
	json    bool
	noColor bool
	mermaid string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.json, "json", false, "print the timeline as JSON lines (docs/trace-format.md)")
	fs.BoolVar(&cfg.noColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	fs.StringVar(&cfg.mermaid, "mermaid", "", "write the ladder diagrams to this `file` as a Mermaid sequence diagram, put in place once complete:\na new file, or a regular file of yours replaced whole; a symlink or another user's file is refused")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./tracer/inspect [flags] FILE\n\nPrints the annotated timeline and ladder of each TCP connection in a pcap or pcapng file.\n\nFlags:")
		fs.PrintDefaults()
	}
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
	return cfg, nil
}

func run(cfg config, stdout, stderr io.Writer) error {
	// The Mermaid file is checked before the capture is read (see
	// tracer/outfile), and put in place only when complete.
	var mermaid *outfile.File
	if cfg.mermaid != "" {
		if in, err := os.Stat(cfg.file); err == nil {
			if out, err := os.Stat(cfg.mermaid); err == nil && os.SameFile(in, out) {
				return fmt.Errorf("-mermaid %s: is the capture file to read: name another", cfg.mermaid)
			}
		}
		f, err := outfile.Create("mermaid", cfg.mermaid, 0o644)
		if err != nil {
			return err
		}
		defer f.Discard()
		mermaid = f
	}
	pkts, readErr := capture.ReadFile(cfg.file)
	if readErr != nil && len(pkts) == 0 {
		return readErr
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "inspect: warning: %v; showing the %d packets before it\n", readErr, len(pkts))
	}
	var printer tracer.Printer
	if cfg.json {
		printer = tracer.NewJSON(stdout)
	} else {
		printer = tracer.NewPrettyWith(stdout, tracer.PrettyOptions{
			Color: tracer.ColorWanted(stdout, cfg.noColor), Width: tracer.TerminalWidth(stdout)})
	}
	tr := tracer.NewAt(firstTime(pkts), tracer.Options{Printers: []tracer.Printer{printer}})
	// A file captured at several interfaces (a lesson's link: the
	// client's end and the server's) holds each segment once per
	// interface it crossed: each interface's packets are explained as
	// that end saw them, by an annotator of its own, and say where they
	// were captured ("at client:"), as the lesson showed them. One
	// annotator for all would take the second copy of each segment for
	// a retransmission.
	anns := map[string]*wire.Annotator{}
	ifaces := map[string]bool{}
	for _, p := range pkts {
		ifaces[p.Interface] = true
	}
	skipped := 0
	for _, p := range pkts {
		d, err := capture.Decode(p)
		if err != nil && d.TCP == nil && d.UDP == nil {
			skipped++
			continue
		}
		if d.TCP == nil && d.DNS == nil {
			skipped++ // neither TCP nor DNS: nothing this tool explains
			continue
		}
		ann := anns[p.Interface]
		if ann == nil {
			ann = wire.NewAnnotator()
			if len(ifaces) > 1 {
				ann.AtEnd(p.Interface)
			}
			anns[p.Interface] = ann
		}
		e := ann.Event(d)
		if e.Packet != nil && len(ifaces) > 1 {
			e.Packet.At, e.Packet.IPID = p.Interface, d.IPID
		}
		tr.Add(e)
	}
	if err := tr.Flush(); err != nil {
		return err
	}
	events := tr.Events()
	ids := wire.Conns(events, true)
	if mermaid != nil {
		var b strings.Builder
		if err := wire.Mermaid(&b, events, ids); err != nil {
			return err
		}
		if _, err := io.WriteString(mermaid, b.String()); err != nil {
			return err
		}
		if err := mermaid.Commit(); err != nil {
			return err
		}
	}
	if cfg.json {
		return nil
	}
	if len(pkts) == 1 {
		fmt.Fprintf(stdout, "\n1 packet read from %s", cfg.file)
	} else {
		fmt.Fprintf(stdout, "\n%d packets read from %s", len(pkts), cfg.file)
	}
	if skipped > 0 {
		fmt.Fprintf(stdout, "; %d not TCP or DNS, or not decodable, left out", skipped)
	}
	if len(anns) > 1 {
		names := slices.Sorted(maps.Keys(anns))
		fmt.Fprintf(stdout, "; captured at %d interfaces (%s), each explained as its end saw it", len(names), strings.Join(names, ", "))
	}
	if len(ids) == 1 {
		fmt.Fprintln(stdout, "; 1 TCP connection.")
	} else {
		fmt.Fprintf(stdout, "; %d TCP connections.\n", len(ids))
	}
	for _, id := range ids {
		fmt.Fprintln(stdout)
		if err := wire.FitLadder(stdout, events, id, tracer.TerminalWidth(stdout)); err != nil {
			return err
		}
	}
	return nil
}

func firstTime(pkts []capture.Packet) (t0 time.Time) {
	for _, p := range pkts {
		if t0.IsZero() || p.Time.Before(t0) {
			t0 = p.Time
		}
	}
	return t0
}
