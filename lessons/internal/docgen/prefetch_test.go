package main

import (
	"os"
	"path/filepath"
	"slices"
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
		"<!-- output cmd=\"sh lessons/internal/docgen/scripts/with-server.sh ss -ltn\" -->\n```\n```\n"+
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
		{"sh lessons/internal/docgen/scripts/with-server.sh ss -ltn ", "go run ./lessons/16 --host --no-color 2>&1 "},
		{"sh lessons/internal/docgen/scripts/pcap.sh ./lessons/05 -Y tcp "},
		{"tshark -r tracer/inspect/testdata/lesson03.pcapng "},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("plan:\n got %q\nwant %q", got, want)
	}
}
