package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options set how [Browser.Open] shows a page.
type Options struct {
	// Width and Height are the viewport's size in CSS pixels (one
	// device pixel each); zero means 1280 and 800.
	Width, Height int
	// Dark makes the page see prefers-color-scheme: dark; otherwise it
	// sees light.
	Dark bool
	// Print makes the page see the print media type, as when printed.
	Print bool
	// Hash, if not empty, is added to the URL after a '#'.
	Hash string
}

// A Page is a browser tab showing one file, opened by [Browser.Open].
// Its methods may be called from several goroutines at once.
type Page struct {
	b        *Browser
	target   string
	session  string
	url      string
	loadTime time.Duration

	mu     sync.Mutex
	errs   []string
	loads  map[string]chan struct{} // by loader id: closed at its load event
	closed bool                     // by Close, or chromium ended the session
	gone   chan struct{}            // closed with closed
}

// Open opens a new tab, sized and themed by opt, loads the file at path
// in it (as a file:// URL) and returns once the page's load event has
// fired: its scripts have run and its images are in.
func (b *Browser) Open(ctx context.Context, path string, opt Options) (*Page, error) {
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("browser: open: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), Fragment: opt.Hash}
	if opt.Width == 0 {
		opt.Width = 1280
	}
	if opt.Height == 0 {
		opt.Height = 800
	}

	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", nil, "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	err = b.call(ctx, "", nil, "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &s)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// NOTE: ignoring the error; the attach error says more.
		_ = b.call(closeCtx, "", nil, "Target.closeTarget", map[string]any{"targetId": t.TargetID}, nil)
		return nil, err
	}
	p := &Page{b: b, target: t.TargetID, session: s.SessionID, url: u.String(),
		loads: map[string]chan struct{}{}, gone: make(chan struct{})}
	b.mu.Lock()
	b.pages[p.session] = p
	b.mu.Unlock()
	if err := p.load(ctx, opt); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// load sets the page up and navigates to p.url.
func (p *Page) load(ctx context.Context, opt Options) error {
	scheme := "light"
	if opt.Dark {
		scheme = "dark"
	}
	media := ""
	if opt.Print {
		media = "print"
	}
	setup := []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Page.setLifecycleEventsEnabled", map[string]any{"enabled": true}},
		{"Runtime.enable", nil},
		{"Log.enable", nil},
		{"Emulation.setDeviceMetricsOverride", map[string]any{
			"width": opt.Width, "height": opt.Height, "deviceScaleFactor": 1, "mobile": false}},
		{"Emulation.setEmulatedMedia", map[string]any{
			"media":    media,
			"features": []map[string]string{{"name": "prefers-color-scheme", "value": scheme}}}},
		// Keys go to the page as to the window in front.
		{"Emulation.setFocusEmulationEnabled", map[string]any{"enabled": true}},
	}
	for _, c := range setup {
		if err := p.call(ctx, c.method, c.params, nil); err != nil {
			return err
		}
	}
	start := time.Now()
	var nav struct {
		LoaderID  string `json:"loaderId"`
		ErrorText string `json:"errorText"`
	}
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": p.url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("browser: loading %s: %s", p.url, nav.ErrorText)
	}
	select {
	case <-p.loaded(nav.LoaderID):
	case <-ctx.Done():
		return fmt.Errorf("browser: loading %s: %w", p.url, ctx.Err())
	case <-p.b.readDone:
		return p.b.deadErr(ctx, "loading "+p.url)
	case <-p.b.exited:
		return p.b.deadErr(ctx, "loading "+p.url)
	case <-p.gone:
		return fmt.Errorf("browser: loading %s: the page crashed or was closed", p.url)
	}
	p.loadTime = time.Since(start)
	return nil
}

// loaded returns a channel closed at the load event of the document
// that loader brings.
func (p *Page) loaded(loader string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.loads[loader]
	if ch == nil {
		ch = make(chan struct{})
		p.loads[loader] = ch
	}
	return ch
}

func (p *Page) call(ctx context.Context, method string, params, result any) error {
	select {
	case <-p.gone:
		return fmt.Errorf("browser: %s: the page is closed", method)
	default:
	}
	return p.b.call(ctx, p.session, p.gone, method, params, result)
}

// URL returns the file:// URL the page was opened at.
func (p *Page) URL() string { return p.url }

