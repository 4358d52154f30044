package main

import (
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"tcptour/tracer/cli"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		want config
	}{
		{nil, config{addr: "localhost:6969", msg: "I am Chuck Norris!", timeout: 5 * time.Second, capture: "auto"}},
		{[]string{"-addr", "chuck.norris.test:7070", "-msg", "hi", "-dns", "127.0.0.1:10053", "-json", "-no-color", "-timeout", "1s"},
			config{addr: "chuck.norris.test:7070", msg: "hi", dns: "127.0.0.1:10053", json: true, noColor: true, timeout: time.Second, capture: "auto"}},
		// A DNS server without a port is asked on port 53.
		{[]string{"-dns", "127.0.0.1"}, config{addr: "localhost:6969", msg: "I am Chuck Norris!", dns: "127.0.0.1:53", timeout: 5 * time.Second, capture: "auto"}},
		{[]string{"-dns", "::1", "-addr", "[::1]:6969"}, config{addr: "[::1]:6969", msg: "I am Chuck Norris!", dns: "[::1]:53", timeout: 5 * time.Second, capture: "auto"}},
		{[]string{"-capture", "on", "-pcap", "c.pcapng", "-mermaid", "c.md"},
			config{addr: "localhost:6969", msg: "I am Chuck Norris!", timeout: 5 * time.Second, capture: "on", pcap: "c.pcapng", mermaid: "c.md"}},
		{[]string{"-capture=off"}, config{addr: "localhost:6969", msg: "I am Chuck Norris!", timeout: 5 * time.Second, capture: "off"}},
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
				t.Fatalf("parseFlags: %v\n%s", err, &stderr)
			}
			if want := cli.CommandLine("./client", tt.args); got.command != want {
				t.Errorf("command = %q, want %q (the page's command line)", got.command, want)
			}
			got.command = ""
			if got != tt.want {
				t.Errorf("config = %+v\nwant     %+v", got, tt.want)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

// TestParseFlagsErrors proves that a bad flag gets the usage, and a bad
// value one line that says what is wrong.
func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args      []string
		want      string // stderr is exactly this line
		wantUsage string // or, with the usage, starts with this
	}{
		{args: []string{"-addr", "localhost"}, want: `client: -addr "localhost": missing port in address (want host:port, e.g. localhost:6969)`},
		{args: []string{"-addr", ":6969"}, want: `client: -addr ":6969": no host (want host:port, e.g. localhost:6969)`},
		{args: []string{"-addr", "localhost:0"}, want: `client: -addr "localhost:0": port 0 is out of range (1 to 65535)`},
		{args: []string{"-addr", "localhost:65536"}, want: `client: -addr "localhost:65536": port 65536 is out of range (1 to 65535)`},
		{args: []string{"-dns", "127.0.0.1:dns"}, want: `client: -dns "127.0.0.1:dns": port "dns" is not a number`},
		{args: []string{"-timeout", "0s"}, want: `client: -timeout 0s: want a positive duration, e.g. 5s`},
		{args: []string{"-capture", "bogus"}, want: `client: -capture "bogus": want auto, on or off`},
		{args: []string{"-capture=off", "-pcap", "c.pcapng"}, want: `client: -pcap needs a capture: drop -capture=off`},
		{args: []string{"-pcap", "c.out", "-mermaid", "c.out"}, want: `client: -pcap and -mermaid both name c.out: give each its own file`},
		{args: []string{"-pcap", "c.out", "-mermaid", "./c.out"}, want: `client: -pcap and -mermaid both name c.out: give each its own file`},
		{args: []string{"-bogus"}, wantUsage: "flag provided but not defined: -bogus\nusage: go run ./client [flags]\n"},
		{args: []string{"-timeout", "5"}, wantUsage: "invalid value \"5\" for flag -timeout: parse error\nusage: go run ./client [flags]\n"},
		{args: []string{"extra"}, wantUsage: "unexpected argument \"extra\"\nusage: go run ./client [flags]\n"},
		{args: []string{"-help"}, wantUsage: "usage: go run ./client [flags]\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			_, err := parseFlags(tt.args, &stderr)
			if err == nil {
				t.Fatal("parseFlags: no error")
			}
			got := withoutStates(stderr.String())
			if tt.wantUsage != "" {
				if !strings.HasPrefix(got, tt.wantUsage) || !strings.Contains(got, "-dns host:port") {
					t.Errorf("stderr = %q, want %q and the flags", got, tt.wantUsage)
				}
				if tt.args[0] == "-help" && !errors.Is(err, flag.ErrHelp) {
					t.Errorf("-help: err = %v, want flag.ErrHelp", err)
				}
				return
			}
			if got != tt.want+"\n" {
				t.Errorf("stderr = %q\nwant     %q", got, tt.want+"\n")
			}
		})
	}
}

