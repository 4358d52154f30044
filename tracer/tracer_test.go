package tracer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"tcptour/tracer"
	"tcptour/tracer/lab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// record returns a trace that keeps its events, and a func returning
// them in time order.
func record(t *testing.T) *tracer.Trace {
	t.Helper()
	return tracer.New(tracer.Options{})
}

func phases(ev []tracer.Event) []string {
	var s []string
	for _, e := range ev {
		s = append(s, e.Actor+" "+string(e.Phase))
	}
	return s
}

// pair returns two ends of a loopback TCP connection, the client's
// dialed and the server's accepted through tr's hooks.
func pair(t *testing.T, tr *tracer.Trace) (client, server net.Conn, ln net.Listener) {
	t.Helper()
	ln, err := tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := tracer.Dialer{Hooks: tr.Hooks("client")}
	client, err = d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return client, server, ln
}

func TestLifecycle(t *testing.T) {
	tr := record(t)
	client, server, ln := pair(t, tr)
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "I am Chuck Norris!" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("server read after FIN: %v, want io.EOF", err)
	}
	server.Close()
	client.Close()
	ln.Close()

	ev := tr.Events()
	got := strings.Join(phases(ev), "\n")
	want := strings.Join([]string{
		"server listen", "client dns-skip", "client connect-start", "client connect-done",
		"server accept", "client write", "server read", "client close-write", "server eof",
		"server close", "client close", "server close",
	}, "\n")
	if got != want {
		t.Fatalf("phases:\n%s\nwant:\n%s", got, want)
	}
	// Both ends of the connection have the same id; listener events none.
	for _, e := range ev {
		hasTuple := e.Local.IsValid() && e.Remote.IsValid()
		if hasTuple && e.Conn != 1 {
			t.Errorf("%s %s: conn %d, want 1", e.Actor, e.Phase, e.Conn)
		}
		if e.Note == "" && e.Phase != tracer.PhaseConnectStart {
			t.Errorf("%s %s has no note", e.Actor, e.Phase)
		}
		if e.Seq == 0 || e.Time.IsZero() || e.Elapsed <= 0 {
			t.Errorf("%s %s: seq %d time %v elapsed %v", e.Actor, e.Phase, e.Seq, e.Time, e.Elapsed)
		}
	}
	byPhase := func(actor string, p tracer.Phase) tracer.Event {
		for _, e := range ev {
			if e.Actor == actor && e.Phase == p {
				return e
			}
		}
		t.Fatalf("no %s %s", actor, p)
		return tracer.Event{}
	}
	cd, acc := byPhase("client", tracer.PhaseConnectDone), byPhase("server", tracer.PhaseAccept)
	if cd.Local != acc.Remote || cd.Remote != acc.Local || cd.Proto != "tcp" {
		t.Errorf("five-tuples differ: client %v, server %v", cd.Tuple(), acc.Tuple())
	}
	w := byPhase("client", tracer.PhaseWrite)
	if w.Bytes != 18 || w.Data != `"I am Chuck Norris!"` {
		t.Errorf("write event: %d bytes %s", w.Bytes, w.Data)
	}
	sc := ev[len(ev)-3] // the server's close of the connection
	if sc.Phase != tracer.PhaseClose || !sc.PeerClosed || sc.BytesIn != 18 || sc.BytesOut != 0 || sc.Lifetime <= 0 {
		t.Errorf("server close: %+v", sc)
	}
	if !strings.Contains(sc.Note, "passive close") {
		t.Errorf("server close note: %s", sc.Note)
	}
	cc := ev[len(ev)-2]
	if !strings.Contains(cc.Note, "already sent by CloseWrite") {
		t.Errorf("client close note after CloseWrite: %s", cc.Note)
	}
}

