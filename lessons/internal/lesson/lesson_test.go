package lesson

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

var demo = Lesson{Number: "99", Title: "Demo", Intro: "A lesson for tests.", Steps: 2,
	Recap: []string{"one"}, TryThis: []string{"two\nlines"}}

func twoSteps(r *Run) error {
	r.Step("First", "the first step")
	r.Note("server", "in step one")
	r.Step("Second", "the second step")
	r.Printf("machine-specific %d", 42)
	return nil
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr bool
		want    Options
		usage   string
	}{
		{args: nil, want: Options{Capture: "auto"}},
		{args: []string{"--json", "--no-color"}, want: Options{JSON: true, NoColor: true, Capture: "auto"}},
		{args: []string{"-json"}, want: Options{JSON: true, Capture: "auto"}},
		// Tests do not run with a terminal on stdin: --step is dropped.
		{args: []string{"--step"}, want: Options{Capture: "auto"}},
		{args: []string{"--capture=off", "--mermaid", "m.md"}, want: Options{Capture: "off", Mermaid: "m.md"}},
		{args: []string{"--capture=on", "--pcap", "x.pcapng"}, want: Options{Capture: "on", PCAP: "x.pcapng"}},
		{args: []string{"--html", "p.html"}, want: Options{Capture: "auto", HTML: "p.html"}},
		{args: []string{"--pcap", "p.html", "--html", "./p.html"}, wantErr: true, usage: "-pcap and -html both name p.html: give each its own file"},
		{args: []string{"--mermaid", "p.md", "--html", "p.md"}, wantErr: true, usage: "-mermaid and -html both name p.md"},
		{args: []string{"--capture=maybe"}, wantErr: true, usage: `-capture "maybe": want auto, on or off`},
		{args: []string{"--capture=off", "--pcap", "x"}, wantErr: true, usage: "-pcap needs a capture"},
		{args: []string{"--bogus"}, wantErr: true, usage: "flag provided but not defined: -bogus"},
		{args: []string{"extra"}, wantErr: true, usage: `unexpected argument "extra"`},
		{args: []string{"-h"}, wantErr: true, usage: "usage: go run ./lessons/99"},
	} {
		var stderr bytes.Buffer
		got, err := ParseFlags(demo, tc.args, &stderr)
		if (err != nil) != tc.wantErr {
			t.Errorf("%v: err %v", tc.args, err)
			continue
		}
		if want := strings.TrimSpace("go run ./lessons/" + demo.Number + " " + strings.Join(tc.args, " ")); !tc.wantErr && got.Command != want {
			t.Errorf("%v: command %q, want %q", tc.args, got.Command, want)
		}
		got.Command = ""
		if !tc.wantErr && got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.args, got, tc.want)
		}
		if !strings.Contains(stderr.String(), tc.usage) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.usage)
		}
		if tc.wantErr && !strings.Contains(stderr.String(), "-json") {
			t.Errorf("%v: no usage on a bad flag: %q", tc.args, stderr.String())
		}
	}
	if _, err := ParseFlags(demo, []string{"-h"}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestStepPauses(t *testing.T) {
	var out, prompt bytes.Buffer
	opts := Options{Step: true, NoColor: true, Capture: "off", Out: &out, Stderr: &prompt, In: strings.NewReader("\n")}
	if err := Exec(context.Background(), demo, opts, twoSteps); err != nil {
		t.Fatal(err)
	}
	// One Enter was given: the first prompt waits for it, the second
	// finds stdin at its end and the lesson runs on.
	if got := strings.Count(prompt.String(), "[press Enter"); got != 2 {
		t.Errorf("%d prompts, want 2: %q", got, prompt.String())
	}
	for _, want := range []string{"tcptour · lesson 99 · Demo", "Step 1 of 2 · First", "in step one",
		"Step 2 of 2 · Second", "machine-specific 42", "Recap\n  • one", "Try this\n  • two lines"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "press Enter") {
		t.Error("prompts went to the lesson's output")
	}
}

// The recap and Try this wrap to the output's width, their authors'
// line breaks taken as spaces, each item below its bullet; so do the
// notes, and the title says how times are counted.
func TestListsWrapToWidth(t *testing.T) {
	item := "Write hands bytes to the kernel; Read takes what the kernel has received\n" +
		"(Node's 'data' event), and a-long-command-line-that-no-line-can-hold-at-forty-five-columns goes on its own."
	l := demo
	l.Intro = strings.Repeat("An intro of many words. ", 8)
	l.Recap, l.TryThis = []string{item, "short"}, []string{item}
	for _, width := range []int{45, 60, 100} {
		var out bytes.Buffer
		if err := Exec(context.Background(), l, Options{NoColor: true, Capture: "off", Out: &out, Width: width}, twoSteps); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		for _, line := range strings.Split(text, "\n") {
			event := strings.HasPrefix(strings.TrimSpace(line), "+") // a table's row, not wrapped
			if n := len([]rune(line)); n > width && !event && !strings.Contains(line, "a-long-command-line") {
				t.Errorf("width %d: a line of %d columns: %q", width, n, line)
			}
		}
		if !strings.Contains(strings.Join(strings.Fields(text), " "), "Each time (+…) counts from the start of its step") {
			t.Errorf("width %d: the title does not say how times are counted:\n%s", width, text)
		}
		for _, title := range []string{"Recap", "Try this"} {
			list := text[strings.Index(text, "\n"+title+"\n")+len(title)+2:]
			lines := strings.Split(strings.TrimRight(list, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "  • Write hands bytes") {
				t.Fatalf("width %d: %s starts %q", width, title, lines[0])
			}
			var words []string
			for i, line := range lines {
				if line == "" || strings.HasPrefix(line, "  • short") {
					break
				}
				if i > 0 && (!strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "     ")) {
					t.Errorf("width %d: %s: line %q is not indented below its bullet", width, title, line)
				}
				words = append(words, strings.Fields(strings.TrimPrefix(line, "  •"))...)
			}
			if got, want := strings.Join(words, " "), strings.Join(strings.Fields(item), " "); got != want {
				t.Errorf("width %d: %s item, its words joined:\n%s\nwant\n%s", width, title, got, want)
			}
		}
	}
}

func TestJSONOnly(t *testing.T) {
	var out bytes.Buffer
	if err := Exec(context.Background(), demo, Options{JSON: true, Out: &out}, twoSteps); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("non-JSON line in --json output: %q", line)
		}
	}
	if strings.Contains(out.String(), "machine-specific") || strings.Contains(out.String(), "Recap") {
		t.Error("narration in --json output")
	}
}

