package main

// -pcap and -mermaid never destroy or take over a file already there
// (tracer/outfile has the cases in full; lessons/03 files_test.go runs
// them against a lesson binary).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tcptour/tracer/capture"
	"tcptour/tracer/wire"
)

// oldFiles makes a -mermaid file and, where the tests may capture, a
// -pcap file with old content, and returns the config that names them
// and their paths.
func oldFiles(t *testing.T, dir string) (cfg config, paths []string) {
	t.Helper()
	cfg = config{msg: "hi", json: true, timeout: 10 * time.Second, capture: wire.ModeOff}
	cfg.mermaid, cfg.html = filepath.Join(dir, "c.md"), filepath.Join(dir, "c.html")
	paths = []string{cfg.mermaid, cfg.html}
	if c, err := capture.Open(capture.Config{}); err == nil {
		if _, err := c.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.capture, cfg.pcap = wire.ModeOn, filepath.Join(dir, "c.pcapng")
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
// until the client is done (checked while the server holds its
// answer), then are replaced whole.
func TestOutputReplacedAtEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, paths := oldFiles(t, dir)
	release := make(chan struct{})
	heard := make(chan string, 1)
	cfg.addr = fmt.Sprintf("127.0.0.1:%d", echo(t, func(msg []byte) []byte {
		<-release
		return youSaid(msg)
	}, heard))
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), cfg, &strings.Builder{}, &strings.Builder{}) }()
	// The message arrived and waits for its answer: the client runs,
	// its packets going to the file beside the old one.
	<-heard
	checkOld(t, "while the client runs", paths...)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(cfg.mermaid); err != nil || !strings.HasPrefix(string(b), "sequenceDiagram\n") {
		t.Errorf("-mermaid: %q, %v", b, err)
	}
	checkPage(t, cfg)
	if cfg.pcap != "" {
		if pkts, err := capture.ReadFile(cfg.pcap); err != nil || len(pkts) < 5 {
			t.Errorf("-pcap: %d packets, %v", len(pkts), err)
		}
	}
	noTemp(t, dir)
}

// TestOutputFailedRun: a client whose connection is refused leaves the
// files that were there, and no temporary file.
func TestOutputFailedRun(t *testing.T) {
	dir := t.TempDir()
	cfg, paths := oldFiles(t, dir)
	cfg.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := run(context.Background(), cfg, &strings.Builder{}, &strings.Builder{}); err == nil {
		t.Fatal("run: no error, want the connection refused")
	}
	checkOld(t, "after a failed run", paths...)
	noTemp(t, dir)
}

// TestOutputInterrupted: Ctrl-C while the client waits for its answer
// puts the complete pcap in place; the Mermaid file, written only by a
// run that ends well, stays as it was.
func TestOutputInterrupted(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := oldFiles(t, dir)
	heard := make(chan string, 1)
	cfg.addr = fmt.Sprintf("127.0.0.1:%d", echo(t, nil, heard))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-heard
		cancel()
	}()
	if err := run(ctx, cfg, &strings.Builder{}, &strings.Builder{}); err != errInterrupted {
		t.Fatalf("run = %v, want %v", err, errInterrupted)
	}
	checkOld(t, "after Ctrl-C", cfg.mermaid)
	// The page of what happened until Ctrl-C is in place.
	checkPage(t, cfg)
	if cfg.pcap != "" {
		if pkts, err := capture.ReadFile(cfg.pcap); err != nil || len(pkts) < 4 {
			t.Errorf("-pcap after Ctrl-C: %d packets, %v", len(pkts), err)
		}
	}
	noTemp(t, dir)
}

// TestOutputSymlinkRefused: a symbolic link at the path stops the
// client before it connects, and its target is not touched.
func TestOutputSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "mine")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "c.md")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	heard := make(chan string, 1)
	cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", echo(t, nil, heard)), msg: "hi", timeout: 10 * time.Second,
		capture: wire.ModeOff, mermaid: link}
	var out strings.Builder
	err := run(context.Background(), cfg, &out, &strings.Builder{})
	if err == nil || !strings.HasPrefix(err.Error(), "-mermaid "+link+": is a symbolic link") || out.String() != "" {
		t.Errorf("run: %v, output %q; want the link refused before anything", err, out.String())
	}
	select {
	case msg := <-heard:
		t.Errorf("the client connected and said %q", msg)
	default:
	}
	checkOld(t, "after the refusal", target)
	noTemp(t, dir)
}

// checkPage checks the -html page: the client's, its data-frame
// elements there when the packets were captured.
func checkPage(t *testing.T, cfg config) {
	t.Helper()
	b, err := os.ReadFile(cfg.html)
	page := string(b)
	if err != nil || !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, "<title>client to "+cfg.addr+"</title>") {
		t.Errorf("-html: %.200q, %v", page, err)
	}
	if frames := strings.Count(page, " data-frame="); (cfg.pcap != "") != (frames > 0) {
		t.Errorf("-html: %d elements with data-frame, capture %q", frames, cfg.capture)
	}
}