func TestDialThroughLab(t *testing.T) {
	srv, err := lab.Start("127.0.0.1:0", lab.Names)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := record(t)
	ln, err := tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	d := tracer.Dialer{Hooks: tr.Hooks("client"), DNSServer: srv.Addr().String()}

	c, err := d.Dial("tcp4", net.JoinHostPort("chuck.norris.test", itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err = d.Dial("tcp4", net.JoinHostPort("nobody.tcptour.test", itoa(port)))
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("dial of an unknown name: %v, want a not-found *net.DNSError", err)
	}
	if !strings.Contains(err.Error(), srv.Addr().String()) {
		t.Errorf("the error should name the server asked (%s): %v", srv.Addr(), err)
	}

	var dns []tracer.Event
	for _, e := range tr.Events() {
		if e.Phase == tracer.PhaseDNSDone {
			dns = append(dns, e)
		}
	}
	if len(dns) != 2 {
		t.Fatalf("got %d dns-done events, want 2", len(dns))
	}
	wantServer := "udp " + srv.Addr().String()
	if got := dns[0]; len(got.Addrs) != 1 || got.Addrs[0] != netip.MustParseAddr("127.0.0.1") ||
		len(got.DNSServers) != 1 || got.DNSServers[0] != wantServer || got.Err != "" {
		t.Errorf("lookup of chuck.norris.test: %+v", got)
	}
	if got := dns[1]; got.Err == "" || !strings.Contains(got.Note, "NXDOMAIN") {
		t.Errorf("lookup of an unknown name: %+v", got)
	}
}

func TestDialErrors(t *testing.T) {
	// A port nobody listens on: open one, note it, close it.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	tr := record(t)
	d := tracer.Dialer{Hooks: tr.Hooks("client")}
	_, err = d.Dial("tcp4", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want ECONNREFUSED", addr, err)
	}
	ev := tr.Events()
	last := ev[len(ev)-1]
	if last.Phase != tracer.PhaseError || last.Op != "connect" || !strings.Contains(last.Note, "RST") {
		t.Errorf("last event: %+v", last)
	}
	if _, err := d.Dial("tcp4", "no-port"); err == nil {
		t.Error("dial without a port succeeded")
	}
}

func TestListenInUse(t *testing.T) {
	tr := record(t)
	ln, err := tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", ln.Addr().String())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen: %v", err)
	}
	ev := tr.Events()
	if e := ev[len(ev)-1]; e.Phase != tracer.PhaseError || e.Op != "listen" || !strings.Contains(e.Note, "EADDRINUSE") {
		t.Errorf("event: %+v", e)
	}
}

// The wrappers change nothing about how a connection behaves.
func TestWrapConnIsAConn(t *testing.T) {
	tr := record(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		d := tracer.Dialer{Hooks: tr.Hooks("client")}
		c1, err = d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			ln.Close()
			return nil, nil, nil, err
		}
		c2, err = ln.Accept()
		ln.Close()
		if err != nil {
			c1.Close()
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestStepsByTime(t *testing.T) {
	tr := record(t)
	t0 := time.Now()
	tr.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseStep, Time: t0})
	tr.Add(tracer.Event{Actor: "lesson", Phase: tracer.PhaseStep, Time: t0.Add(2 * time.Millisecond)})
	// A hook that runs late, for something that happened in step 1.
	late := tr.Add(tracer.Event{Actor: "server", Phase: tracer.PhaseNote, Time: t0.Add(time.Millisecond)})
	if late.Step != 1 {
		t.Errorf("late event is in step %d, want 1", late.Step)
	}
	ev := tr.Events()
	if ev[1].Actor != "server" {
		t.Errorf("Events is not in time order: %v", phases(ev))
	}
}

func TestPrinters(t *testing.T) {
	var js, plain, colored bytes.Buffer
	tr := tracer.New(tracer.Options{Printers: []tracer.Printer{
		tracer.NewJSON(&js), tracer.NewPretty(&plain, false), tracer.NewPretty(&colored, true),
	}})
	client, server, ln := pair(t, tr)
	io.WriteString(client, "hi\x00there")
	client.Close()
	io.ReadAll(server)
	server.Close()
	ln.Close()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != len(tr.Events()) {
		t.Errorf("%d JSON lines for %d events", len(lines), len(tr.Events()))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		for _, k := range []string{"seq", "time", "elapsed_ns", "actor", "phase", "note"} {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON event lacks %q: %s", k, l)
			}
		}
	}
	if !strings.Contains(js.String(), `"data":"hex 6869007468657265"`) {
		t.Errorf("binary data not shown as hex:\n%s", js.String())
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("pretty output without colour has escape codes")
	}
	if !strings.Contains(colored.String(), "\x1b[") {
		t.Error("pretty output with colour has no escape codes")
	}
	for _, want := range []string{"LISTEN", "CONNECTED", "ACCEPT", "WRITE", "EOF", "CLOSE", "#1"} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("pretty output lacks %q:\n%s", want, plain.String())
		}
	}
}

