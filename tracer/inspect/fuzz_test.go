package main

import (
	"io"
	"os"
	"path/filepath"
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
