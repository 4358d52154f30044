package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"tcptour/tracer"
	"tcptour/tracer/page"
)

// A picture is an SVG file beside a page, drawn by package tracer/page
// (the code that draws the --html pages) from a real run, and shown by
// the image line right after its marker:
//
//	<!-- picture cmd="go run ./lessons/12 --json" conn=2 kind=seq svg="12-seq.svg" -->
//	![The time–sequence graph of lesson 12's lossy transfer](12-seq.svg)
//
// cmd prints the trace as JSON lines; kind is ladder, seq (the
// time–sequence graph), cwnd (the window chart) or states (the state
// diagram, of every connection: conn is then left out). A picture
// differs from run to run in its figures (times, ports, how many ACKs
// were delayed): a check asks that one of up to eight runs draw the
// same things, numbers aside (the SVG's titles, digits left out), and
// a rewrite keeps a file that agrees so.
var pictureRe = regexp.MustCompile(`^<!-- picture (.*)-->\s*$`)

// imageRe is the image line after a picture's marker.
var imageRe = regexp.MustCompile(`^!\[[^\]]+\]\(([^)]+\.svg)\)\s*$`)

// picture draws (or checks) the picture of spec, whose marker is on
// the line before image in the page at path; it reports whether the
// file differs from what the code draws.
func (r *runner) picture(path string, spec spec, image string, check bool) (changed bool, err error) {
	cmd, name := spec.get("cmd"), spec.get("svg")
	if cmd == "" || name == "" {
		return false, errors.New(`a picture's marker names cmd="…" and svg="…"`)
	}
	if m := imageRe.FindStringSubmatch(strings.TrimRight(image, "\n")); m == nil || m[1] != name {
		return false, fmt.Errorf("a picture's marker is followed by its image line, ![what it shows](%s)", name)
	}
	kind := spec.get("kind")
	conn := 0
	if kind != "states" {
		if conn, err = strconv.Atoi(spec.get("conn")); err != nil || conn < 1 {
			return false, fmt.Errorf("conn=%q: want the number of a connection", spec.get("conn"))
		}
	}
	file := filepath.Join(filepath.Dir(path), name)
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	runs := 3
	if check {
		runs = 8
	}
	var first []byte
	for n := range runs {
		out, err := r.output(cmd, "", n)
		if err != nil {
			return false, err
		}
		events, err := decodeEvents(out)
		if err != nil {
			return false, fmt.Errorf("%s: %w", cmd, err)
		}
		var b bytes.Buffer
		if err := page.WriteSVG(&b, events, conn, kind); err != nil {
			return false, fmt.Errorf("%s: %w", cmd, err)
		}
		if old != nil && !r.fresh && shape(b.Bytes(), kind) == shape(old, kind) {
			return false, nil
		}
		if first == nil {
			first = b.Bytes()
		}
	}
	if check {
		fmt.Fprintf(os.Stderr, "%s: %s does not show what %q draws now (go run ./lessons/internal/docgen rewrites it)\n", path, name, cmd)
		return true, nil
	}
	fmt.Printf("docgen: drew %s\n", file)
	return true, os.WriteFile(file, first, 0o644)
}

// titleRe matches an SVG title.
var titleRe = regexp.MustCompile(`<title[^>]*>([^<]*)</title>`)

// shape is what a picture draws, numbers aside: its titles with their
// digits left out, in order for a ladder, else each once, sorted.
func shape(svg []byte, kind string) string {
	var titles []string
	for _, m := range titleRe.FindAllSubmatch(svg, -1) {
		titles = append(titles, digits.ReplaceAllString(string(m[1]), "N"))
	}
	if kind != "ladder" {
		slices.Sort(titles)
		titles = slices.Compact(titles)
	}
	return strings.Join(titles, "\n")
}

// decodeEvents reads a trace's JSON lines.
func decodeEvents(out string) ([]tracer.Event, error) {
	var events []tracer.Event
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e tracer.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("not a JSON trace: %.80s", line)
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		return nil, errors.New("no events")
	}
	return events, nil
}
