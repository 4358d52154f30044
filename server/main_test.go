package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tcptour/tracer/capture"
)

func TestParseFlags(t *testing.T) {
	// defaults fills in the flags a row leaves at their default.
	defaults := func(c config) config {
		if c.addr == "" {
			c.addr = "127.0.0.1:6969"
		}
		if c.capture == "" {
			c.capture = "auto"
		}
		if c.idleTimeout == 0 {
			c.idleTimeout = 5 * time.Minute
		}
		if c.idleTimeout < 0 {
			c.idleTimeout = 0 // the row says: never
		}
		if c.maxMessage == 0 {
			c.maxMessage = 64 << 10
		}
		return c
	}
	tests := []struct {
		args []string
		want config
	}{
		{nil, config{}},
		{[]string{"-addr", "127.0.0.1:7070", "-json", "-no-color", "-lab", "127.0.0.1:10053"},
			config{addr: "127.0.0.1:7070", json: true, noColor: true, lab: "127.0.0.1:10053"}},
		{[]string{"--addr=:0"}, config{addr: ":0"}}, // every interface, any port
		{[]string{"-addr", "[::1]:6969"}, config{addr: "[::1]:6969"}},
		{[]string{"-capture", "on", "-pcap", "s.pcapng", "-mermaid", "s.md"},
			config{capture: "on", pcap: "s.pcapng", mermaid: "s.md"}},
		{[]string{"-capture=off"}, config{capture: "off"}},
		{[]string{"-idle-timeout", "30s", "-max-message", "1000"}, config{idleTimeout: 30 * time.Second, maxMessage: 1000}},
		{[]string{"-idle-timeout", "0"}, config{idleTimeout: -1}}, // never
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ")
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			got, err := parseFlags(tt.args, &stderr)
			if err != nil {
				t.Fatalf("parseFlags: %v\n%s", err, stderr.String())
			}
			want := defaults(tt.want)
			if got.addr != want.addr || got.json != want.json || got.noColor != want.noColor || got.lab != want.lab ||
				got.capture != want.capture || got.pcap != want.pcap || got.mermaid != want.mermaid ||
				got.idleTimeout != want.idleTimeout || got.maxMessage != want.maxMessage {
				t.Errorf("config = %+v, want %+v", got, want)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

// TestParseFlagsErrors proves that a bad flag gets the usage, and a bad
// address one line that says what is wrong.
func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args      []string
		want      string // stderr is exactly this line
		wantUsage string // or, with the usage, starts with this
	}{
		{args: []string{"-addr", "127.0.0.1"}, want: `server: -addr "127.0.0.1": missing port in address (want host:port, e.g. 127.0.0.1:6969)`},
		{args: []string{"-addr", "127.0.0.1:70000"}, want: `server: -addr "127.0.0.1:70000": port 70000 is out of range (0 to 65535)`},
		{args: []string{"-addr", "127.0.0.1:-1"}, want: `server: -addr "127.0.0.1:-1": port -1 is out of range (0 to 65535)`},
		{args: []string{"-addr", "localhost:http"}, want: `server: -addr "localhost:http": port "http" is not a number`},
		{args: []string{"-lab", "10053"}, want: `server: -lab "10053": missing port in address (want host:port, e.g. 127.0.0.1:6969)`},
		{args: []string{"-capture", "bogus"}, want: `server: -capture "bogus": want auto, on or off`},
		{args: []string{"-capture=off", "-pcap", "s.pcapng"}, want: `server: -pcap needs a capture: drop -capture=off`},
		{args: []string{"-pcap", "s.out", "-mermaid", "s.out"}, want: `server: -pcap and -mermaid both name s.out: give each its own file`},
		{args: []string{"-pcap", "s.out", "-mermaid", "./s.out"}, want: `server: -pcap and -mermaid both name s.out: give each its own file`},
		{args: []string{"-idle-timeout", "-1s"}, want: `server: -idle-timeout -1s: want a positive duration, e.g. 5m, or 0 for never`},
		{args: []string{"-max-message", "0"}, want: `server: -max-message 0: want 1 to 16777216 bytes (16 MiB)`},
		{args: []string{"-max-message", "16777217"}, want: `server: -max-message 16777217: want 1 to 16777216 bytes (16 MiB)`},
		{args: []string{"-bogus"}, wantUsage: "flag provided but not defined: -bogus\nusage: go run ./server [flags]\n"},
		{args: []string{"-idle-timeout", "5"}, wantUsage: "invalid value \"5\" for flag -idle-timeout: parse error\nusage: go run ./server [flags]\n"},
		{args: []string{"-max-message", "64KiB"}, wantUsage: "invalid value \"64KiB\" for flag -max-message: parse error\nusage: go run ./server [flags]\n"},
		{args: []string{"-addr"}, wantUsage: "flag needs an argument: -addr\nusage: go run ./server [flags]\n"},
		{args: []string{"extra"}, wantUsage: "unexpected argument \"extra\"\nusage: go run ./server [flags]\n"},
		{args: []string{"-h"}, wantUsage: "usage: go run ./server [flags]\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			_, err := parseFlags(tt.args, &stderr)
			if err == nil {
				t.Fatal("parseFlags: no error")
			}
			got := stderr.String()
			if tt.wantUsage != "" {
				if !strings.HasPrefix(got, tt.wantUsage) || !strings.Contains(got, "-lab host:port") {
					t.Errorf("stderr = %q, want %q and the flags", got, tt.wantUsage)
				}
				if tt.args[0] == "-h" && !errors.Is(err, flag.ErrHelp) {
					t.Errorf("-h: err = %v, want flag.ErrHelp", err)
				}
				return
			}
			if got != tt.want+"\n" {
				t.Errorf("stderr = %q\nwant     %q", got, tt.want+"\n")
			}
		})
	}
}