// LoadTime returns the time from asking the tab to navigate to the
// page's load event, as [Browser.Open] measured it.
func (p *Page) LoadTime() time.Duration { return p.loadTime }

// remoteObject is the DevTools protocol's Runtime.RemoteObject.
type remoteObject struct {
	Type                string          `json:"type"`
	Subtype             string          `json:"subtype"`
	Value               json.RawMessage `json:"value"`
	UnserializableValue string          `json:"unserializableValue"`
	Description         string          `json:"description"`
}

// String returns the object as console.log would show it, roughly.
func (o remoteObject) String() string {
	switch {
	case o.Type == "string":
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
	case o.UnserializableValue != "":
		return o.UnserializableValue
	case o.Description != "":
		return o.Description
	case o.Type == "undefined":
		return "undefined"
	}
	return string(o.Value)
}

// exceptionDetails is the DevTools protocol's Runtime.ExceptionDetails.
type exceptionDetails struct {
	Text         string        `json:"text"`
	URL          string        `json:"url"`
	LineNumber   int           `json:"lineNumber"`
	ColumnNumber int           `json:"columnNumber"`
	Exception    *remoteObject `json:"exception"`
}

// String returns "Uncaught Error: the message (page.html:12:5)": the
// exception's first line (without the stack), and where it was thrown
// when known.
func (e exceptionDetails) String() string {
	msg := e.Text
	if e.Exception != nil {
		desc, _, _ := strings.Cut(e.Exception.String(), "\n")
		if desc != "" {
			msg = strings.TrimSuffix(msg, ":") + " " + desc
		}
	}
	if e.URL != "" {
		msg += fmt.Sprintf(" (%s:%d:%d)", fileName(e.URL), e.LineNumber+1, e.ColumnNumber+1)
	}
	return msg
}

// fileName shortens a URL to its file's name.
func fileName(u string) string {
	if i := strings.LastIndexByte(u, '/'); i >= 0 && i < len(u)-1 {
		return u[i+1:]
	}
	return u
}

// event records what the page reports: errors and load events. It runs
// on the browser's reading goroutine and must not block.
func (p *Page) event(method string, params json.RawMessage) {
	switch method {
	case "Page.lifecycleEvent":
		var e struct {
			LoaderID string `json:"loaderId"`
			Name     string `json:"name"`
		}
		if json.Unmarshal(params, &e) == nil && e.Name == "load" {
			ch := p.loaded(e.LoaderID)
			p.mu.Lock()
			select {
			case <-ch:
			default:
				close(ch)
			}
			p.mu.Unlock()
		}
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string         `json:"type"`
			Args []remoteObject `json:"args"`
		}
		if json.Unmarshal(params, &e) != nil || (e.Type != "error" && e.Type != "assert") {
			return
		}
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = a.String()
		}
		p.addError("console." + e.Type + ": " + strings.Join(args, " "))
	case "Runtime.exceptionThrown":
		var e struct {
			Details exceptionDetails `json:"exceptionDetails"`
		}
		if json.Unmarshal(params, &e) == nil {
			p.addError(e.Details.String())
		}
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Source string `json:"source"`
				Level  string `json:"level"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		if json.Unmarshal(params, &e) != nil || e.Entry.Level != "error" {
			return
		}
		msg := e.Entry.Source + ": " + e.Entry.Text
		if e.Entry.URL != "" {
			msg += " (" + e.Entry.URL + ")"
		}
		p.addError(msg)
	case "Inspector.targetCrashed":
		p.addError("the page crashed")
		p.end()
	case "Target.detachedFromTarget":
		p.end()
	}
}

// end marks the page closed, and reports whether it was open.
func (p *Page) end() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.closed = true
	close(p.gone)
	return true
}

func (p *Page) addError(msg string) {
	p.mu.Lock()
	p.errs = append(p.errs, msg)
	p.mu.Unlock()
}

// Errors returns, in the order they happened, the page's errors so
// far: console.error and failed console.assert calls ("console.error:
// the message"), uncaught exceptions and promise rejections ("Uncaught
// Error: the message (page.html:12:5)"), and errors the browser logged,
// such as a resource that failed to load ("network: Failed to load
// resource: net::ERR_FILE_NOT_FOUND (file:///…)"). A page without
// errors returns none.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// Eval evaluates the JavaScript expression js in the page, waits for
// the promise it returns (if it does) and stores the JSON of its value
// in out, as [json.Unmarshal] does; out may be nil to drop it. An
// exception thrown (or a promise rejected) is returned as an error with
// its message.
func (p *Page) Eval(ctx context.Context, js string, out any) error {
	var r struct {
		Result           remoteObject      `json:"result"`
		ExceptionDetails *exceptionDetails `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": js, "returnByValue": true, "awaitPromise": true}
	if err := p.call(ctx, "Runtime.evaluate", params, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("browser: eval: %s", r.ExceptionDetails)
	}
	if out == nil {
		return nil
	}
	switch {
	case r.Result.UnserializableValue != "":
		return fmt.Errorf("browser: eval: the result, %s, has no JSON", r.Result.UnserializableValue)
	case r.Result.Type == "undefined":
		return fmt.Errorf("browser: eval: the result is undefined")
	}
	if err := json.Unmarshal(r.Result.Value, out); err != nil {
		return fmt.Errorf("browser: eval: %w", err)
	}
	return nil
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// Count returns the number of elements that the CSS selector matches.
func (p *Page) Count(ctx context.Context, selector string) (int, error) {
	var n int
	err := p.Eval(ctx, "document.querySelectorAll("+js(selector)+").length", &n)
	return n, err
}

