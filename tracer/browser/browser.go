package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// names are the programs [Find] looks for on PATH, in this order.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the path of a Chromium or Chrome on PATH, or an error
// that says how to install one.
func Find() (path string, err error) {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("browser: no Chromium on PATH (looked for %s); on Debian: apt-get install chromium",
		strings.Join(names, ", "))
}

// A Browser is a headless Chromium started by [Launch], driven over the
// DevTools protocol on a pipe. Its methods may be called from several
// goroutines at once.
type Browser struct {
	held    *os.File // the machine-wide lock (lock_unix.go), nil without one
	path    string
	version string
	dir     string // HOME, profile and crash dumps; removed by Close
	cmd     *exec.Cmd
	w       *os.File // our end of chromium's fd 3: commands
	r       *os.File // our end of chromium's fd 4: replies and events
	log     string   // chromium's stdout and stderr

	wmu  sync.Mutex // one message at a time on w
	dlmu sync.Mutex // guards wcur
	wseq int64      // numbers the writes, under wmu
	wcur int64      // the write under way, 0 for none

	mu      sync.Mutex
	closed  bool
	nextID  int64
	pending map[int64]chan reply
	pages   map[string]*Page // by DevTools session id

	readDone chan struct{} // closed when chromium's pipe reaches its end
	exited   chan struct{} // closed when chromium's main process has been waited for
	exitErr  error         // cmd.Wait's error, set before exited is closed

	closeOnce sync.Once
	closeErr  error
}

