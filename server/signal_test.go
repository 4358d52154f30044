package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// TestSignal proves that Ctrl-C (SIGINT) or SIGTERM, whatever the
// server is doing, stops it promptly with the shell's status for the
// signal (130, 143) and one line on stderr saying so; that the trace
// notes the interruption before the closes it causes and is printed to
// its end; that with -pcap the file is complete, for capture.ReadFile
// and tshark; and that nothing is left listening, TCP or the lab's UDP.
func TestSignal(t *testing.T) {
	bin := serverBinary(t)
	type moment int
	const (
		listening  moment = iota // no client
		connected                // a client connected, silent
		midMessage               // a client sent half a message and waits
		flooding                 // a client sends without reading: the server's Write waits
	)
	tests := []struct {
		name    string
		sig     syscall.Signal
		args    []string
		moment  moment
		capture bool // -capture=on -pcap: skipped where not permitted
	}{
		{name: "SIGINT, listening", sig: syscall.SIGINT, moment: listening},
		{name: "SIGTERM, a client connected", sig: syscall.SIGTERM, moment: connected},
		{name: "SIGINT, mid-message", sig: syscall.SIGINT, moment: midMessage},
		{name: "SIGINT, writing to a client that does not read", sig: syscall.SIGINT, moment: flooding},
		{name: "SIGTERM, writing to a client that does not read, -json", sig: syscall.SIGTERM, args: []string{"-json"}, moment: flooding},
		{name: "SIGINT with -pcap and -lab", sig: syscall.SIGINT, args: []string{"-lab", "127.0.0.1:0"}, moment: midMessage, capture: true},
		{name: "SIGTERM with -pcap, -json", sig: syscall.SIGTERM, args: []string{"-json"}, moment: connected, capture: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-addr", "127.0.0.1:0"}, tt.args...)
			var pcap string
			if tt.capture {
				captureOrSkip(t)
				pcap = t.TempDir() + "/s.pcapng"
				args = append(args, "-capture=on", "-pcap", pcap)
			} else {
				args = append(args, "-capture=off")
			}
			json := strings.Contains(strings.Join(args, " "), "-json")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			out, errOut := newOutput(), newOutput()
			cmd.Stdout, cmd.Stderr = out, errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			seed := out // where the seed's lines go
			if json {
				seed = errOut
			}
			addr := waitMatch(t, seed, `Server listening on (\S+)\n`)
			var lab string
			if strings.Contains(strings.Join(args, " "), "-lab") {
				lab = waitMatch(t, seed, `Lab DNS server answering on udp (\S+) for`)
			}

			// The moment of the signal.
			var client sync.WaitGroup
			if tt.moment != listening {
				c := dial(t, netip.MustParseAddrPort(addr))
				seed.waitFor(t, "CONNECTED: "+c.LocalAddr().String())
				switch tt.moment {
				case midMessage:
					if _, err := io.WriteString(c, "I am Chuck"); err != nil {
						t.Fatal(err)
					}
					seed.waitFor(t, "DATA "+c.LocalAddr().String()+": I am Chuck\n")
				case flooding:
					msg := text(64 << 20)
					client.Go(func() {
						// NOTE: ignoring the error: the server stops
						// while this writes, and that is the point.
						_, _ = c.Write(msg)
					})
					seed.waitFor(t, "DATA "+c.LocalAddr().String()+": ")
				}
			}

			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			err := <-exited
			took := time.Since(signalled)
			client.Wait()
			if took > 5*time.Second {
				t.Errorf("the server took %s to exit after %v", took, tt.sig)
			}
			var exit *exec.ExitError
			if want := 128 + int(tt.sig); !errors.As(err, &exit) || exit.ExitCode() != want {
				t.Errorf("after %v: %v, want exit status %d\n%s%s", tt.sig, err, want, out, errOut)
			}
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT (Ctrl-C)", syscall.SIGTERM: "SIGTERM"}[tt.sig]
			if want := "server: interrupted by " + name + "\n"; !strings.HasSuffix(errOut.String(), want) ||
				!json && withoutStates(errOut.String()) != want {
				t.Errorf("stderr = %q, want it to end %q", errOut.String(), want)
			}

			// The trace notes the interruption, then the closes.
			note := "interrupted by " + name + ": closing"
			if json {
				noteAt, listenerAt, connAt := -1, -1, -1
				for i, e := range jsonEvents(t, out.String()) {
					switch {
					case e.Phase == tracer.PhaseNote && e.Text == note:
						noteAt = i
					case e.Phase == tracer.PhaseClose && !e.Remote.IsValid():
						listenerAt = i
					case e.Phase == tracer.PhaseClose:
						connAt = i
					}
				}
				if noteAt < 0 || listenerAt < noteAt || tt.moment != listening && connAt < noteAt {
					t.Errorf("want the note %q (event %d), then the listener's close (%d) and the connection's (%d):\n%s",
						note, noteAt, listenerAt, connAt, out)
				}
				if !strings.Contains(errOut.String(), "Server closed\n") {
					t.Errorf("no Server closed line:\n%s", errOut)
				}
			} else {
				want := []string{"NOTE       " + note + "\n", "listener " + addr, "Server closed\n"}
				if tt.moment != listening {
					want = []string{"NOTE       " + note + "\n", "listener " + addr, "CLOSE ", "CLOSED: ", "Server closed\n"}
				}
				if !inOrder(out.String(), want...) {
					t.Errorf("want %q in this order:\n%s", want, out)
				}
			}
			for _, bad := range []string{"panic", "goroutine ", "use of closed"} {
				if strings.Contains(out.String()+errOut.String(), bad) {
					t.Errorf("%q in the output:\n%s%s", bad, out, errOut)
				}
			}

			// Nothing is left listening.
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Errorf("something still listens on %s", addr)
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial %s after exit: %v, want connection refused", addr, err)
			}
			if lab != "" {
				pc, err := net.ListenPacket("udp", lab)
				if err != nil {
					t.Errorf("the lab DNS server's port %s is still taken: %v", lab, err)
				} else {
					pc.Close()
				}
			}

			if pcap == "" {
				return
			}
			if json {
				shown := 0
				for _, e := range jsonEvents(t, out.String()) {
					if e.Phase == tracer.PhasePacket {
						shown++
					}
				}
				saved, err := capture.ReadFile(pcap)
				if err != nil {
					t.Fatalf("the pcap file: %v", err)
				}
				if len(saved) != shown || shown < 3 {
					t.Errorf("the file holds %d packets, the trace showed %d", len(saved), shown)
				}
			} else {
				checkSaved(t, out.String(), pcap)
			}
			checkTshark(t, pcap)
		})
	}
}

// waitMatch waits until o matches the regular expression re and
// returns its first group.
func waitMatch(t *testing.T, o *output, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	o.waitUntil(t, re, rx.MatchString)
	return rx.FindStringSubmatch(o.String())[1]
}

// checkTshark checks, where tshark is installed, that it reads the
// pcap file to its end, as many packets as capture.ReadFile.
func checkTshark(t *testing.T, pcap string) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Logf("not checked with tshark: %v", err)
		return
	}
	saved, err := capture.ReadFile(pcap)
	if err != nil {
		t.Fatalf("the pcap file: %v", err)
	}
	var stderr strings.Builder
	cmd := exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "frame.number")
	cmd.Stderr = &stderr
	frames, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", pcap, err, &stderr)
	}
	if n := strings.Count(string(frames), "\n"); n != len(saved) {
		t.Errorf("tshark reads %d packets, capture.ReadFile %d", n, len(saved))
	}
	if strings.Contains(stderr.String(), "cut short") || strings.Contains(stderr.String(), "appears to be damaged") {
		t.Errorf("tshark: %s", &stderr)
	}
}