func TestColorWanted(t *testing.T) {
	var buf bytes.Buffer
	if tracer.ColorWanted(&buf, false) {
		t.Error("colour for a buffer")
	}
	t.Setenv("NO_COLOR", "1")
	if tracer.ColorWanted(&buf, false) {
		t.Error("colour with NO_COLOR")
	}
}

func TestPreview(t *testing.T) {
	long := strings.Repeat("a", 100)
	for _, tc := range []struct{ in, want string }{
		{"I am Chuck Norris!", `"I am Chuck Norris!"`},
		{"line\n", `"line\n"`},
		{"\x00\x01", "hex 0001"},
		{long, `"` + strings.Repeat("a", 64) + `…" (+36 bytes)`},
		{strings.Repeat("\xff", 30), "hex " + strings.Repeat("ff", 24) + "… (+6 bytes)"},
		{"", `""`},
		{strings.Repeat("é", 40), `"` + strings.Repeat("é", 32) + `…" (+16 bytes)`},
	} {
		if got := tracer.Preview([]byte(tc.in)); got != tc.want {
			t.Errorf("Preview(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{128 * time.Microsecond, "0.128 ms"},
		{1500 * time.Millisecond, "1.500 s"},
		{12500 * time.Millisecond, "12.500 s"},
		{2 * time.Hour, "2h0m0s"},
	} {
		if got := tracer.FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// The trace builds each default note where the event is printed or
// read: the JSON and pretty printers (batch printers, which get the
// events as recorded), a plain printer, and Events all give the same
// note, the one the phase calls for.
func TestNotesBuiltWherePrinted(t *testing.T) {
	var js, pretty bytes.Buffer
	var plain []tracer.Event
	tr := tracer.New(tracer.Options{Printers: []tracer.Printer{
		tracer.NewJSON(&js), tracer.NewPretty(&pretty, false),
		tracer.PrinterFunc(func(e tracer.Event) error { plain = append(plain, e); return nil }),
	}})
	ln, err := tracer.Listen(context.Background(), tr.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := tracer.Dialer{Hooks: tr.Hooks("client")}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "hi"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := s.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	recorded := tr.Events()
	var printed []tracer.Event
	dec := json.NewDecoder(&js)
	for dec.More() {
		var e tracer.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		printed = append(printed, e)
	}
	if len(printed) != len(recorded) || len(plain) != len(recorded) {
		t.Fatalf("%d events printed as JSON, %d plain, %d recorded", len(printed), len(plain), len(recorded))
	}
	wants := map[tracer.Phase]string{
		tracer.PhaseConnectStart: "connect(2): the client's kernel sends a SYN to ",
		tracer.PhaseConnectDone:  "The three-way handshake (SYN, SYN-ACK, ACK) is done",
		tracer.PhaseAccept:       "Accept took connection #1 from ",
		tracer.PhaseWrite:        "Write hands 2 bytes to the kernel's send buffer",
		tracer.PhaseRead:         "Read copied 2 bytes out of the kernel's receive buffer",
		tracer.PhaseClose:        "The connection read ",
	}
	for i, e := range recorded {
		if printed[i].Note != e.Note || plain[i].Note != e.Note {
			t.Errorf("%s %s: note\n JSON  %q\n plain %q\n read  %q", e.Actor, e.Phase, printed[i].Note, plain[i].Note, e.Note)
		}
		if w, ok := wants[e.Phase]; ok && !strings.Contains(e.Note, w) {
			t.Errorf("%s %s: note %q, want %q in it", e.Actor, e.Phase, e.Note, w)
		}
		if e.Note != "" && !strings.Contains(strings.Join(strings.Fields(pretty.String()), " "), e.Note) {
			t.Errorf("%s %s: the pretty output lacks the note %q", e.Actor, e.Phase, e.Note)
		}
	}
}
