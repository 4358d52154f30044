package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
	"tcptour/tracer/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echo starts a server in-process that answers each connection with
// answer(what it read) and then waits for the client to close. A nil
// answer func means: say nothing, wait for the close; an answer of nil
// means: close at once. It returns the port;
// the test's cleanup stops the server and waits for it. Each message
// read is sent on heard, if not nil.
func echo(t *testing.T, answer func(msg []byte) []byte, heard chan<- string) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 1024)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if heard != nil {
					heard <- string(buf[:n])
				}
				if answer != nil {
					reply := answer(buf[:n])
					if reply == nil {
						return // close without a word
					}
					if _, err := c.Write(reply); err != nil {
						return
					}
				}
				// NOTE: ignoring what comes: wait for the client's FIN.
				_, _ = io.Copy(io.Discard, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// youSaid answers as the seed's server does.
func youSaid(msg []byte) []byte { return []byte(`You said "` + string(msg) + `"`) }

// startLab starts the lab DNS server for the test.
func startLab(t *testing.T) netip.AddrPort {
	t.Helper()
	srv, err := lab.Start("127.0.0.1:0", lab.Names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr()
}

// events decodes the JSON lines of the trace, failing the test on any
// line that is not one event.
func events(t *testing.T, jsonLines string) []tracer.Event {
	t.Helper()
	var ev []tracer.Event
	for i, line := range strings.Split(strings.TrimSuffix(jsonLines, "\n"), "\n") {
		var e tracer.Event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("stdout line %d is not a JSON event: %v\n%s", i+1, err, line)
		}
		ev = append(ev, e)
	}
	return ev
}

// phases returns the phases of ev's client events, in order: the
// kernel's changes of state, which come when the kernel says, are left
// out (TestStateAtClose checks them).
func phases(ev []tracer.Event) []string {
	var p []string
	for _, e := range ev {
		if e.Phase != tracer.PhaseState {
			p = append(p, string(e.Phase))
		}
	}
	return p
}

// TestRun proves the seed's client with each way of naming the server:
// the seed's lines, and in the JSON trace the lookup (or its absence),
// the connect, the data and the close.
func TestRun(t *testing.T) {
	port := echo(t, youSaid, nil)
	labAddr := startLab(t)
	loopback := []netip.Addr{netip.MustParseAddr("127.0.0.1")}

	tests := []struct {
		name string
		host string
		dns  string
		// The trace's first events, up to the connect.
		wantPhases []string
		check      func(t *testing.T, lookup tracer.Event)
	}{
		{
			name: "IP literal: no lookup", host: "127.0.0.1",
			wantPhases: []string{"dns-skip", "connect-start", "connect-done"},
		},
		{
			name: "localhost: /etc/hosts answers", host: "localhost",
			wantPhases: []string{"dns-start", "dns-done", "connect-start"},
			check: func(t *testing.T, e tracer.Event) {
				if len(e.DNSServers) > 0 {
					t.Errorf("localhost: DNS servers %q asked, want none (the hosts file answers)", e.DNSServers)
				}
				if !strings.Contains(e.Note, "nothing went on the wire") {
					t.Errorf("localhost: note %q does not say nothing went on the wire", e.Note)
				}
			},
		},
		{
			name: "-dns: the lab DNS server answers", host: "chuck.norris.test", dns: labAddr.String(),
			wantPhases: []string{"dns-start", "dns-done", "connect-start", "connect-done"},
			check: func(t *testing.T, e tracer.Event) {
				if !slices.Equal(e.Addrs, loopback) {
					t.Errorf("chuck.norris.test → %v, want %v", e.Addrs, loopback)
				}
				if want := []string{"udp " + labAddr.String()}; !slices.Equal(e.DNSServers, want) {
					t.Errorf("DNS servers asked: %q, want %q", e.DNSServers, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("%s:%d", tt.host, port)
			var stdout, stderr strings.Builder
			// Without capture: the trace is the client's events alone.
			cfg := config{addr: addr, msg: "I am Chuck Norris!", dns: tt.dns, json: true, timeout: 10 * time.Second, capture: wire.ModeOff}
			if err := run(context.Background(), cfg, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v", err)
			}
			wantSeed := fmt.Sprintf("CONNECTED TO: %s\nDATA: You said \"I am Chuck Norris!\"\nConnection closed\n", addr)
			if stderr.String() != wantSeed {
				t.Errorf("stderr:\n%s\nwant:\n%s", &stderr, wantSeed)
			}

			ev := events(t, stdout.String())
			got := phases(ev)
			if len(got) < len(tt.wantPhases) || !slices.Equal(got[:len(tt.wantPhases)], tt.wantPhases) {
				t.Errorf("phases %q, want them to start %q", got, tt.wantPhases)
			}
			// A name with an IPv6 address as well may need a second
			// connect; the conversation ends the same either way.
			if want := []string{"connect-done", "write", "read", "close"}; len(got) < 4 || !slices.Equal(got[len(got)-4:], want) {
				t.Errorf("phases %q, want them to end %q", got, want)
			}
			for _, e := range ev {
				if e.Actor != "client" && e.Phase != tracer.PhaseState {
					t.Errorf("event %d: actor %q, want client", e.Seq, e.Actor)
				}
				if e.Phase == tracer.PhaseWrite && e.Data != `"I am Chuck Norris!"` {
					t.Errorf("write: data %s", e.Data)
				}
			}
			if tt.check != nil {
				tt.check(t, ev[slices.IndexFunc(ev, func(e tracer.Event) bool { return e.Phase == tracer.PhaseDNSDone })])
			}
		})
	}
}

// TestPretty proves the default output: the trace, with the seed's
// lines each after the event it follows, all on stdout.
func TestPretty(t *testing.T) {
	port := echo(t, youSaid, nil)
	var stdout, stderr strings.Builder
	cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", port), msg: "hi", timeout: 10 * time.Second, capture: wire.ModeOff}
	if err := run(context.Background(), cfg, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := []string{"NO DNS", "CONNECT", "CONNECTED ", "CONNECTED TO: " + cfg.addr + "\n",
		"WRITE", `2 bytes "hi"`, "READ", "DATA: You said \"hi\"\n", "CLOSE", "Connection closed\n"}
	if !inOrder(stdout.String(), want...) {
		t.Errorf("want %q in this order in:\n%s", want, &stdout)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
	if strings.Contains(stdout.String(), "\x1b[") {
		t.Errorf("colour on a strings.Builder:\n%q", &stdout)
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

// freePort returns a loopback TCP port nothing listens on.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// TestErrors proves the one-line error for each way talking can fail,
// and the cases where Node's client does not fail.
func TestErrors(t *testing.T) {
	labAddr := startLab(t)
	refused := freePort(t)
	answering := echo(t, youSaid, nil)
	silent := echo(t, nil, nil)
	closing := echo(t, func([]byte) []byte { return nil }, nil) // reads, then closes without a word
	// A UDP port nobody answers on: the kernel says "port unreachable".
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noDNS := pc.LocalAddr().String()
	pc.Close()

	tests := []struct {
		name    string
		cfg     config
		want    string // the error; "" for none
		wantIs  error
		wantOut string // the seed's lines
	}{
		{
			name:    "refused",
			cfg:     config{addr: fmt.Sprintf("127.0.0.1:%d", refused)},
			want:    fmt.Sprintf("connect 127.0.0.1:%d: connection refused (is the server running? go run ./server)", refused),
			wantIs:  syscall.ECONNREFUSED,
			wantOut: "",
		},
		{
			name: "no such host",
			cfg:  config{addr: "nosuch.test:6969", dns: labAddr.String()},
			want: "lookup nosuch.test: no such host",
		},
		{
			name: "no DNS server there",
			cfg:  config{addr: "nosuch.test:6969", dns: noDNS},
			want: fmt.Sprintf("lookup nosuch.test: no DNS server at %s (connection refused): start one with go run ./server -lab %s", noDNS, noDNS),
		},
		{
			// The deadline has passed before connect starts: the
			// timeout path without waiting for one.
			name:   "connect timeout",
			cfg:    config{addr: fmt.Sprintf("127.0.0.1:%d", answering), timeout: time.Nanosecond},
			want:   fmt.Sprintf("connect 127.0.0.1:%d: timed out after 1ns (nothing answered the SYN: is the address right? a firewall may drop it)", answering),
			wantIs: context.DeadlineExceeded,
		},
		{
			name:    "no answer",
			cfg:     config{addr: fmt.Sprintf("127.0.0.1:%d", silent), timeout: 100 * time.Millisecond},
			want:    fmt.Sprintf("no answer from 127.0.0.1:%d within 100ms (is it the seed's server? it answers at once)", silent),
			wantOut: fmt.Sprintf("CONNECTED TO: 127.0.0.1:%d\nConnection closed\n", silent),
		},
		{
			// Node's client prints no DATA and "Connection closed", and
			// that is no error.
			name:    "closed without an answer",
			cfg:     config{addr: fmt.Sprintf("127.0.0.1:%d", closing)},
			wantOut: fmt.Sprintf("CONNECTED TO: 127.0.0.1:%d\nConnection closed\n", closing),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.msg, cfg.json, cfg.capture = "I am Chuck Norris!", true, wire.ModeOff
			if cfg.timeout == 0 {
				cfg.timeout = 10 * time.Second
			}
			var stdout, stderr strings.Builder
			err := run(context.Background(), cfg, &stdout, &stderr)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("run: %v, want no error", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("run = %v\nwant   %s", err, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if stderr.String() != tt.wantOut {
				t.Errorf("the seed's lines:\n%q\nwant:\n%q", &stderr, tt.wantOut)
			}
			// The trace says it too, and is still only JSON.
			ev := events(t, stdout.String())
			if err != nil && !slices.ContainsFunc(ev, func(e tracer.Event) bool { return e.Err != "" }) {
				t.Errorf("no event in the trace has the error: %q", phases(ev))
			}
		})
	}
}

// TestInterrupt proves that Ctrl-C while the client waits for the
// answer closes the connection and returns errInterrupted, with no
// error from the Read it cut short in the trace; and, with -pcap, that
// the capture is stopped so that the file ends cleanly and holds every
// packet the trace showed.
func TestInterrupt(t *testing.T) {
	tests := []struct {
		name    string
		capture string
	}{
		{"without capture", wire.ModeOff},
		{"with -pcap", wire.ModeOn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pcap string
			if tt.capture == wire.ModeOn {
				captureOrSkip(t)
				pcap = filepath.Join(t.TempDir(), "c.pcapng")
			}
			heard := make(chan string, 1)
			port := echo(t, nil, heard)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-heard // the message arrived: the client now waits for the answer
				cancel()
			}()
			var stdout, stderr strings.Builder
			cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", port), msg: "hi", json: true, timeout: time.Minute, capture: tt.capture, pcap: pcap}
			if err := run(ctx, cfg, &stdout, &stderr); !errors.Is(err, errInterrupted) {
				t.Fatalf("run = %v, want %v", err, errInterrupted)
			}
			// By time: the close (from the Ctrl-C goroutine) may be
			// added before the write's event, but it started after the
			// write did.
			ev := events(t, stdout.String())
			var got []string
			packets := 0
			for _, e := range ev {
				switch e.Phase {
				case tracer.PhasePacket:
					packets++
				case tracer.PhaseState:
				default:
					got = append(got, string(e.Phase))
				}
			}
			if want := []string{"dns-skip", "connect-start", "connect-done", "write", "close"}; !slices.Equal(got, want) {
				t.Errorf("phases %q, want %q", got, want)
			}
			if !strings.HasSuffix(stderr.String(), "Connection closed\n") {
				t.Errorf("stderr = %q, want it to end with Connection closed", stderr.String())
			}
			if pcap == "" {
				return
			}
			saved, err := capture.ReadFile(pcap)
			if err != nil {
				t.Fatalf("the pcap file: %v", err)
			}
			// The handshake, the message, the FIN at least.
			if len(saved) != packets || packets < 5 {
				t.Errorf("the pcap file holds %d packets, the trace showed %d", len(saved), packets)
			}
		})
	}
}

// The client shows the state of its socket at close: ESTABLISHED in
// the close's TCP_INFO (it closes first), then what the kernel does
// with the socket it let go of. With capture on (where permitted), the
// kernel reports each change; without, the socket is asked about.
func TestStateAtClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's view of sockets is Linux's")
	}
	for _, capture := range []string{wire.ModeOff, wire.ModeAuto} {
		t.Run("capture="+capture, func(t *testing.T) {
			port := echo(t, youSaid, nil)
			var stdout, stderr strings.Builder
			cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", port), msg: "hi", json: true, timeout: 10 * time.Second, capture: capture}
			if err := run(context.Background(), cfg, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v", err)
			}
			var closed *tracer.Event
			var after []string // the changes of the client's socket after its close
			live := false
			for _, e := range events(t, stdout.String()) {
				switch {
				case e.Phase == tracer.PhaseClose:
					closed = &e
				case e.Phase == tracer.PhaseState && closed != nil:
					if e.State.Side != "client" || e.Conn != 1 {
						t.Errorf("a change of %s's socket, conn %d: only the client's own", e.State.Side, e.Conn)
					}
					after = append(after, e.State.From.String()+"→"+e.State.To.String())
					live = live || !e.State.Asked
				}
			}
			if closed == nil || closed.TCP == nil || closed.TCP.State != kernel.Established {
				t.Fatalf("close: %+v, want TCP_INFO saying ESTABLISHED", closed)
			}
			if len(after) == 0 || !strings.HasPrefix(after[0], "ESTABLISHED→") {
				t.Fatalf("after the close: %q, want the kernel's changes from ESTABLISHED", after)
			}
			if live {
				// The kernel's own report: the FIN first, always.
				if after[0] != "ESTABLISHED→FIN_WAIT_1" {
					t.Errorf("after the close: %q, want FIN_WAIT_1 first", after)
				}
				return
			}
			// Asked at each print: whichever states the close had
			// reached by then, each from the last one seen.
			last := "ESTABLISHED"
			for _, c := range after {
				from, to, _ := strings.Cut(c, "→")
				if from != last || !slices.Contains([]string{"FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"}, to) {
					t.Errorf("after the close: %q, want changes from ESTABLISHED through FIN_WAIT_1, FIN_WAIT_2 or TIME_WAIT", after)
					break
				}
				last = to
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
