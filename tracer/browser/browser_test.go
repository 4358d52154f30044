package browser

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// page is a small page with what the tests look for: elements with
// data-frame (one far below the fold) whose mouseenter writes into
// #note, a button whose click logs an error and throws, a keydown
// handler that writes into #keys, and colours for light, dark and print.
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>test page</title>
<style>
  body { margin: 0; color: rgb(0, 0, 0); background: rgb(255, 255, 255); }
  @media (prefers-color-scheme: dark) { body { color: rgb(255, 255, 255); background: rgb(0, 0, 0); } }
  @media print { body { color: rgb(1, 2, 3); } }
  #far { margin-top: 3000px; width: 100px; height: 30px; }
</style></head>
<body>
<p id="note">none</p>
<svg width="300" height="100">
  <line data-frame="1" x1="0" y1="10" x2="200" y2="60" stroke="black" stroke-width="6"/>
  <rect data-frame="2" x="220" y="10" width="40" height="40"/>
</svg>
<button id="boom">boom</button>
<p id="keys"></p>
<div id="far" data-frame="3">far below</div>
<script>
  for (const el of document.querySelectorAll("[data-frame]")) {
    el.addEventListener("mouseenter", () => {
      document.getElementById("note").textContent = "frame " + el.dataset.frame;
    });
  }
  document.getElementById("boom").addEventListener("click", () => {
    console.error("bad thing", 42);
    throw new Error("thrown on click");
  });
  document.addEventListener("keydown", e => {
    document.getElementById("keys").textContent += e.key + "/" + e.code + "/" + e.keyCode + " ";
  });
