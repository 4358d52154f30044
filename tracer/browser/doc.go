// Package browser drives a headless Chromium from Go, for tcptour's
// tests and tools: it opens the HTML pages the tracer writes, and
// checks them as a person would see them — console errors, elements,
// a segment's note on hover, keys, screenshots, load times.
//
// It speaks the Chrome DevTools Protocol over a pipe (chromium
// --remote-debugging-pipe reads commands on its fd 3 and writes on its
// fd 4, JSON messages each ended by a NUL byte), so it needs nothing
// but a chromium on PATH (Debian: apt-get install chromium) and no
// network. Each [Browser] has a profile of its own in a temporary
// directory, so it runs as root (with --no-sandbox) and as an
// unprivileged user alike.
//
//	b, err := browser.Launch(ctx)
//	if err != nil {
//		t.Skip(err) // no chromium here
//	}
//	defer b.Close()
//	p, err := b.Open(ctx, "12.html", browser.Options{Width: 1200, Height: 800, Dark: true})
//	…
//	n, err := p.Count(ctx, "[data-frame]")
//	err = p.Hover(ctx, `[data-frame="7"]`)
//	var note string
//	err = p.Eval(ctx, `document.querySelector("#note").textContent`, &note)
//	err = p.Screenshot(ctx, "12.png", false)
//	if errs := p.Errors(); len(errs) > 0 { … }
//
// Every call takes a context and gives up when it ends; a browser that
// crashed is reported with chromium's last line of output.
package browser
