package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tcptour/tracer"
)

// TestFilters checks -port, -host and -conn, alone and together: the
// packets shown, their connection numbers (those of the file without
// filters), and the summary line that says what the filters kept.
func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         config
		want        []string // indexes into wantPackets, as its lines
		summary     string
		connections int
	}{
		{name: "dns port", cfg: config{port: "DNS"}, want: wantPackets[:2], summary: "; 2 shown (port DNS); 0 TCP connections shown, of 2 in the file."},
		{name: "conn 2", cfg: config{conn: "2"}, want: wantPackets[12:], summary: "; 6 shown (connection #2); 1 TCP connection shown, of 2 in the file."},
		{name: "conns #1,2", cfg: config{conn: "#1,2"}, want: wantPackets[2:], summary: "; 16 shown (connections #1 or #2); 2 TCP connections shown, of 2 in the file."},
		{name: "host", cfg: config{host: "127.0.0.1"}, want: wantPackets, summary: "; 18 shown (host 127.0.0.1); 2 TCP connections shown, of 2 in the file."},
		{name: "prefix", cfg: config{host: "10.0.0.0/8,192.0.2.1"}, summary: "; 0 shown (host 10.0.0.0/8 or 192.0.2.1); 0 TCP connections shown, of 2 in the file."},
		{name: "port and conn", cfg: config{port: "DNS", conn: "1"}, summary: "; 0 shown (port DNS and connection #1); 0 TCP connections shown, of 2 in the file."},
		{name: "no such conn", cfg: config{conn: "2,7,9"}, want: wantPackets[12:], summary: "; 6 shown (connections #2 or #7 or #9); 1 TCP connection shown, of 2 in the file (no connections #7 and #9)."},
		{name: "two ports", cfg: config{port: "DNS,9"}, want: wantPackets[:2], summary: "; 2 shown (port DNS or 9); 0 TCP connections shown, of 2 in the file."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, file := range testFiles {
				// The lab's DNS server listens on a port of its
				// own, another in each file.
				dnsPort := map[string]string{testFiles[0]: "36306", testFiles[1]: "59647"}[file]
				cfg := tc.cfg
				cfg.file, cfg.noColor = file, true
				cfg.port = strings.ReplaceAll(cfg.port, "DNS", dnsPort)
				summary := strings.ReplaceAll(tc.summary, "DNS", dnsPort)
				out, errOut, err := runInspect(t, cfg)
				if err != nil || errOut != "" {
					t.Fatalf("run: %v, stderr %q", err, errOut)
				}
				if got := packetLines(out); !slices.Equal(got, tc.want) {
					t.Errorf("%s: packet lines:\n%s\nwant:\n%s", file, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
				if want := "\n18 packets read from " + file + summary + "\n"; !strings.Contains(out, want) {
					t.Errorf("%s: output lacks %q:\n%s", file, want, out[max(0, len(out)-600):])
				}
			}
		})
	}
}

// TestStats checks -stats on lesson 03's capture, in words and as JSON:
// the numbers are those of wantPackets.
func TestStats(t *testing.T) {
	out, errOut, err := runInspect(t, config{file: testFiles[0], stats: true})
	if err != nil || errOut != "" {
		t.Fatalf("run: %v, stderr %q", err, errOut)
	}
	for _, want := range []string{
		"Connection #1: client 127.0.0.1:",
		"  client → server: 6 segments, 18 bytes of data\n",
		"  server → client: 4 segments, 29 bytes of data\n",
		"(from the SYN to the ACK of the SYN-ACK, as captured); closed: both sent FIN, the client first.\n",
		"Connection #2: client 127.0.0.1:",
		"  client → server: 4 segments, 0 bytes of data\n",
		"  server → client: 2 segments, 0 bytes of data\n",
		"\n18 packets read from " + testFiles[0] + "; 2 TCP connections.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "wire") || strings.Contains(out, "▶") {
		t.Errorf("-stats printed the timeline or ladders:\n%s", out)
	}

	out, errOut, err = runInspect(t, config{file: testFiles[1], stats: true, json: true, conn: "1"})
	if err != nil || errOut != "" {
		t.Fatalf("run: %v, stderr %q", err, errOut)
	}
	var got []statsJSON
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var s statsJSON
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("%v in:\n%s", err, out)
		}
		got = append(got, s)
	}
	if len(got) != 1 {
		t.Fatalf("%d connections, want 1 (-conn 1):\n%s", len(got), out)
	}
	s := got[0]
	if s.Conn != 1 || !strings.HasPrefix(s.Client, "127.0.0.1:") || !strings.HasPrefix(s.Server, "127.0.0.1:") ||
		s.ToServer != (dirJSON{Segments: 6, Bytes: 18, FIN: true}) || s.ToClient != (dirJSON{Segments: 4, Bytes: 29, FIN: true}) ||
		s.Handshake <= 0 || s.DurationNS <= s.Handshake || !s.Established || s.Ended != "closed: both sent FIN, the client first" {
		t.Errorf("got %+v", s)
	}
}