// serverBinary builds the command into a temporary directory, for the
// tests of what only the real program shows: exit statuses, signals.
func serverBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the command: not in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("cannot build the command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command(goTool, "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestExitStatus proves the exit statuses and that every error is one
// line on stderr, with no stack trace: 2 for a bad flag or value, 1 when
// the port or the lab DNS server's port is taken or the -pcap file
// cannot be written.
func TestExitStatus(t *testing.T) {
	bin := serverBinary(t)
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	taken := other.Addr().String()
	otherUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer otherUDP.Close()
	takenUDP := otherUDP.LocalAddr().String()
	dir := t.TempDir()

	tests := []struct {
		name      string
		args      []string
		code      int
		want      string // stderr is exactly this line
		wantUsage string // or, with the usage, starts with this
		capture   bool   // needs a live capture: skipped where not permitted
	}{
		{name: "unknown flag", args: []string{"-bogus"}, code: 2,
			wantUsage: "flag provided but not defined: -bogus\nusage: go run ./server [flags]\n"},
		{name: "help", args: []string{"-h"}, code: 0, wantUsage: "usage: go run ./server [flags]\n"},
		{name: "no port", args: []string{"-addr", "127.0.0.1"}, code: 2,
			want: `server: -addr "127.0.0.1": missing port in address (want host:port, e.g. 127.0.0.1:6969)`},
		{name: "port out of range", args: []string{"-addr", "127.0.0.1:99999"}, code: 2,
			want: `server: -addr "127.0.0.1:99999": port 99999 is out of range (0 to 65535)`},
		{name: "port in use", args: []string{"-addr", taken, "-json", "-capture=off"}, code: 1,
			want: "server: listen " + taken + ": address already in use (another program has this port: stop it or choose another with -addr)"},
		{name: "bad capture mode", args: []string{"-capture", "bogus"}, code: 2,
			want: `server: -capture "bogus": want auto, on or off`},
		{name: "pcap without capture", args: []string{"-capture=off", "-pcap", "s.pcapng"}, code: 2,
			want: `server: -pcap needs a capture: drop -capture=off`},
		{name: "lab port in use", args: []string{"-addr", "127.0.0.1:0", "-lab", takenUDP, "-capture=off"}, code: 1,
			want: "server: lab DNS: port in use: listen udp " + takenUDP + ": bind: address already in use (choose another port, or 0 to let the kernel choose)"},
		{name: "bad idle timeout", args: []string{"-idle-timeout", "-5m"}, code: 2,
			want: `server: -idle-timeout -5m0s: want a positive duration, e.g. 5m, or 0 for never`},
		{name: "pcap is a directory", args: []string{"-addr", "127.0.0.1:0", "-capture=on", "-pcap", dir}, code: 1,
			want: "server: -pcap " + dir + ": is a directory"},
		{name: "pcap in no directory", args: []string{"-addr", "127.0.0.1:0", "-capture=on", "-pcap", "/nonexistent/dir/x.pcapng"}, code: 1,
			want: `server: -pcap /nonexistent/dir/x.pcapng: no directory /nonexistent/dir: create it, or name a file in another`},
		{name: "mermaid in no directory", args: []string{"-addr", "127.0.0.1:0", "-capture=off", "-mermaid", "/nonexistent/dir/x.md"}, code: 1,
			want: `server: -mermaid /nonexistent/dir/x.md: no directory /nonexistent/dir: create it, or name a file in another`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.capture {
				captureOrSkip(t)
			}
			var stdout, stderr strings.Builder
			cmd := exec.Command(bin, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			got := stderr.String()
			if tt.wantUsage != "" {
				if !strings.HasPrefix(got, tt.wantUsage) {
					t.Errorf("stderr = %q, want the usage", got)
				}
				return
			}
			if got != tt.want+"\n" {
				t.Errorf("stderr = %q\nwant     %q", got, tt.want+"\n")
			}
			if strings.Contains(got+stdout.String(), "goroutine ") {
				t.Errorf("a stack trace:\n%s%s", &stdout, got)
			}
			if strings.Contains(stdout.String(), "Server listening") {
				t.Errorf("says it listens, then fails:\n%s", &stdout)
			}
		})
	}
}

// checkSaved checks the end of a pretty output with -pcap: it says how
// many packets the trace showed and where they are, and the file, mode
// 0600, holds exactly that many, whole.
func checkSaved(t *testing.T, out, pcap string) {
	t.Helper()
	var shown, counted, dropped int
	i := strings.Index(out, "\nCaptured ")
	if i < 0 {
		t.Fatalf("no Captured line:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i+1:], "Captured %d packets on lo (the kernel counted %d, dropped %d).", &shown, &counted, &dropped); err != nil {
		t.Fatalf("the Captured line: %v\n%s", err, out[i:])
	}
	if want := fmt.Sprintf("Saved to %s: tshark -r %s\n", pcap, pcap); !strings.HasSuffix(out, want) {
		t.Errorf("want the output to end %q:\n%s", want, out[i:])
	}
	saved, err := capture.ReadFile(pcap)
	if err != nil {
		t.Fatalf("the pcap file: %v", err)
	}
	// A handshake at least; the shutdown's FIN follows it.
	if len(saved) != shown || shown < 3 || dropped != 0 {
		t.Errorf("the file holds %d packets, the trace showed %d (the kernel counted %d, dropped %d)", len(saved), shown, counted, dropped)
	}
	if fi, err := os.Stat(pcap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pcap file: %v, %v; want mode 0600", fi.Mode(), err)
	}
}