// point scrolls the first element that selector matches into the middle
// of the viewport and returns the viewport coordinates of its centre.
func (p *Page) point(ctx context.Context, what, selector string) (x, y float64, err error) {
	var r *struct{ X, Y, W, H float64 }
	err = p.Eval(ctx, `(() => {
		const el = document.querySelector(`+js(selector)+`);
		if (!el) return null;
		el.scrollIntoView({block: "center", inline: "center", behavior: "instant"});
		const r = el.getBoundingClientRect();
		return {X: r.left + r.width/2, Y: r.top + r.height/2, W: r.width, H: r.height};
	})()`, &r)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("browser: %s %q: %w", what, selector, err)
	case r == nil:
		return 0, 0, fmt.Errorf("browser: %s %q: no element matches", what, selector)
	case r.W == 0 && r.H == 0:
		return 0, 0, fmt.Errorf("browser: %s %q: the element has no size (hidden?)", what, selector)
	}
	return r.X, r.Y, nil
}

// Hover scrolls the first element that selector matches into view and
// moves the mouse to its centre, with real input events: the page sees
// mousemove, mouseover and mouseenter (and :hover applies) on whatever
// element is on top at that point, as when a person moves the mouse.
// It returns once the page has handled the events: what they changed
// can be read, and the errors they caused are in [Page.Errors].
func (p *Page) Hover(ctx context.Context, selector string) error {
	x, y, err := p.point(ctx, "hover", selector)
	if err != nil {
		return err
	}
	if err := p.mouse(ctx, "mouseMoved", x, y, "none", 0); err != nil {
		return err
	}
	return p.sync(ctx)
}

// Click does what [Page.Hover] does, then presses and releases the left
// mouse button there.
func (p *Page) Click(ctx context.Context, selector string) error {
	x, y, err := p.point(ctx, "click", selector)
	if err != nil {
		return err
	}
	if err := p.mouse(ctx, "mouseMoved", x, y, "none", 0); err != nil {
		return err
	}
	if err := p.mouse(ctx, "mousePressed", x, y, "left", 1); err != nil {
		return err
	}
	if err := p.mouse(ctx, "mouseReleased", x, y, "left", 1); err != nil {
		return err
	}
	return p.sync(ctx)
}

// sync returns after a round trip to the page's renderer. The browser
// answers an input command once the renderer has handled the event, but
// on another channel than the renderer's own reports: a round trip on
// the renderer's channel brings in what the handlers logged or threw.
func (p *Page) sync(ctx context.Context) error {
	return p.call(ctx, "Runtime.evaluate", map[string]any{"expression": "0"}, nil)
}

func (p *Page) mouse(ctx context.Context, typ string, x, y float64, button string, clicks int) error {
	params := map[string]any{"type": typ, "x": x, "y": y, "button": button}
	if clicks > 0 {
		params["clickCount"] = clicks
		if typ == "mousePressed" {
			params["buttons"] = 1
		}
	}
	return p.call(ctx, "Input.dispatchMouseEvent", params, nil)
}

// keyDef is a key as the DevTools protocol describes it.
type keyDef struct {
	code    string // KeyboardEvent.code
	keyCode int    // KeyboardEvent.keyCode, Windows' virtual key code
	text    string // the text the key types, if any
}