// TestComments checks that the comments of a pcapng file (added to
// lesson 03's with editcap: one on the file, one on its 6th packet, the
// client's request) are shown, in the timeline and in JSON.
func TestComments(t *testing.T) {
	const file = "testdata/lesson03-comments.pcapng"
	out, _, err := runInspect(t, config{file: file, noColor: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "Comment in the file: lesson 03, with comments added by editcap\n") {
		t.Errorf("output starts %q", out[:min(len(out), 100)])
	}
	req := strings.Index(out, "len 18 win 65536")
	next := strings.Index(out, "len 29 win 65536")
	if c := strings.Index(out, "Comment in the file: the request"); req < 0 || c < req || c > next {
		t.Errorf("the 6th packet's comment at %d, want between %d and %d:\n%s", c, req, next, out)
	}
	out, _, err = runInspect(t, config{file: file, json: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		var e tracer.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		want := ""
		if i == 5 {
			want = "the request"
		}
		if e.Packet.Comment != want {
			t.Errorf("packet %d: comment %q, want %q", i+1, e.Packet.Comment, want)
		}
	}
}

// TestPayloadPreview checks the JSON "payload" of the packets that
// carry data: the preview of what the programs wrote.
func TestPayloadPreview(t *testing.T) {
	out, _, err := runInspect(t, config{file: testFiles[1], json: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e tracer.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Packet.Payload != "" {
			got = append(got, e.Packet.Payload)
		}
	}
	if want := []string{`"I am Chuck Norris!"`, `"You said \"I am Chuck Norris!\""`}; !slices.Equal(got, want) {
		t.Errorf("payloads %q, want %q", got, want)
	}
}

// TestStdin reads the capture from standard input, "-", plain and
// gzip-compressed.
func TestStdin(t *testing.T) {
	data, err := os.ReadFile(testFiles[1])
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	for name, b := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			saved := os.Stdin
			os.Stdin = f
			defer func() { os.Stdin = saved }()
			out, errOut, err := runInspect(t, config{file: "-", noColor: true})
			if err != nil || errOut != "" {
				t.Fatalf("run: %v, stderr %q", err, errOut)
			}
			if got := packetLines(out); !slices.Equal(got, wantPackets) {
				t.Errorf("packet lines:\n%s", strings.Join(got, "\n"))
			}
			if want := "\n18 packets read from standard input; 2 TCP connections.\n"; !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		})
	}
}

// TestPortPairReused checks that connections that reuse a five-tuple are
// told apart as tshark's tcp.stream tells them (tracer/wire's
// reuse.pcapng: 12 connections from one client port, captured at both
// ends), and that -conn picks one of them: its 10 segments, each seen at
// both interfaces.
func TestPortPairReused(t *testing.T) {
	const file = "../wire/testdata/reuse.pcapng"
	out, _, err := runInspect(t, config{file: file, noColor: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "; 12 TCP connections.\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q", want)
	}
	if n := strings.Count(out, "\nConnection #"); n != 12 {
		t.Errorf("%d ladders, want 12", n)
	}
	out, _, err = runInspect(t, config{file: file, json: true, conn: "5"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	syns := 0
	for _, l := range lines {
		var e tracer.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Conn != 5 {
			t.Errorf("conn %d in -conn 5: %s", e.Conn, l)
		}
		if e.Packet.Flags == "SYN" {
			syns++
		}
	}
	if len(lines) != 20 || syns != 2 {
		t.Errorf("-conn 5: %d packets, %d SYNs; want 20 (10 at each end), 2", len(lines), syns)
	}
}

// failAfter accepts n bytes, then fails every write, as a closed pipe
// does (inspect … | head).
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, os.ErrClosed
	}
	f.n -= len(p)
	return len(p), nil
}

// TestOutputFails checks that a failed write to stdout (the timeline
// is printed in a goroutine of its own) ends the run with that error,
// in both output modes, and leaves no goroutine behind (TestMain).
func TestOutputFails(t *testing.T) {
	for _, js := range []bool{false, true} {
		err := run(config{file: testFiles[0], json: js, noColor: true}, &failAfter{n: 100}, io.Discard)
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("json=%v: error %v, want %v", js, err, os.ErrClosed)
		}
	}
}

// TestStatsEndings checks how -stats says a connection began and ended
// on captures that show it: a SYN sent twice (tracer/wire's
// synack.pcapng), FINs that crossed (simclose.pcapng), a SYN refused
// and one never answered (lesson16.pcapng, connections #3 and #5).
func TestStatsEndings(t *testing.T) {
	for _, tc := range []struct {
		file, conn string
		want       []string
	}{
		{"../wire/testdata/synack.pcapng", "1", []string{"(from the last of the 2 SYNs the client sent, the first 1.012 s before it, to the ACK of the SYN-ACK, as captured)"}},
		{"../wire/testdata/simclose.pcapng", "1", []string{"; closed at once by both: their FINs crossed.\n"}},
		{"testdata/lesson16.pcapng", "3", []string{"the handshake did not complete in the capture; refused: the server answered the SYN with RST.\n"}},
		{"testdata/lesson16.pcapng", "5", []string{"  server → client: 0 segments, 0 bytes of data\n", "never opened: no answer to the SYN in the capture.\n"}},
	} {
		out, _, err := runInspect(t, config{file: tc.file, stats: true, conn: tc.conn})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s -conn %s: output lacks %q:\n%s", tc.file, tc.conn, w, out)
			}
		}
	}
}
