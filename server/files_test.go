package main

// -pcap and -mermaid never destroy or take over a file already there
// (tracer/outfile has the cases in full; lessons/03 files_test.go runs
// them against a lesson binary).

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tcptour/tracer/capture"
	"tcptour/tracer/wire"
)

// oldFiles makes a -mermaid file and, where the tests may capture, a
// -pcap file with old content, and returns them and the config that
// names them.
func oldFiles(t *testing.T, dir string) (cfg config, paths []string) {
	t.Helper()
	cfg.mermaid, cfg.html = filepath.Join(dir, "s.md"), filepath.Join(dir, "s.html")
	paths = []string{cfg.mermaid, cfg.html}
	if c, err := capture.Open(capture.Config{}); err == nil {
		if _, err := c.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.capture, cfg.pcap = wire.ModeOn, filepath.Join(dir, "s.pcapng")
		paths = append(paths, cfg.pcap)
	}
	for _, p := range paths {
		if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, paths
}

func checkOld(t *testing.T, when string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if b, err := os.ReadFile(p); err != nil || string(b) != "old\n" {
			t.Errorf("%s: %s holds %q, %v; want what was there", when, p, b, err)
		}
	}
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tcptour-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// TestOutputReplacedAtEnd: files of the user's own keep their content
// while the server runs, and are replaced when Ctrl-C stops it.
func TestOutputReplacedAtEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, paths := oldFiles(t, dir)
	r := start(t, cfg)
	say(t, dial(t, r.addr), "hi", `You said "hi"`)
	checkOld(t, "while the server runs", paths...)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(cfg.mermaid); err != nil || !strings.HasPrefix(string(b), "sequenceDiagram\n") {
		t.Errorf("-mermaid after Ctrl-C: %q, %v", b, err)
	}
	b, err := os.ReadFile(cfg.html)
	page := string(b)
	if err != nil || !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, "<title>server on 127.0.0.1:0</title>") ||
		!strings.Contains(page, "CONNECTED") && !strings.Contains(page, "accept") {
		t.Errorf("-html after Ctrl-C: %.300q, %v", page, err)
	}
	if frames := strings.Count(page, " data-frame="); (cfg.pcap != "") != (frames > 0) {
		t.Errorf("-html: %d elements with data-frame, capture %q", frames, cfg.capture)
	}
	if cfg.pcap != "" {
		if pkts, err := capture.ReadFile(cfg.pcap); err != nil || len(pkts) == 0 {
			t.Errorf("-pcap after Ctrl-C: %d packets, %v", len(pkts), err)
		}
	}
	noTemp(t, dir)
}

// TestOutputFailedRun: a server that cannot listen leaves the files
// that were there, and no temporary file.
func TestOutputFailedRun(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dir := t.TempDir()
	cfg, paths := oldFiles(t, dir)
	cfg.addr = other.Addr().String()
	if cfg.capture == "" {
		cfg.capture = wire.ModeOff
	}
	if err := run(context.Background(), cfg, newOutput(), newOutput()); err == nil {
		t.Fatal("run: no error, want the port in use")
	}
	checkOld(t, "after a failed run", paths...)
	noTemp(t, dir)
}

// TestOutputSymlinkRefused: a symbolic link at the path stops the
// server before it listens, and its target is not touched.
func TestOutputSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "mine")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "s.md")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	out := newOutput()
	cfg := config{addr: "127.0.0.1:0", capture: wire.ModeOff, mermaid: link}
	cfg.ready = func(_, _ netip.AddrPort) { t.Error("the server listened") }
	err := run(context.Background(), cfg, out, newOutput())
	if err == nil || !strings.HasPrefix(err.Error(), "-mermaid "+link+": is a symbolic link") || out.String() != "" {
		t.Errorf("run: %v, output %q; want the link refused before anything", err, out.String())
	}
	checkOld(t, "after the refusal", target)
	noTemp(t, dir)
}