func TestStepCountChecked(t *testing.T) {
	oneStep := func(r *Run) error { r.Step("Only", ""); return nil }
	err := Exec(context.Background(), demo, Options{Out: &bytes.Buffer{}}, oneStep)
	if err == nil || !strings.Contains(err.Error(), "ran 1 steps but says it has 2") {
		t.Errorf("got %v", err)
	}
	boom := errors.New("boom")
	if err := Exec(context.Background(), demo, Options{Out: &bytes.Buffer{}}, func(*Run) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("body error: %v", err)
	}
}

// A lesson stopped by a signal mid-step shows the trace so far, says it
// was interrupted, and leaves a complete pcap file.
func TestInterruptedMidStep(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "x.pcapng")
	opts := Options{NoColor: true, Capture: "on", PCAP: pcap, Out: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	if c, err := capture.Open(capture.Config{}); err != nil {
		t.Logf("no capture here (%v): checking the interruption without packets", err)
		opts.Capture, opts.PCAP = "off", ""
	} else if _, err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	release := make(chan struct{})
	stuck := make(chan struct{})
	body := func(r *Run) error {
		r.Step("Connect", "")
		ln, err := tracer.Listen(r.Context(), r.Hooks("server"), "tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		d := tracer.Dialer{Hooks: r.Hooks("client")}
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		close(stuck)
		<-release // a lesson waiting on something that never comes
		return nil
	}
	go func() { <-stuck; cancel(&Interrupted{Signal: syscall.SIGINT}) }()
	err := Exec(ctx, demo, opts, body)
	close(release)
	var intr *Interrupted
	if !errors.As(err, &intr) || intr.ExitCode() != 130 {
		t.Fatalf("Exec: %v, want an interruption by SIGINT (exit 130)", err)
	}
	out := opts.Out.(*bytes.Buffer).String()
	for _, want := range []string{"CONNECTED", "interrupted by SIGINT (Ctrl-C)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if opts.PCAP != "" {
		pkts, err := capture.ReadFile(pcap)
		if err != nil || len(pkts) != 3 {
			t.Errorf("pcap after the interruption: %d packets, %v; want the handshake's 3", len(pkts), err)
		}
		if !strings.Contains(out, "Captured 3 packets") {
			t.Errorf("no capture summary:\n%s", out)
		}
	}
}

// A lesson that fails midway leaves the files that were at its --pcap
// and --mermaid paths as they were, and no temporary file beside them.
func TestFailedLessonKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	pcap, mermaid := filepath.Join(dir, "x.pcapng"), filepath.Join(dir, "x.md")
	for _, p := range []string{pcap, mermaid} {
		if err := os.WriteFile(p, []byte("the last run's\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("boom")
	body := func(r *Run) error {
		r.Step("First", "")
		ln, err := tracer.Listen(r.Context(), r.Hooks("server"), "tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln.Close()
		return boom
	}
	opts := Options{NoColor: true, PCAP: pcap, Mermaid: mermaid, Out: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	if err := Exec(context.Background(), demo, opts, body); !errors.Is(err, boom) {
		t.Fatalf("Exec: %v, want %v", err, boom)
	}
	for _, p := range []string{pcap, mermaid} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "the last run's\n" {
			t.Errorf("%s after a failed lesson: %q, %v", p, b, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 2 {
		t.Errorf("%d files in the directory, %v; want the 2 that were there", len(ents), err)
	}
}

// An output path that cannot be written stops the lesson before it
// prints anything.
func TestOutputCheckedBeforeStart(t *testing.T) {
	for _, opts := range []Options{
		{Mermaid: filepath.Join(t.TempDir(), "missing", "x.md")},
		{Capture: "on", PCAP: filepath.Join(t.TempDir(), "missing", "x.pcapng")},
	} {
		var out bytes.Buffer
		opts.Out, opts.Stderr = &out, &out
		ran := false
		err := Exec(context.Background(), demo, opts, func(r *Run) error { ran = true; return twoSteps(r) })
		if err == nil || !strings.Contains(err.Error(), ": no directory ") || ran || out.Len() != 0 {
			t.Errorf("%+v: %v, ran %v, output %q; want an error before the lesson starts", opts, err, ran, out.String())
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A coloured line takes the columns of its text alone.
func TestColumns(t *testing.T) {
	for _, c := range []struct {
		line string
		want int
	}{
		{"", 0},
		{"plain", 5},
		{"\x1b[92m⣀⡠\x1b[0m cwnd", 7},
		{"\x1b[1;4mtitle\x1b[0m", 5},
		{"ends in \x1b[", 8},
	} {
		if got := columns(c.line); got != c.want {
			t.Errorf("columns(%q) = %d, want %d", c.line, got, c.want)
		}
	}
}
