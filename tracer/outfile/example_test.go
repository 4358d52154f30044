package outfile_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"tcptour/tracer/outfile"
)

// A run writes its Mermaid file beside the old one, which keeps its
// content until Commit.
func ExampleCreate() {
	dir, err := os.MkdirTemp("", "outfile")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "03.mmd")
	if err := os.WriteFile(path, []byte("the last run's diagram\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	f, err := outfile.Create("mermaid", path, 0o644) // before the run
	if err != nil {
		log.Fatal(err)
	}
	defer f.Discard() // should the run fail: the old file stays
	io.WriteString(f, "sequenceDiagram\n")
	old, _ := os.ReadFile(path)
	fmt.Printf("during the run: %s", old)
	if err := f.Commit(); err != nil {
		log.Fatal(err)
	}
	now, _ := os.ReadFile(path)
	fmt.Printf("after Commit: %s", now)

	// A symbolic link is never followed.
	link := filepath.Join(dir, "link.mmd")
	os.Symlink(path, link)
	_, err = outfile.Create("mermaid", link, 0o644)
	fmt.Println(err != nil)
	// Output:
	// during the run: the last run's diagram
	// after Commit: sequenceDiagram
	// true
}