// keys are the named keys [Page.Key] knows.
var keys = map[string]keyDef{
	"ArrowLeft":  {"ArrowLeft", 37, ""},
	"ArrowUp":    {"ArrowUp", 38, ""},
	"ArrowRight": {"ArrowRight", 39, ""},
	"ArrowDown":  {"ArrowDown", 40, ""},
	"Escape":     {"Escape", 27, ""},
	"Enter":      {"Enter", 13, "\r"},
	"Tab":        {"Tab", 9, ""},
	"Backspace":  {"Backspace", 8, ""},
	"Delete":     {"Delete", 46, ""},
	"Home":       {"Home", 36, ""},
	"End":        {"End", 35, ""},
	"PageUp":     {"PageUp", 33, ""},
	"PageDown":   {"PageDown", 34, ""},
	" ":          {"Space", 32, " "},
}

// keyFor returns the definition of key: a named key or one letter or
// digit.
func keyFor(key string) (keyDef, bool) {
	if k, ok := keys[key]; ok {
		return k, true
	}
	if len(key) != 1 {
		return keyDef{}, false
	}
	c := key[0]
	switch {
	case c >= 'a' && c <= 'z':
		return keyDef{"Key" + strings.ToUpper(key), int(c - 'a' + 'A'), key}, true
	case c >= 'A' && c <= 'Z':
		return keyDef{"Key" + key, int(c), key}, true
	case c >= '0' && c <= '9':
		return keyDef{"Digit" + key, int(c), key}, true
	}
	return keyDef{}, false
}

// Key presses and releases key on the focused element (the page's body
// if none), as a keyboard would: key is a KeyboardEvent.key value, one
// of "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Escape",
// "Enter", "Tab", "Backspace", "Delete", "Home", "End", "PageUp",
// "PageDown", " ", or a single letter or digit. The page sees keydown
// (and keypress for keys that type text) and keyup, with the key's code
// and keyCode. Like [Page.Hover], it returns once the page has handled
// them.
func (p *Page) Key(ctx context.Context, key string) error {
	k, ok := keyFor(key)
	if !ok {
		return fmt.Errorf("browser: key %q: not a key this package knows", key)
	}
	down := map[string]any{
		"type": "rawKeyDown", "key": key, "code": k.code,
		"windowsVirtualKeyCode": k.keyCode, "nativeVirtualKeyCode": k.keyCode,
	}
	if k.text != "" {
		down["type"] = "keyDown"
		down["text"] = k.text
		down["unmodifiedText"] = k.text
	}
	if err := p.call(ctx, "Input.dispatchKeyEvent", down, nil); err != nil {
		return err
	}
	up := map[string]any{
		"type": "keyUp", "key": key, "code": k.code,
		"windowsVirtualKeyCode": k.keyCode, "nativeVirtualKeyCode": k.keyCode,
	}
	if err := p.call(ctx, "Input.dispatchKeyEvent", up, nil); err != nil {
		return err
	}
	return p.sync(ctx)
}

// Screenshot writes a PNG of the page to file: the viewport, or with
// full the whole document (one device pixel per CSS pixel).
func (p *Page) Screenshot(ctx context.Context, file string, full bool) error {
	params := map[string]any{"format": "png"}
	if full {
		var m struct {
			Content struct {
				Width, Height float64
			} `json:"cssContentSize"`
		}
		if err := p.call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
			return err
		}
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{
			"x": 0, "y": 0, "scale": 1,
			"width": math.Ceil(m.Content.Width), "height": math.Ceil(m.Content.Height),
		}
	}
	var r struct {
		Data []byte `json:"data"` // base64 in the JSON
	}
	if err := p.call(ctx, "Page.captureScreenshot", params, &r); err != nil {
		return err
	}
	if err := os.WriteFile(file, r.Data, 0o644); err != nil {
		return fmt.Errorf("browser: screenshot: %w", err)
	}
	return nil
}

// Close closes the tab. It may be called more than once. Calls on a
// closed page (or one whose renderer crashed) return an error.
func (p *Page) Close() error {
	if !p.end() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.b.call(ctx, "", nil, "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
	p.b.mu.Lock()
	delete(p.b.pages, p.session)
	p.b.mu.Unlock()
	if err == errClosed {
		return nil // the browser closed it already
	}
	return err
}
