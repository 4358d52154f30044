package lessontest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/browser"
	"tcptour/tracer/capture"
)

// CheckPage checks the --html page a lesson wrote beside the pcap file
// of the same run, first as a file, then in Chromium (skipped, with the
// reason, where there is none): frame numbers that name the pcap's
// packets; in the browser, no error on the console, one element with
// data-frame for each TCP frame of the capture, and a segment's note in
// the detail panel once the mouse is on it. It saves a screenshot of
// the first ladder where a developer can look at it, and logs its path.
func CheckPage(t *testing.T, number, html, pcap string, events []tracer.Event) {
	t.Helper()
	fi, err := os.Stat(html)
	if err != nil {
		t.Fatalf("--html: %v", err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("--html file mode %v, want 0644", fi.Mode().Perm())
	}
	// Each packet's frame number is its place in the pcap file (none
	// without one: a lesson that captures no TCP).
	var saved []capture.Packet
	if pcap != "" {
		if saved, err = capture.ReadFile(pcap); err != nil {
			t.Fatal(err)
		}
	}
	var frames []int
	var first *tracer.Event
	for i := range events {
		p := events[i].Packet
		if p == nil || pcap == "" {
			continue
		}
		if p.Frame < 1 || p.Frame > len(saved) {
			t.Fatalf("a packet with frame %d; the pcap holds %d", p.Frame, len(saved))
		}
		d, err := capture.Decode(saved[p.Frame-1])
		if err != nil || d.Length != p.Size || (d.TCP != nil) != (p.Proto == "tcp") || d.TCP != nil && d.TCP.Seq != p.RawSeq {
			t.Errorf("frame %d of the pcap (%+v, %v) is not the trace's packet %+v", p.Frame, d, err, *p)
		}
		if p.Proto == "tcp" {
			frames = append(frames, p.Frame)
			if first == nil {
				first = &events[i]
			}
		}
	}
	slices.Sort(frames)
	if len(frames) == 0 && pcap != "" {
		t.Fatal("no TCP packet in the trace")
	}

	if _, err := browser.Find(); err != nil {
		t.Logf("the page was not loaded in a browser: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b, err := browser.Launch(ctx)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	defer b.Close()
	pg, err := b.Open(ctx, html, browser.Options{Width: 1280, Height: 1600})
	if err != nil {
		t.Fatalf("chromium: opening the page: %v", err)
	}
	defer pg.Close()
	t.Logf("lesson %s's page (%d KB) loaded in %v", number, fi.Size()/1024, pg.LoadTime())

	// What the timeline shows, before any fold is drawn: each event's
	// note as the terminal and the JSON said it (the notes the
	// timeline gives arrivals and changes of state included).
	var rows []string
	if err := pg.Eval(ctx, `[...document.querySelectorAll('#tl tr[data-note]')].map(e => e.getAttribute('data-note'))`, &rows); err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, n := range rows {
		shown[n] = true
	}
	for _, e := range events {
		if e.Packet == nil && e.Note != "" && !shown[e.Note] {
			t.Errorf("the page's timeline lacks the note of %s %s: %q", e.Actor, e.Phase, e.Note)
		}
	}

	// Every fold drawn (the button of each), one element a TCP frame,
	// with the capture's numbers, each with its frame's note.
	var folds int
	if err := pg.Eval(ctx, `(() => { const b = [...document.querySelectorAll('.fd .fb')]; b.forEach(x => x.dispatchEvent(new MouseEvent('click', {bubbles: true}))); return b.length })()`, &folds); err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	if err := pg.Eval(ctx, `[...document.querySelectorAll('[data-frame]')].map(e => [e.getAttribute('data-frame'), e.getAttribute('data-note') || ''])`, &got); err != nil {
		t.Fatal(err)
	}
	noteOf := map[int]string{}
	for _, e := range events {
		if e.Packet != nil {
			noteOf[e.Packet.Frame] = e.Note
		}
	}
	var gotFrames []int
	wrong := 0
	for _, g := range got {
		n, err := strconv.Atoi(g[0])
		if err != nil {
			t.Fatalf("data-frame %q", g[0])
		}
		gotFrames = append(gotFrames, n)
		if g[1] != noteOf[n] {
			if wrong++; wrong <= 3 {
				t.Errorf("frame %d's note on the page: %q; the trace's: %q", n, g[1], noteOf[n])
			}
		}
	}
	slices.Sort(gotFrames)
	if !slices.Equal(gotFrames, frames) {
		t.Errorf("the page has %d elements with data-frame (%d folds drawn), the capture %d TCP frames; want one each, the same numbers", len(gotFrames), folds, len(frames))
	}

	// The mouse on the first segment: its note in the detail panel.
	if first != nil {
		sel := fmt.Sprintf(`[data-frame="%d"]`, first.Packet.Frame)
		if err := pg.Hover(ctx, sel); err != nil {
			t.Fatal(err)
		}
		var detail string
		if err := pg.Eval(ctx, `[...document.querySelectorAll('[aria-live]')].map(e => e.textContent).join('\n')`, &detail); err != nil {
			t.Fatal(err)
		}
		if want := firstWords(first.Note, 8); !strings.Contains(squeeze(detail), want) {
			t.Errorf("hovering frame %d: the detail panel says %q; want its note, %q…", first.Packet.Frame, detail, want)
		}
	}

	if errs := pg.Errors(); len(errs) > 0 {
		t.Errorf("the browser's console: %q", errs)
	}
	dir, err := os.UserCacheDir()
	if err == nil {
		dir = filepath.Join(dir, "tcptour", "screenshots")
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	// The ladder of the first connection that lost or resent a segment,
	// else the first (else the state diagram), and its time–sequence
	// graph.
	for _, shot := range []struct{ name, js string }{
		{"lesson-" + number + ".png", `(() => { const s = document.querySelector('svg.ld:has(.sg.lo, .sg.rt)') || document.querySelector('svg.ld') || document.querySelector('#states'); if (s) s.scrollIntoView(); return !!s })()`},
		{"lesson-" + number + "-graph.png", `(() => { const l = document.querySelector('svg.ld:has(.sg.lo, .sg.rt)') || document.querySelector('svg.ld'); const g = l && l.closest('section').querySelector('figure.g-zoom'); if (g) g.scrollIntoView(); return !!g })()`},
	} {
		var found bool
		if err := pg.Eval(ctx, shot.js, &found); err != nil {
			t.Fatal(err)
		}
		if !found {
			continue
		}
		path := filepath.Join(dir, shot.name)
		if err := pg.Screenshot(ctx, path, false); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of lesson %s's page: %s", number, path)
	}
}

// RunPage runs the lesson's own binary, as a learner does, with --json
// and --html, and checks its page with CheckPage: for a lesson whose
// capture tests do not (one without TCP segments).
func RunPage(t *testing.T, l lesson.Lesson) {
	t.Helper()
	bin := Build(t)
	html := filepath.Join(NobodyDir(t), "lesson.html")
	out, err := exec.Command(bin, "--json", "--html", html).Output()
	if err != nil {
		t.Fatalf("lesson %s --html: %v", l.Number, err)
	}
	var events []tracer.Event
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var e tracer.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		events = append(events, e)
	}
	CheckPage(t, l.Number, html, "", events)
}

// firstWords is the first n words of s, spaces squeezed.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}

// squeeze puts one space between words.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }
