package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/cli"
)

// TestSignal proves that Ctrl-C (SIGINT) or SIGTERM, whether the client
// is looking up the name or waiting for the answer, stops it promptly
// with the shell's status for the signal (130, 143) and one line on
// stderr saying so; that the trace notes the interruption before the
// close it causes; and that with -pcap the file is complete, for
// capture.ReadFile and tshark.
func TestSignal(t *testing.T) {
	bin := clientBinary(t)
	tests := []struct {
		name    string
		sig     syscall.Signal
		lookup  bool // interrupt the DNS lookup, not the wait for the answer
		json    bool
		capture bool // -capture=on -pcap: skipped where not permitted
	}{
		{name: "SIGINT, waiting for the answer", sig: syscall.SIGINT},
		{name: "SIGTERM, waiting for the answer, -json", sig: syscall.SIGTERM, json: true},
		{name: "SIGTERM, looking up the name", sig: syscall.SIGTERM, lookup: true},
		{name: "SIGINT with -pcap", sig: syscall.SIGINT, capture: true},
		{name: "SIGTERM with -pcap, -json", sig: syscall.SIGTERM, json: true, capture: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-timeout", "1m"}
			if tt.json {
				args = append(args, "-json")
			}
			var pcap string
			if tt.capture {
				captureOrSkip(t)
				pcap = filepath.Join(t.TempDir(), "c.pcapng")
				args = append(args, "-capture=on", "-pcap", pcap)
			} else {
				args = append(args, "-capture=off")
			}
			// The client is where it should be when the server has
			// heard its message, or the DNS server its query.
			heard := make(chan string, 1)
			if tt.lookup {
				dns, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { dns.Close() })
				go func() {
					buf := make([]byte, 512)
					if _, _, err := dns.ReadFrom(buf); err == nil {
						heard <- "a query" // and no answer, ever
					}
				}()
				args = append(args, "-dns", dns.LocalAddr().String(), "-addr", "chuck.norris.test:6969")
			} else {
				port := echo(t, nil, heard)
				args = append(args, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-heard:
			case err := <-exited:
				t.Fatalf("the client exited first: %v\n%s%s", err, &stdout, &stderr)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			err := <-exited
			if took := time.Since(signalled); took > 5*time.Second {
				t.Errorf("the client took %s to exit after %v", took, tt.sig)
			}
			var exit *exec.ExitError
			if want := 128 + int(tt.sig); !errors.As(err, &exit) || exit.ExitCode() != want {
				t.Errorf("after %v: %v, want exit status %d\n%s%s", tt.sig, err, want, &stdout, &stderr)
			}
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT (Ctrl-C)", syscall.SIGTERM: "SIGTERM"}[tt.sig]
			if want := "client: interrupted by " + name + "\n"; !strings.HasSuffix(stderr.String(), want) ||
				!tt.json && withoutStates(stderr.String()) != want {
				t.Errorf("stderr = %q, want it to end %q", stderr.String(), want)
			}

			// The trace notes the interruption before the close.
			note := "interrupted by " + name + ": closing"
			if tt.json {
				ev := events(t, stdout.String())
				noteAt, closeAt := -1, -1
				for i, e := range ev {
					if e.Phase == tracer.PhaseNote && e.Text == note {
						noteAt = i
					}
					if e.Phase == tracer.PhaseClose {
						closeAt = i
					}
				}
				if noteAt < 0 || closeAt < noteAt {
					t.Errorf("want the note %q (event %d) before the close (%d):\n%s", note, noteAt, closeAt, &stdout)
				}
			} else {
				want := []string{"NOTE       " + note + "\n", "CLOSE ", "Connection closed\n"}
				if tt.lookup {
					want = []string{"DNS ?", "NOTE       " + note + "\n"}
				}
				if !inOrder(stdout.String(), want...) {
					t.Errorf("want %q in this order:\n%s", want, &stdout)
				}
			}
			for _, bad := range []string{"panic", "goroutine ", "use of closed"} {
				if strings.Contains(stdout.String()+stderr.String(), bad) {
					t.Errorf("%q in the output:\n%s%s", bad, &stdout, &stderr)
				}
			}

			if pcap == "" {
				return
			}
			saved, err := capture.ReadFile(pcap)
			if err != nil {
				t.Fatalf("the pcap file: %v", err)
			}
			shown := 0
			if tt.json {
				for _, e := range events(t, stdout.String()) {
					if e.Phase == tracer.PhasePacket {
						shown++
					}
				}
			} else if _, err := fmt.Sscanf(stdout.String()[strings.Index(stdout.String(), "\nCaptured ")+1:], "Captured %d packets", &shown); err != nil {
				t.Fatalf("no Captured line: %v\n%s", err, &stdout)
			}
			// The handshake, the message and its ACK, the FIN at least.
			if len(saved) != shown || shown < 5 {
				t.Errorf("the pcap file holds %d packets, the trace showed %d", len(saved), shown)
			}
			checkTshark(t, pcap, len(saved))
		})
	}
}

