// Command graph-gen makes the traces the graphs' tests read
// (tracer/page/graphs_test.go), from real runs of lessons 12 and 13, as
// root or as any user the lab runs for:
//
//	go run ./tracer/page/testdata/graph-gen            # from the module's root
//	go run ./tracer/page/testdata/graph-gen -dir /tmp  # elsewhere
//
// It writes graph-lesson12.pcapng (lesson 12's capture: the link at
// both ends, a segment dropped, duplicate ACKs with SACK blocks, the
// retransmissions), graph-lesson12-states.jsonl (the state events of
// the same run, from --json) and graph-lesson13-samples.jsonl (the
// TCP_INFO samples of lesson 13's first connection that has any).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"tcptour/tracer"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("graph-gen: ")
	dir := flag.String("dir", "tracer/page/testdata", "where to write the files")
	flag.Parse()
	if err := run(*dir); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	pcap := filepath.Join(dir, "graph-lesson12.pcapng")
	out, err := lesson("./lessons/12", "--json", "--pcap", pcap)
	if err != nil {
		return err
	}
	if err := keep(out, filepath.Join(dir, "graph-lesson12-states.jsonl"), func(e tracer.Event, _ int) bool {
		return e.Phase == tracer.PhaseState
	}); err != nil {
		return err
	}
	out, err = lesson("./lessons/13", "--json")
	if err != nil {
		return err
	}
	return keep(out, filepath.Join(dir, "graph-lesson13-samples.jsonl"), func(e tracer.Event, first int) bool {
		return e.Phase == tracer.PhaseSample && e.Conn == first
	})
}

// lesson runs a lesson and returns its standard output.
func lesson(pkg string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"run", pkg}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go run %s: %w", pkg, err)
	}
	return out, nil
}

// keep writes to path the JSON lines of out whose events ok takes; ok
// also gets the connection of the first sample event.
func keep(out []byte, path string, ok func(e tracer.Event, first int) bool) error {
	var kept bytes.Buffer
	first := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e tracer.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if first == 0 && e.Phase == tracer.PhaseSample {
			first = e.Conn
		}
		if ok(e, first) {
			kept.Write(sc.Bytes())
			kept.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return os.WriteFile(path, kept.Bytes(), 0o644)
}