// request is a command sent to chromium.
type request struct {
	ID        int64  `json:"id"`
	Method    string `json:"method"`
	Params    any    `json:"params,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
}

// reply is any message from chromium: the answer to a command (ID set)
// or an event (Method set).
type reply struct {
	ID        int64           `json:"id"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
	Result    json.RawMessage `json:"result"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

// flags are chromium's command-line flags besides the profile's and
// the sandbox's: headless (the new headless mode, the only one of
// chromium 132 and later), no first-run dialogs, nothing fetched from
// the network on its own.
var flags = []string{
	"--headless=new",
	"--remote-debugging-pipe",
	"--disable-gpu",
	"--no-first-run",
	"--no-default-browser-check",
	"--disable-extensions",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-default-apps",
	"--disable-breakpad",
	"--disable-dev-shm-usage",
	"--mute-audio",
	"--hide-scrollbars",
	"--password-store=basic",
	"--use-mock-keychain",
}

// Launch starts a headless Chromium found by [Find], with a profile of
// its own in a temporary directory (also its HOME, XDG_CONFIG_HOME and
// XDG_CACHE_HOME, and where its output goes), and returns once it
// answers on the DevTools pipe. It adds --no-sandbox only when run as
// root, where chromium refuses to start without it. ctx bounds the
// start only; [Browser.Close] ends the browser.
func Launch(ctx context.Context) (*Browser, error) {
	path, err := Find()
	if err != nil {
		return nil, err
	}
	held, err := lock(ctx)
	if err != nil {
		return nil, err
	}
	started := false // then Close lets go of the lock
	defer func() {
		if !started {
			held.Close()
		}
	}()
	dir, err := os.MkdirTemp("", "tcptour-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	args := append([]string{
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		"--crash-dumps-dir=" + filepath.Join(dir, "crash"),
	}, flags...)
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox")
	}
	args = append(args, "about:blank")

	// chromium reads commands on fd 3 and writes on fd 4.
	cmdR, ourW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browser: %w", err)
	}
	ourR, cmdW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		ourW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browser: %w", err)
	}
	// chromium's output goes to a file: exec.Cmd would otherwise copy
	// it with a goroutine that waits for every helper that inherited it.
	logf, err := os.Create(filepath.Join(dir, "chromium.log"))
	if err != nil {
		cmdR.Close()
		ourW.Close()
		ourR.Close()
		cmdW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browser: %w", err)
	}
	// At the lowest CPU priority: the programs a test checks, often
	// timed by the kernel's own timers, keep their pace.
	cmd := exec.Command(path, args...)
	if nice, err := exec.LookPath("nice"); err == nil {
		cmd = exec.Command(nice, append([]string{"-n", "19", path}, args...)...)
	}
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
	)
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{cmdR, cmdW}
	cmd.Stdout = logf
	cmd.Stderr = logf
	setGroup(cmd)
	err = cmd.Start()
	cmdR.Close()
	cmdW.Close()
	logf.Close()
	if err != nil {
		ourR.Close()
		ourW.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	b := &Browser{
		held:     held,
		path:     path,
		dir:      dir,
		cmd:      cmd,
		w:        ourW,
		r:        ourR,
		log:      logf.Name(),
		pending:  map[int64]chan reply{},
		pages:    map[string]*Page{},
		readDone: make(chan struct{}),
		exited:   make(chan struct{}),
	}
	started = true
	go b.wait()
	go b.read()

	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, "", nil, "Browser.getVersion", nil, &v); err != nil {
		b.Close()
		return nil, err
	}
	b.version = v.Product
	return b, nil
}

// Version returns the browser's product name and version, such as
// "Chrome/156.0.8078.114".
func (b *Browser) Version() string { return b.version }

// Path returns the program [Launch] started.
func (b *Browser) Path() string { return b.path }

// wait waits for chromium's main process to end, then kills what is
// left of its group: helpers that may hold the DevTools pipe open.
func (b *Browser) wait() {
	b.exitErr = b.cmd.Wait()
	killGroup(b.cmd)
	close(b.exited)
}

// read hands each message from chromium to the command waiting for it,
// or to the page whose session it belongs to, until the pipe ends.
func (b *Browser) read() {
	defer close(b.readDone)
	br := bufio.NewReaderSize(b.r, 1<<16)
	for {
		data, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m reply
		if err := json.Unmarshal(data[:len(data)-1], &m); err != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m // buffered
			}
			continue
		}
		p := b.pages[m.SessionID]
		if m.Method == "Target.detachedFromTarget" {
			var e struct {
				SessionID string `json:"sessionId"`
			}
			if json.Unmarshal(m.Params, &e) == nil {
				p = b.pages[e.SessionID]
			}
		}
		b.mu.Unlock()
		if p != nil {
			p.event(m.Method, m.Params)
		}
	}
}

// errClosed is returned by calls on a closed [Browser].
var errClosed = errors.New("browser: closed")

// call sends method with params to the target of session ("" for the
// browser itself) and decodes the answer into result (if not nil).
// For a page, gone is its channel closed when the page is (chromium
// does not answer commands for a session it has ended).
func (b *Browser) call(ctx context.Context, session string, gone <-chan struct{}, method string, params, result any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("browser: %s: %w", method, err)
	}
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	forget := func() {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
	}

	data, err := json.Marshal(request{ID: id, Method: method, Params: params, SessionID: session})
	if err != nil {
		forget()
		return fmt.Errorf("browser: %s: %w", method, err)
	}
	if err := b.send(ctx, append(data, 0)); err != nil {
		forget()
		if ctx.Err() != nil {
			return fmt.Errorf("browser: %s: %w", method, ctx.Err())
		}
		return b.deadErr(ctx, method)
	}

	select {
	case m := <-ch:
		if m.Error != nil {
			msg := m.Error.Message
			if m.Error.Data != "" {
				msg += ": " + m.Error.Data
			}
			return fmt.Errorf("browser: %s: %s", method, msg)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return fmt.Errorf("browser: %s: decoding the answer: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("browser: %s: %w", method, ctx.Err())
	case <-b.readDone:
		forget()
		return b.deadErr(ctx, method)
	case <-b.exited:
		forget()
		return b.deadErr(ctx, method)
	case <-gone:
		forget()
		return fmt.Errorf("browser: %s: the page is closed", method)
	}
}

// send writes one message, giving up at ctx's deadline or cancellation.
func (b *Browser) send(ctx context.Context, data []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.wseq++
	seq := b.wseq
	dl, _ := ctx.Deadline() // zero: no deadline
	b.w.SetWriteDeadline(dl)
	b.dlmu.Lock()
	b.wcur = seq
	b.dlmu.Unlock()
	// Cancelling ctx interrupts this write, and no later one.
	stop := context.AfterFunc(ctx, func() {
		b.dlmu.Lock()
		if b.wcur == seq {
			b.w.SetWriteDeadline(time.Unix(1, 0))
		}
		b.dlmu.Unlock()
	})
	defer stop()
	_, err := b.w.Write(data)
	b.dlmu.Lock()
	b.wcur = 0
	b.dlmu.Unlock()
	return err
}

// deadErr describes a browser that exited, or closed its pipe. It
// waits (within ctx, at most two seconds) for the exit status, and adds
// chromium's last line of output.
func (b *Browser) deadErr(ctx context.Context, method string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return errClosed
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	status := "closed its DevTools pipe"
	select {
	case <-b.exited:
		status = "exited"
		if b.exitErr != nil {
			status = "exited (" + b.exitErr.Error() + ")"
		}
	case <-ctx.Done():
	case <-t.C:
	}
	msg := fmt.Sprintf("browser: %s: chromium %s", method, status)
	if line := lastLine(b.log); line != "" {
		msg += "; its last output: " + line
	}
	return errors.New(msg)
}

// Close ends the browser: it kills chromium's process group (there is
// nothing in its temporary profile to save), waits for it, and removes
// the profile. Close may be
// called more than once; later calls return the first one's result.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		killGroup(b.cmd)
		<-b.exited
		b.w.Close()
		b.r.Close() // ends read, if a helper still held fd 4
		<-b.readDone
		if err := os.RemoveAll(b.dir); err != nil {
			// A helper killed a moment ago may still have been writing.
			if err := os.RemoveAll(b.dir); err != nil {
				b.closeErr = fmt.Errorf("browser: removing the profile: %w", err)
			}
		}
		b.held.Close() // lets the next browser start
	})
	return b.closeErr
}

// lastLine returns the last non-empty line of file.
func lastLine(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 8 << 10
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		f.Seek(st.Size()-tail, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