</script>
</body></html>
`

// launch starts a browser for t, or skips t when there is no chromium.
func launch(t *testing.T) *Browser {
	t.Helper()
	if _, err := Find(); err != nil {
		t.Skip(err)
	}
	// Minutes: another package's test may hold the one browser.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	b, err := Launch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("launched %s (%s) in %v", b.Version(), b.Path(), time.Since(start).Round(time.Millisecond))
	return b
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestBrowser(t *testing.T) {
	b := launch(t)
	dir := b.dir
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the profile %s is still there after Close: %v", dir, err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := write(t, "page.html", page)

	p, err := b.Open(ctx, file, Options{Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("opened a small page in %v", p.LoadTime().Round(time.Microsecond))
	if p.LoadTime() <= 0 {
		t.Errorf("LoadTime() = %v, want > 0", p.LoadTime())
	}
	if !strings.HasPrefix(p.URL(), "file:///") || !strings.HasSuffix(p.URL(), "/page.html") {
		t.Errorf("URL() = %q", p.URL())
	}
	text := func(t *testing.T, selector string) string {
		t.Helper()
		var s string
		if err := p.Eval(ctx, "document.querySelector("+js(selector)+").textContent", &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("Count", func(t *testing.T) {
		for _, c := range []struct {
			selector string
			want     int
		}{
			{"[data-frame]", 3},
			{"svg [data-frame]", 2},
			{`[data-frame="2"]`, 1},
			{"table", 0},
		} {
			n, err := p.Count(ctx, c.selector)
			if err != nil || n != c.want {
				t.Errorf("Count(%q) = %d, %v; want %d", c.selector, n, err, c.want)
			}
		}
		if _, err := p.Count(ctx, "[data-frame]]"); err == nil || !strings.Contains(err.Error(), "not a valid selector") {
			t.Errorf("Count of a bad selector: err = %v, want the SyntaxError", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		errs := make(chan error, 8)
		for i := range 8 {
			go func() {
				var n int
				err := p.Eval(ctx, fmt.Sprintf("new Promise(r => setTimeout(() => r(%d), %d))", i, 8-i), &n)
				if err == nil && n != i {
					err = fmt.Errorf("got %d, want %d", n, i)
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("Eval", func(t *testing.T) {
		var v struct {
			A int
			B []string
		}
		if err := p.Eval(ctx, `({A: 6*7, B: ["x", "y"]})`, &v); err != nil || v.A != 42 || len(v.B) != 2 || v.B[1] != "y" {
			t.Errorf("Eval of an object: %+v, %v", v, err)
		}
		var n int
		if err := p.Eval(ctx, `new Promise(r => setTimeout(() => r(7), 10))`, &n); err != nil || n != 7 {
			t.Errorf("Eval of a promise: %d, %v; want 7", n, err)
		}
		err := p.Eval(ctx, `(() => { throw new TypeError("no such thing") })()`, nil)
		if err == nil || !strings.Contains(err.Error(), "TypeError: no such thing") {
			t.Errorf("Eval that throws: err = %v", err)
		}
		err = p.Eval(ctx, `Promise.reject(new Error("refused"))`, nil)
		if err == nil || !strings.Contains(err.Error(), "Error: refused") {
			t.Errorf("Eval of a rejected promise: err = %v", err)
		}
		if err := p.Eval(ctx, `undefined`, &n); err == nil {
			t.Errorf("Eval of undefined into an int: no error")
		}
		if err := p.Eval(ctx, `1/0`, &n); err == nil || !strings.Contains(err.Error(), "Infinity") {
			t.Errorf("Eval of Infinity: err = %v", err)
		}
		// A context that ends stops the wait, and the page still answers.
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		err = p.Eval(short, `new Promise(() => {})`, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Eval of a promise that never settles: err = %v, want the deadline", err)
		}
		if err := p.Eval(ctx, `1+1`, &n); err != nil || n != 2 {
			t.Errorf("Eval after a timeout: %d, %v", n, err)
		}
	})

	t.Run("Hover", func(t *testing.T) {
		for _, f := range []string{"2", "1", "3"} {
			if err := p.Hover(ctx, `[data-frame="`+f+`"]`); err != nil {
				t.Fatal(err)
			}
			if got, want := text(t, "#note"), "frame "+f; got != want {
				t.Errorf("after hovering frame %s, #note = %q, want %q", f, got, want)
			}
		}
		// Frame 3 is below the fold: Hover scrolled to it.
		var y float64
		if err := p.Eval(ctx, "window.scrollY", &y); err != nil || y < 2000 {
			t.Errorf("after hovering the far element, scrollY = %v, %v; want it scrolled", y, err)
		}
		err := p.Hover(ctx, "#nothing")
		if err == nil || !strings.Contains(err.Error(), "no element matches") {
			t.Errorf("Hover(#nothing): err = %v", err)
		}
	})

	t.Run("Key", func(t *testing.T) {
		for _, k := range []string{"ArrowRight", "ArrowLeft", "Escape", "a"} {
			if err := p.Key(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		want := "ArrowRight/ArrowRight/39 ArrowLeft/ArrowLeft/37 Escape/Escape/27 a/KeyA/65 "
		if got := text(t, "#keys"); got != want {
			t.Errorf("#keys = %q, want %q", got, want)
		}
		if err := p.Key(ctx, "Hyper"); err == nil {
			t.Errorf("Key(Hyper): no error")
		}
	})

	t.Run("Click", func(t *testing.T) {
		if errs := p.Errors(); len(errs) != 0 {
			t.Fatalf("errors before the click: %q", errs)
		}
		if err := p.Click(ctx, "#boom"); err != nil {
			t.Fatal(err)
		}
		errs := p.Errors()
		want := []string{"console.error: bad thing 42", "Uncaught Error: thrown on click (page.html:"}
		if len(errs) != len(want) {
			t.Fatalf("Errors() = %q, want %d", errs, len(want))
		}
		for i := range want {
			if !strings.HasPrefix(errs[i], want[i]) {
				t.Errorf("Errors()[%d] = %q, want it to start %q", i, errs[i], want[i])
			}
		}
	})

	t.Run("Screenshot", func(t *testing.T) {
		for _, full := range []bool{false, true} {
			var height int
			if err := p.Eval(ctx, "document.documentElement.scrollHeight", &height); err != nil {
				t.Fatal(err)
			}
			wantW, wantH := 640, 480
			if full {
				wantH = height // 3000 px and more
			}
			out := filepath.Join(t.TempDir(), "shot.png")
			if err := p.Screenshot(ctx, out, full); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got.X != wantW || got.Y != wantH {
				t.Errorf("screenshot (full %v) is %v, want %dx%d", full, got, wantW, wantH)
			}
		}
	})

	t.Run("Media", func(t *testing.T) {
		for _, c := range []struct {
			opt  Options
			want string
		}{
			{Options{}, "rgb(0, 0, 0)"},
			{Options{Dark: true, Hash: "seg-7"}, "rgb(255, 255, 255)"},
			{Options{Print: true}, "rgb(1, 2, 3)"},
		} {
			q, err := b.Open(ctx, file, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			var color string
			var size []int
			err = q.Eval(ctx, "getComputedStyle(document.body).color", &color)
			if err == nil {
				err = q.Eval(ctx, "[innerWidth, innerHeight]", &size)
			}
			if err != nil {
				t.Fatal(err)
			}
			if color != c.want {
				t.Errorf("with %+v, the body's colour is %s, want %s", c.opt, color, c.want)
			}
			var hash string
			if err := q.Eval(ctx, "location.hash", &hash); err != nil || hash != "#"+c.opt.Hash && c.opt.Hash != "" {
				t.Errorf("with %+v, location.hash = %q, %v", c.opt, hash, err)
			}
			if len(size) != 2 || size[0] != 1280 || size[1] != 800 {
				t.Errorf("with %+v, the viewport is %v, want [1280 800]", c.opt, size)
			}
			if err := q.Close(); err != nil {
				t.Error(err)
			}
			if err := q.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := q.Count(ctx, "p"); err == nil || !strings.Contains(err.Error(), "the page is closed") {
				t.Errorf("Count on a closed page: err = %v", err)
			}
		}
	})

	t.Run("LoadErrors", func(t *testing.T) {
		bad := write(t, "bad.html", `<!doctype html><title>bad</title><img src="missing.png">
<script>throw new RangeError("thrown while loading");</script>
<script>Promise.reject(new TypeError("nobody caught me"));</script>`)
		q, err := b.Open(ctx, bad, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		// The failed image and the exception come before the load
		// event; an unhandled rejection is reported in a later task.
		if err := q.Eval(ctx, "new Promise(r => setTimeout(r, 0))", nil); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"network: Failed to load resource: net::ERR_FILE_NOT_FOUND (file:///",
			"Uncaught RangeError: thrown while loading (bad.html:2:",
			"Uncaught (in promise) TypeError: nobody caught me",
		}
		errs := q.Errors()
		for _, w := range want {
			found := false
			for _, e := range errs {
				found = found || strings.HasPrefix(e, w)
			}
			if !found {
				t.Errorf("Errors() = %q, want one starting %q", errs, w)
			}
		}
		if len(errs) != len(want) {
			t.Errorf("Errors() = %q, want %d", errs, len(want))
		}
		if _, err := b.Open(ctx, filepath.Join(t.TempDir(), "none.html"), Options{}); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Open of a missing file: err = %v", err)
		}
	})

	if errs := p.Errors(); len(errs) != 2 {
		t.Errorf("the first page's errors changed: %q", errs)
	}

	// Kill chromium under the page: calls fail at once, saying so, and
	// Close still cleans up (deferred above).
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, err = p.Count(ctx, "p")
	if err == nil || !strings.Contains(err.Error(), "chromium exited (signal: killed)") {
		t.Errorf("Count after a crash: err = %v", err)
	}
	if _, err := b.Open(ctx, file, Options{}); err == nil || !strings.Contains(err.Error(), "chromium exited") {
		t.Errorf("Open after a crash: err = %v", err)
	}
}

// fake puts a shell script named chromium first on PATH.
func fake(t *testing.T, script string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chromium"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestLaunchFails: a chromium that exits at once is reported with its
// exit status and its last line of output.
func TestLaunchFails(t *testing.T) {
	fake(t, "echo starting >&2\necho 'FATAL: No usable sandbox!' >&2\nexit 3\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := Launch(ctx)
	want := "browser: Browser.getVersion: chromium exited (exit status 3); its last output: FATAL: No usable sandbox!"
	if err == nil || err.Error() != want {
		t.Errorf("Launch: err = %v\nwant %s", err, want)
	}
}

// TestLaunchHangs: a chromium that never answers is given up at the
// context's deadline, and killed (a process left running would hold
// the pipe open and leak the reading goroutine: goleak would see it).
func TestLaunchHangs(t *testing.T) {
	fake(t, "exec sleep 60\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Launch(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Launch: err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Launch took %v to give up", d)
	}
}

func TestFindMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := Find(); err == nil || !strings.Contains(err.Error(), "apt-get install chromium") {
		t.Errorf("Find with an empty PATH: err = %v", err)
	}
	if _, err := Launch(context.Background()); err == nil || !strings.Contains(err.Error(), "apt-get install chromium") {
		t.Errorf("Launch with an empty PATH: err = %v", err)
	}
}

// TestLaunchCancelled: a context already done stops Launch, which
// leaves nothing behind.
func TestLaunchCancelled(t *testing.T) {
	if _, err := Find(); err != nil {
		t.Skip(err)
	}
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "tcptour-chromium-*"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, err := Launch(ctx)
	if !errors.Is(err, context.Canceled) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("Launch with a cancelled context: err = %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "tcptour-chromium-*"))
	if len(after) > len(before) {
		t.Errorf("profiles left behind: %q (before: %q)", after, before)
	}
}

// largePage writes a 20 MB page of 100,000 SVG elements, as a large
// capture's page may be, and returns its name.
func largePage(b *testing.B, n int) string {
	var sb strings.Builder
	sb.WriteString(`<!doctype html><title>large</title><svg width="1200" height="200000">` + "\n")
	pad := strings.Repeat("x", 80) // to 20 MB in all
	for i := range n {
		fmt.Fprintf(&sb, `<line data-frame="%d" x1="100" y1="%d" x2="1100" y2="%d" stroke="black"><title>segment %d %s</title></line>`+"\n",
			i+1, 2*i, 2*i+1, i+1, pad)
	}
	sb.WriteString("</svg>\n")
	file := filepath.Join(b.TempDir(), "large.html")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

// benchLaunch starts a browser for b, or skips b when there is no chromium.
func benchLaunch(b *testing.B) *Browser {
	b.Helper()
	if _, err := Find(); err != nil {
		b.Skip(err)
	}
	br, err := Launch(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkLaunch: Launch, then Close.
func BenchmarkLaunch(b *testing.B) {
	if _, err := Find(); err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		br, err := Launch(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens (and closes) the small test page, and a 20 MB one
// of 100,000 SVG elements: go test -run '^$' -bench Open -benchtime 3x.
func BenchmarkOpen(b *testing.B) {
	br := benchLaunch(b)
	defer br.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		file  func(*testing.B) string
		count int
	}{
		{"small", func(b *testing.B) string {
			file := filepath.Join(b.TempDir(), "page.html")
			if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
				b.Fatal(err)
			}
			return file
		}, 3},
		{"20MB", func(b *testing.B) string { return largePage(b, 100_000) }, 100_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			file := c.file(b)
			st, err := os.Stat(file)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			var load time.Duration
			for b.Loop() {
				p, err := br.Open(ctx, file, Options{})
				if err != nil {
					b.Fatal(err)
				}
				load += p.LoadTime()
				n, err := p.Count(ctx, "[data-frame]")
				if err != nil || n != c.count {
					b.Fatalf("Count = %d, %v; want %d", n, err, c.count)
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "ms-to-load/op")
		})
	}
}

// One browser of this package runs at a time on the machine: a second
// Launch waits for the first to close, until its context is done.
func TestOneAtATime(t *testing.T) {
	b := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if b2, err := Launch(ctx); err == nil {
		b2.Close()
		t.Fatal("a second browser started while the first ran")
	} else if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for another browser") {
		t.Errorf("the second Launch: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	launch(t).Close()
}