// checkTshark checks, where tshark is installed, that it reads the
// pcap file to its end: packets packets, and no complaint.
func checkTshark(t *testing.T, pcap string, packets int) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Logf("not checked with tshark: %v", err)
		return
	}
	var stderr strings.Builder
	cmd := exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "frame.number")
	cmd.Stderr = &stderr
	frames, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", pcap, err, &stderr)
	}
	if n := strings.Count(string(frames), "\n"); n != packets {
		t.Errorf("tshark reads %d packets, capture.ReadFile %d", n, packets)
	}
	if strings.Contains(stderr.String(), "cut short") || strings.Contains(stderr.String(), "damaged") {
		t.Errorf("tshark: %s", &stderr)
	}
}

// TestInterruptNote proves, in-process, the note a signal leaves in
// the trace before the close it causes; a plain cancel leaves none
// (TestInterrupt).
func TestInterruptNote(t *testing.T) {
	heard := make(chan string, 1)
	port := echo(t, nil, heard)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		<-heard
		cancel(&cli.Interrupted{Signal: syscall.SIGINT})
	}()
	var stdout, stderr strings.Builder
	cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", port), msg: "hi", json: true, timeout: time.Minute, capture: "off"}
	if err := run(ctx, cfg, &stdout, &stderr); !errors.Is(err, errInterrupted) {
		t.Fatalf("run = %v, want %v", err, errInterrupted)
	}
	got := strings.Join(phases(events(t, stdout.String())), " ")
	if want := "dns-skip connect-start connect-done write note close"; got != want {
		t.Errorf("phases %s\nwant   %s", got, want)
	}
	if !strings.Contains(stdout.String(), `"text":"interrupted by SIGINT (Ctrl-C): closing"`) {
		t.Errorf("no note in:\n%s", &stdout)
	}
}

// TestSaid proves the DATA line's form of each answer: the seed's, for
// short text; the trace's preview otherwise.
func TestSaid(t *testing.T) {
	long := strings.Repeat("a", cli.MaxSaid+1)
	tests := []struct{ data, want string }{
		{`You said "hi"`, "You said \"hi\"\n"},
		{"You said \"hello\n\"", "You said \"hello\n\"\n"},
		{"You said \"hello\n", "You said \"hello\n"},
		{"You said \"\x00\xff\"", "hex 596f7520736169642022" + "00ff22\n"},
		{"\x1b[2J", "hex 1b5b324a\n"}, // a terminal escape, not obeyed
		{long, `"` + strings.Repeat("a", 64) + `…" (+961 bytes)` + "\n"},
	}
	for _, tt := range tests {
		if got := cli.Said([]byte(tt.data)); got != tt.want {
			t.Errorf("cli.Said(%.30q) = %.100q, want %.100q", tt.data, got, tt.want)
		}
	}
}
