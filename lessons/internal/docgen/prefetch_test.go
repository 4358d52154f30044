package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.md")
	b := filepath.Join(dir, "b.md")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "<!-- output cmd=\"go run ./lessons/03 --no-color\" step=1 -->\n```\n```\n"+
		"<!-- output cmd=\"go run ./lessons/11 --no-color --pcap /tmp/11.pcapng >/dev/null && tshark -r /tmp/11.pcapng\" -->\n```\n```\n"+
		"<!-- output cmd=\"sh lessons/internal/docgen/scripts/after.sh ./lessons/05 ss -tan\" -->\n```\n```\n"+
		"<!-- output cmd=\"go run ./lessons/03 --no-color\" step=2 -->\n```\n```\n"+
		"<!-- output cmd=\"go run ./lessons/03 --no-color --mermaid /tmp/03.mmd\" file=\"/tmp/03.mmd\" -->\n```\n```\n")
	write(b, "<!-- picture cmd=\"go run ./lessons/11 --json\" conn=1 kind=seq svg=\"x.svg\" -->\n![x](x.svg)\n"+
		"<!-- output cmd=\"go run ./lessons/11 --no-color --pcap /tmp/11.pcapng >/dev/null && tshark -r /tmp/11.pcapng -Y tcp\" -->\n```\n```\n"+
		"<!-- output cmd=\"go run ./lessons/16 --host --no-color 2>&1\" -->\n```\n```\n"+
		"<!-- output cmd=\"sh lessons/internal/docgen/scripts/pcap.sh ./lessons/05 -Y tcp\" -->\n```\n```\n"+
		"<!-- output cmd=\"tshark -r tracer/inspect/testdata/lesson03.pcapng\" -->\n```\n```\n")
	queue, err := plan([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, g := range queue {
		var cmds []string
		for _, j := range g {
			cmds = append(cmds, j.cmd+" "+j.file)
		}
		got = append(got, cmds)
	}
	want := [][]string{
		// lesson 11's: two write /tmp/11.pcapng, so one after the other
		{
			"go run ./lessons/11 --no-color --pcap /tmp/11.pcapng >/dev/null && tshark -r /tmp/11.pcapng ",
			"go run ./lessons/11 --json ",
			"go run ./lessons/11 --no-color --pcap /tmp/11.pcapng >/dev/null && tshark -r /tmp/11.pcapng -Y tcp ",
		},
		// each command once, with the file it writes apart
		{"go run ./lessons/03 --no-color ", "go run ./lessons/03 --no-color --mermaid /tmp/03.mmd /tmp/03.mmd"},
		// this machine's network: one after the other, whatever the lesson
		{"sh lessons/internal/docgen/scripts/after.sh ./lessons/05 ss -tan ", "go run ./lessons/16 --host --no-color 2>&1 "},
		{"sh lessons/internal/docgen/scripts/pcap.sh ./lessons/05 -Y tcp "},
		{"tshark -r tracer/inspect/testdata/lesson03.pcapng "},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("plan:\n got %q\nwant %q", got, want)
	}
}

// On the real pages, every file a command writes outside a temporary
// directory of its own (/tmp/11.pcapng, a file="…") is written by the
// commands of one group only, which run one after another.
func TestPlanPagesFiles(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	pages := []string{filepath.Join(root, "README.md")}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".md" {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	queue, err := plan(pages)
	if err != nil {
		t.Fatal(err)
	}
	written := regexp.MustCompile(`/tmp/[A-Za-z0-9._-]+|\S+\.(?:pcapng|mmd|html)\b`)
	group := map[string]int{}
	jobs := 0
	for g, js := range queue {
		for _, j := range js {
			jobs++
			script := strings.HasPrefix(j.cmd, "sh lessons/internal/docgen/scripts/")
			for _, f := range append(written.FindAllString(j.cmd, -1), j.file) {
				if f == "" || strings.Contains(f, "testdata/") {
					continue // read, not written
				}
				if script && !strings.HasPrefix(f, "/") {
					continue // in the script's own temporary directory
				}
				if h, ok := group[f]; ok && h != g {
					t.Errorf("%s is written by commands of two groups: %q, and another of group %d", f, j.cmd, h)
				}
				group[f] = g
			}
		}
	}
	if jobs < 50 || len(group) == 0 {
		t.Errorf("%d commands in %d groups writing %d files: want the pages' (README.md, docs/)", jobs, len(queue), len(group))
	}
}
