package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"tcptour/tracer"
	"testing"
)

// FuzzInspect runs inspect on arbitrary files, in both output modes and
// with a Mermaid file: whatever the bytes, it returns (an error or not)
// and never panics.
//
//	go test -run XXX -fuzz FuzzInspect -fuzztime 60s ./tracer/inspect/
func FuzzInspect(f *testing.F) {
	for _, file := range testFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, n := range []int{4, 24, 40, 100, len(data) / 2, len(data) - 1} {
			f.Add(data[:n])
		}
	}
	f.Add([]byte{})
	// Each fuzzing process runs the inputs one at a time: one file will do.
	dir := f.TempDir()
	path := filepath.Join(dir, "input")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, cfg := range []config{
			{file: path, noColor: true, mermaid: filepath.Join(dir, "ladder.mmd")},
			{file: path, json: true},
		} {
			if err := run(cfg, io.Discard, io.Discard); err != nil && err.Error() == "" {
				t.Errorf("run(%+v): an error with no text", cfg)
			}
		}
	})
}

// FuzzFilters runs inspect on lesson 03's capture with arbitrary -port,
// -host and -conn values: each is refused with a message that names
// the flag, or applied; never a panic, and what is shown passes the
// filter.
//
//	go test -run XXX -fuzz FuzzFilters -fuzztime 60s ./tracer/inspect/
func FuzzFilters(f *testing.F) {
	for _, s := range [][3]string{{"", "", ""}, {"80,443", "127.0.0.1", "1"}, {"0", "::1/129", "#2,x"},
		{"65535,", "10.0.0.0/8, 2001:db8::/32", ",,3"}, {"-1", "fe80::1%eth0", "99999999999999999999"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, port, host, conn string) {
		cfg := config{file: testFiles[0], json: true, port: port, host: host, conn: conn}
		flt, ferr := newFilter(cfg)
		var out strings.Builder
		err := run(cfg, &out, io.Discard)
		if (ferr == nil) != (err == nil) {
			t.Fatalf("newFilter: %v; run: %v", ferr, err)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "-port ") && !strings.HasPrefix(err.Error(), "-host ") && !strings.HasPrefix(err.Error(), "-conn ") {
				t.Errorf("error %q does not name its flag", err)
			}
			return
		}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var e tracer.Event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			if !flt.shows(&e) {
				t.Errorf("shown but not passing %+v: %s", flt, l)
			}
		}
	})
}
