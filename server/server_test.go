package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tcptour/tracer"
	"tcptour/tracer/cli"
	"tcptour/tracer/kernel"
	"tcptour/tracer/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// output collects what run writes and lets a test wait for a piece of
// it to appear: waiting on the output itself, not on a clock.
type output struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // closed and replaced at each write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitUntil waits until ok holds for the output, failing the test if it
// does not within 10 seconds.
func (o *output) waitUntil(t *testing.T, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		s, changed := o.b.String(), o.changed
		o.mu.Unlock()
		if ok(s) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited 10s for %s; the output is:\n%s", what, s)
		}
	}
}

// waitFor waits until the output contains s.
func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	o.waitUntil(t, fmt.Sprintf("%q", s), func(out string) bool { return strings.Contains(out, s) })
}

// running is a server started by start.
type running struct {
	addr, lab   netip.AddrPort
	out, errOut *output
	cancel      context.CancelCauseFunc
	done        chan error
	once        sync.Once
	err         error
}

// start runs the server in-process with cfg and waits until it listens.
// The test's cleanup stops it.
func start(t *testing.T, cfg config) *running {
	t.Helper()
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:0"
	}
	if cfg.capture == "" {
		// The seed's behaviour, without packets: the same wherever
		// the tests run. The capture tests turn it on.
		cfg.capture = wire.ModeOff
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &running{out: newOutput(), errOut: newOutput(), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan [2]netip.AddrPort, 1)
	cfg.ready = func(listen, lab netip.AddrPort) { ready <- [2]netip.AddrPort{listen, lab} }
	go func() { r.done <- run(ctx, cfg, r.out, r.errOut) }()
	select {
	case a := <-ready:
		r.addr, r.lab = a[0], a[1]
	case err := <-r.done:
		cancel(nil)
		t.Fatalf("run returned before listening: %v", err)
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return r
}

// stop cancels the server's context, as Ctrl-C does, and returns what
// run returned.
func (r *running) stop() error { return r.stopWith(nil) }

// stopWith cancels the server's context with cause, as main does on a
// signal with an *cli.Interrupted, and returns what run returned.
func (r *running) stopWith(cause error) error {
	r.once.Do(func() {
		r.cancel(cause)
		select {
		case r.err = <-r.done:
		case <-time.After(10 * time.Second):
			r.err = errors.New("run did not return within 10s of the cancel")
		}
	})
	return r.err
}

// dial connects to the server with a plain net.Dial.
func dial(t *testing.T, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// No test should hang: a server that does not answer fails it.
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// say writes msg and reads the answer, which must be want. It may run
// in any goroutine.
func say(t *testing.T, c net.Conn, msg, want string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Errorf("writing %q: %v", msg, err)
		return
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Errorf("reading the answer to %q: %v (got %q)", msg, err, got)
		return
	}
	if string(got) != want {
		t.Errorf("answer to %q = %q, want %q", msg, got, want)
	}
}

// inOrder reports whether s contains each of parts, in this order.
func inOrder(s string, parts ...string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// TestConversation proves the seed's server: the CONNECTED, DATA and
// CLOSED lines, the answer on the connection, and the trace of the
// connection's life between them.
func TestConversation(t *testing.T) {
	tests := []struct {
		name, msg  string
		wantAnswer string
		wantData   string // the DATA line after "DATA ip:port: "
	}{
		{"seed", "I am Chuck Norris!", `You said "I am Chuck Norris!"`, "I am Chuck Norris!\n"},
		// nc sends whole lines: the answer keeps the newline, the DATA
		// line does not get a blank line after it.
		{"line from nc", "hello\n", "You said \"hello\n\"", "hello\n"},
		{"utf-8", "héllo ✓", `You said "héllo ✓"`, "héllo ✓\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, config{})
			c := dial(t, r.addr)
			client := c.LocalAddr().(*net.TCPAddr).AddrPort()
			say(t, c, tt.msg, tt.wantAnswer)
			c.Close()
			closed := fmt.Sprintf("CLOSED: %s %d\n", client.Addr(), client.Port())
			r.out.waitFor(t, closed)
			if err := r.stop(); err != nil {
				t.Fatalf("run: %v", err)
			}

			out := r.out.String()
			seed := []string{
				"Server listening on " + r.addr.String() + "\n",
				"CONNECTED: " + client.String() + "\n",
				"DATA " + client.String() + ": " + tt.wantData,
				closed,
				"Server closed\n",
			}
			if !inOrder(out, seed...) {
				t.Errorf("the seed's lines are missing or out of order; want %q in:\n%s", seed, out)
			}
			if strings.Contains(out, tt.wantData+"\n") {
				t.Errorf("blank line after the DATA line:\n%s", out)
			}
			// The trace, interleaved: each event before the line it
			// explains.
			trace := []string{"LISTEN", "Server listening", "ACCEPT", "CONNECTED:", "READ", "DATA", "WRITE", "EOF", "CLOSE", "CLOSED:", "listener " + r.addr.String(), "Server closed"}
			if !inOrder(out, trace...) {
				t.Errorf("want trace and seed lines in the order %q in:\n%s", trace, out)
			}
			if got := r.errOut.String(); got != "" {
				t.Errorf("stderr = %q, want nothing", got)
			}
		})
	}
}

// TestManyClientsAtOnce proves that clients are served at the same
// time: all connect first and stay connected, then each talks, last
// first. A server that served one connection to its end before
// accepting the next would never answer the second.
func TestManyClientsAtOnce(t *testing.T) {
	const n = 20
	r := start(t, config{})
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, r.addr)
	}
	r.out.waitUntil(t, fmt.Sprintf("%d CONNECTED lines", n), func(s string) bool {
		return strings.Count(s, "CONNECTED: ") == n
	})
	var wg sync.WaitGroup
	for i := n - 1; i >= 0; i-- {
		wg.Go(func() {
			msg := fmt.Sprintf("client %d", i)
			say(t, conns[i], msg, `You said "`+msg+`"`)
		})
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	r.out.waitUntil(t, fmt.Sprintf("%d CLOSED lines", n), func(s string) bool {
		return strings.Count(s, "CLOSED: ") == n
	})
	out := r.out.String()
	for i := range n {
		client := conns[i].LocalAddr().String()
		if !strings.Contains(out, fmt.Sprintf("DATA %s: client %d\n", client, i)) {
			t.Errorf("no DATA line for client %d (%s)", i, client)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("#%d ", n)) {
		t.Errorf("the trace numbers %d connections: no #%d in\n%s", n, n, out)
	}
}

// TestPortInUse proves the one-line error when another program holds
// the port.
func TestPortInUse(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	addr := other.Addr().String()

	out, errOut := newOutput(), newOutput()
	err = run(context.Background(), config{addr: addr, capture: wire.ModeOff}, out, errOut)
	want := "listen " + addr + ": address already in use (another program has this port: stop it or choose another with -addr)"
	if err == nil || err.Error() != want {
		t.Fatalf("run = %v\nwant   %s", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("errors.Is(%v, EADDRINUSE) = false", err)
	}
	// The trace says it too, with a note on the cause.
	if !strings.Contains(out.String(), "ERROR") || !strings.Contains(out.String(), "EADDRINUSE") {
		t.Errorf("want the trace's ERROR event explaining EADDRINUSE, got:\n%s", out)
	}
	if strings.Contains(out.String(), "Server listening") {
		t.Errorf("says it listens after failing:\n%s", out)
	}
}

// TestJSON proves that with -json stdout holds only JSON lines, one
// event each, and the seed's lines go to stderr.
func TestJSON(t *testing.T) {
	r := start(t, config{json: true})
	c := dial(t, r.addr)
	say(t, c, "I am Chuck Norris!", `You said "I am Chuck Norris!"`)
	c.Close()
	r.errOut.waitFor(t, "CLOSED: ")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	var phases []string
	for i, line := range strings.Split(strings.TrimSuffix(r.out.String(), "\n"), "\n") {
		var e tracer.Event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("stdout line %d is not a JSON event: %v\n%s", i+1, err, line)
		}
		if e.Phase == tracer.PhaseState {
			continue // TestStateAtClose checks them
		}
		if e.Actor != "server" {
			t.Errorf("line %d: actor %q, want server", i+1, e.Actor)
		}
		phases = append(phases, string(e.Phase))
	}
	want := "listen accept read write eof close close"
	if got := strings.Join(phases, " "); got != want {
		t.Errorf("phases = %s\nwant     %s", got, want)
	}
	seed := []string{"Server listening on ", "CONNECTED: ", "DATA ", "CLOSED: ", "Server closed\n"}
	if !inOrder(r.errOut.String(), seed...) {
		t.Errorf("stderr lacks the seed's lines %q:\n%s", seed, r.errOut)
	}
}

// TestShutdown proves that stopping the server (Ctrl-C) closes the
// connections still open, so their clients read EOF, and that run
// returns nil with nothing but closes in the trace.
func TestShutdown(t *testing.T) {
	r := start(t, config{})
	c := dial(t, r.addr)
	r.out.waitFor(t, "CONNECTED: ")
	if err := r.stop(); err != nil {
		t.Fatalf("run = %v, want nil", err)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
		t.Errorf("client read %q, %v; want EOF at once", b, err)
	}
	out := r.out.String()
	if !inOrder(out, "listener "+r.addr.String(), "CLOSE ", "CLOSED: ", "Server closed\n") {
		t.Errorf("want the listener's close, then the connection's, then Server closed:\n%s", out)
	}
	for _, bad := range []string{"ERROR", "use of closed"} {
		if strings.Contains(out, bad) {
			t.Errorf("shutdown traced %q:\n%s", bad, out)
		}
	}
}

// TestShutdownBySignal proves the note a signal leaves in the trace,
// before the closes it causes, in the pretty output and in JSON; a
// plain cancel leaves none (TestShutdown).
func TestShutdownBySignal(t *testing.T) {
	for _, json := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", json), func(t *testing.T) {
			r := start(t, config{json: json})
			c := dial(t, r.addr)
			seed := r.out
			if json {
				seed = r.errOut
			}
			seed.waitFor(t, "CONNECTED: ")
			if err := r.stopWith(&cli.Interrupted{Signal: syscall.SIGTERM}); err != nil {
				t.Fatalf("run = %v, want nil", err)
			}
			if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
				t.Errorf("client read %q, %v; want EOF at once", b, err)
			}
			if !json {
				want := []string{"NOTE       interrupted by SIGTERM: closing\n", "listener ", "CLOSE ", "CLOSED: ", "Server closed\n"}
				if out := r.out.String(); !inOrder(out, want...) {
					t.Errorf("want %q in this order:\n%s", want, out)
				}
				return
			}
			var phases []string
			for _, e := range jsonEvents(t, r.out.String()) {
				if e.Phase == tracer.PhaseState {
					continue
				}
				phases = append(phases, string(e.Phase))
				if e.Phase == tracer.PhaseNote && e.Text != "interrupted by SIGTERM: closing" {
					t.Errorf("note %q", e.Text)
				}
			}
			if got, want := strings.Join(phases, " "), "listen accept note close close"; got != want {
				t.Errorf("phases = %s\nwant     %s", got, want)
			}
		})
	}
}