// clientBinary builds the command into a temporary directory, for the
// tests of what only the real program shows: exit statuses, signals.
func clientBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the command: not in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("cannot build the command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "client")
	if out, err := exec.Command(goTool, "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestExitStatus builds the command and proves its exit statuses, and
// that every error is one line on stderr: 2 for a bad flag or value, 1
// when talking fails.
func TestExitStatus(t *testing.T) {
	bin := clientBinary(t)
	refused := freePort(t)
	answering := echo(t, youSaid, nil)
	dir := t.TempDir()

	tests := []struct {
		name      string
		args      []string
		code      int
		want      string // stderr is exactly this line
		wantUsage string // or, with the usage, starts with this
		wantOut   string // stdout has this line
		capture   bool   // needs a live capture: skipped where not permitted
	}{
		{name: "unknown flag", args: []string{"-bogus"}, code: 2,
			wantUsage: "flag provided but not defined: -bogus\nusage: go run ./client [flags]\n"},
		{name: "help", args: []string{"-h"}, code: 0, wantUsage: "usage: go run ./client [flags]\n"},
		{name: "bad address", args: []string{"-addr", "localhost"}, code: 2,
			want: `client: -addr "localhost": missing port in address (want host:port, e.g. localhost:6969)`},
		{name: "refused", args: []string{"-addr", fmt.Sprintf("127.0.0.1:%d", refused), "-capture=off"}, code: 1,
			want: fmt.Sprintf("client: connect 127.0.0.1:%d: connection refused (is the server running? go run ./server)", refused)},
		{name: "talks", args: []string{"-addr", fmt.Sprintf("127.0.0.1:%d", answering), "-msg", "hi", "-capture=off"}, code: 0,
			wantOut: "DATA: You said \"hi\"\n"},
		{name: "bad capture mode", args: []string{"-capture", "bogus"}, code: 2,
			want: `client: -capture "bogus": want auto, on or off`},
		{name: "pcap without capture", args: []string{"-capture=off", "-pcap", "c.pcapng"}, code: 2,
			want: `client: -pcap needs a capture: drop -capture=off`},
		{name: "pcap is a directory", args: []string{"-addr", fmt.Sprintf("127.0.0.1:%d", answering), "-capture=on", "-pcap", dir}, code: 1,
			want: "client: -pcap " + dir + ": is a directory"},
		{name: "pcap in no directory", args: []string{"-addr", fmt.Sprintf("127.0.0.1:%d", answering), "-capture=on", "-pcap", "/nonexistent/dir/x.pcapng"}, code: 1,
			want: `client: -pcap /nonexistent/dir/x.pcapng: no directory /nonexistent/dir: create it, or name a file in another`},
		{name: "mermaid in no directory", args: []string{"-addr", fmt.Sprintf("127.0.0.1:%d", answering), "-capture=off", "-mermaid", "/nonexistent/dir/x.md"}, code: 1,
			want: `client: -mermaid /nonexistent/dir/x.md: no directory /nonexistent/dir: create it, or name a file in another`},
		{name: "talks on the wire", args: []string{"-addr", fmt.Sprintf("127.0.0.1:%d", answering), "-msg", "hi", "-capture=on"}, code: 0,
			wantOut: "\nCaptured ", capture: true},
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
				t.Errorf("exit status %d, want %d\n%s%s", code, tt.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, &stdout)
			}
			got := withoutStates(stderr.String())
			if tt.wantUsage != "" {
				if !strings.HasPrefix(got, tt.wantUsage) {
					t.Errorf("stderr = %q, want the usage", got)
				}
				return
			}
			if tt.want != "" && got != tt.want+"\n" || tt.want == "" && got != "" {
				t.Errorf("stderr = %q\nwant     %q", got, tt.want+"\n")
			}
		})
	}
}
