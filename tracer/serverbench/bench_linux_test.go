//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 150, stime 40,
	// cutime 7, cstime 3 ticks.
	stat := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 40 7 3 20 0 9 0 12345 100000 500 18446744073709551615"
	got, err := parseStatCPU(stat)
	if err != nil || got != 2*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 2s", got, err)
	}
	if _, err := parseStatCPU("4242 (x) S 1"); err == nil {
		t.Error("a short stat line: no error")
	}
	self, err := cpuTime(os.Getpid())
	if err != nil || self < 0 {
		t.Errorf("cpuTime(self) = %v, %v", self, err)
	}
}

// countPackets reads both formats: tcpdump's pcap and the server's
// pcapng; a file with a header and no packet counts 0.
func TestCountPackets(t *testing.T) {
	dir := t.TempDir()
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: 4, Length: 4}
	write := func(name string, ng bool, n int) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var w interface {
			WritePacket(gopacket.CaptureInfo, []byte) error
		}
		if ng {
			nw, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
			if err != nil {
				t.Fatal(err)
			}
			defer nw.Flush()
			w = nw
		} else {
			pw := pcapgo.NewWriter(f)
			if err := pw.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			w = pw
		}
		for range n {
			if err := w.WritePacket(ci, []byte{1, 2, 3, 4}); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	for _, tc := range []struct {
		ng bool
		n  int
	}{{false, 0}, {false, 3}, {true, 0}, {true, 5}} {
		path := write("f"+strconv.Itoa(tc.n)+strconv.FormatBool(tc.ng), tc.ng, tc.n)
		if got, err := countPackets(path); err != nil || got != tc.n {
			t.Errorf("pcapng %v, %d packets: counted %d, %v", tc.ng, tc.n, got, err)
		}
	}
	if _, err := countPackets(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file: no error")
	}
}

// A short run against the untraced and the traced servers: both built
// and started, both answered with no error, every process stopped.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./server and ./tracer/load: not in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("cannot build the commands: %v", err)
	}
	cfg := config{clients: []int{2}, dur: 200 * time.Millisecond, rounds: 1, only: []string{untraced, traced}}
	var out, progress bytes.Buffer
	rep, err := run(context.Background(), cfg, &out, &progress)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, progress.String(), out.String())
	}
	if !rep.ok() {
		t.Errorf("not ok:\n%s", out.String())
	}
	if len(rep.tables) != 1 {
		t.Fatalf("%d tables, want 1", len(rep.tables))
	}
	for _, name := range cfg.only {
		rs := rep.tables[0].runs[name]
		if len(rs) != 1 || !rs[0].done || rs[0].conns == 0 || rs[0].errors != 0 || rs[0].fail != "" {
			t.Errorf("%s: %+v, want a run with connections and no error", name, rs)
		}
	}
	for _, want := range []string{"untraced ", "traced ", "traced ÷ untraced, 2 clients", "./server -json -capture=off -addr 127.0.0.1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	// No process left: none has this test as its parent.
	if kids := children(t); len(kids) > 0 {
		t.Errorf("processes left running: %v", kids)
	}
}

// children lists the processes whose parent is this one.
func children(t *testing.T) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me {
			out = append(out, s)
		}
	}
	return out
}