// TestLab proves -lab: the server says where the lab DNS server
// answers, and a traced dial through it reaches the server by name.
func TestLab(t *testing.T) {
	r := start(t, config{lab: "127.0.0.1:0"})
	if !r.lab.IsValid() {
		t.Fatal("no lab address")
	}
	want := fmt.Sprintf("Lab DNS server answering on udp %s for chuck.norris.test", r.lab)
	try := fmt.Sprintf("try: go run ./client -dns %s -addr chuck.norris.test:%d", r.lab, r.addr.Port())
	if out := r.out.String(); !strings.Contains(out, want) || !strings.Contains(out, try) {
		t.Errorf("want %q and %q in:\n%s", want, try, out)
	}

	var lookedUp []netip.Addr
	d := tracer.Dialer{
		Hooks:     &tracer.Hooks{DNSDone: func(i tracer.DNSDoneInfo) { lookedUp = i.Addrs }},
		DNSServer: r.lab.String(),
	}
	c, err := d.Dial("tcp4", fmt.Sprintf("chuck.norris.test:%d", r.addr.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(lookedUp) != 1 || lookedUp[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("chuck.norris.test looked up as %v, want [127.0.0.1]", lookedUp)
	}
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	say(t, c, "hi", `You said "hi"`)
}

// TestLabPortInUse proves that a lab port in use is one error, and that
// the server does not go on without its lab, nor listen at all.
func TestLabPortInUse(t *testing.T) {
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	out := newOutput()
	err = run(context.Background(), config{addr: "127.0.0.1:0", lab: other.LocalAddr().String(), capture: wire.ModeOff}, out, newOutput())
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("run = %v, want a one-line EADDRINUSE error", err)
	}
	// The lab starts first: the server never listened.
	if strings.Contains(out.String(), "LISTEN") || strings.Contains(out.String(), "Server listening") {
		t.Errorf("the server listened although its lab could not start:\n%s", out)
	}
}

// The server shows the state of a connection's socket at close:
// CLOSE_WAIT in the close's TCP_INFO when the client closed first, and
// then what the kernel does with the socket it let go of: LAST_ACK
// until the client acknowledges the server's FIN, then nothing.
func TestStateAtClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's view of sockets is Linux's")
	}
	for _, capture := range []string{wire.ModeOff, wire.ModeAuto} {
		t.Run("capture="+capture, func(t *testing.T) {
			r := start(t, config{json: true, capture: capture})
			c := dial(t, r.addr)
			say(t, c, "hi", `You said "hi"`)
			c.Close()
			r.errOut.waitFor(t, "CLOSED: ")
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			var closed *tracer.Event
			var after []string
			live := false
			for _, e := range jsonEvents(t, r.out.String()) {
				switch {
				case e.Phase == tracer.PhaseClose && e.Remote.IsValid():
					closed = &e
				case e.Phase == tracer.PhaseState:
					if e.State.Side != "server" {
						t.Errorf("a change of the %s's socket in the server's trace", e.State.Side)
					}
					if closed != nil && e.Conn == closed.Conn {
						after = append(after, e.State.From.String()+"→"+e.State.To.String())
						live = live || !e.State.Asked
					}
				}
			}
			if closed == nil || closed.TCP == nil || closed.TCP.State != kernel.CloseWait {
				t.Fatalf("close: %+v, want TCP_INFO saying CLOSE_WAIT", closed)
			}
			// Asked, LAST_ACK is usually over before the kernel is
			// asked: it lasts microseconds on loopback.
			wants := [][]string{{"CLOSE_WAIT→gone"}, {"CLOSE_WAIT→LAST_ACK", "LAST_ACK→gone"}}
			if live {
				wants = [][]string{{"CLOSE_WAIT→LAST_ACK", "LAST_ACK→CLOSE"}}
			}
			if !slices.ContainsFunc(wants, func(w []string) bool { return slices.Equal(after, w) }) {
				t.Errorf("after the close: %q, want one of %q", after, wants)
			}
		})
	}
}

// withoutStates drops from a program's stderr the line saying that
// tracefs is not mounted, which a machine where the tests run as root
// may print: the states are then found when asked (see wire.States).
func withoutStates(stderr string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(stderr, "\n") {
		if !strings.Contains(line, wire.NoLiveStates) {
			b.WriteString(line)
		}
	}
	return b.String()
}
