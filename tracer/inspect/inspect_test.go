package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"tcptour/tracer"
	"tcptour/tracer/cli"
)

// The two captures of lesson 03: 2 DNS packets, then 2 TCP connections
// (10 and 6 segments).
var testFiles = []string{"testdata/lesson03.pcapng", "testdata/lesson03-tcpdump.pcap"}

// wantPackets are the packet lines of the pretty timeline of both files:
// connection, label and detail. The numbers are those tshark shows.
var wantPackets = []string{
	"DNS | resolver → dns  query A chuck.norris.test",
	"DNS | dns → resolver  answer A chuck.norris.test 127.0.0.1",
	"#1 SYN | client → server  seq 0 win 65495  mss 65495 sack ts ws 10",
	"#1 SYN ACK | server → client  seq 0 ack 1 win 65483  mss 65495 sack ts ws 10",
	"#1 ACK | client → server  seq 1 ack 1 win 65536",
	"#1 PSH ACK | client → server  seq 1 ack 1 len 18 win 65536  \"I am Chuck Norris!\"",
	"#1 ACK | server → client  seq 1 ack 19 win 65536",
	"#1 PSH ACK | server → client  seq 1 ack 19 len 29 win 65536  \"You said \\\"I am Chuck Norris!\\\"\"",
	"#1 ACK | client → server  seq 19 ack 30 win 65536",
	"#1 FIN ACK | client → server  seq 19 ack 30 win 65536",
	"#1 FIN ACK | server → client  seq 30 ack 20 win 65536",
	"#1 ACK | client → server  seq 20 ack 31 win 65536",
	"#2 SYN | client → server  seq 0 win 65495  mss 65495 sack ts ws 10",
	"#2 SYN ACK | server → client  seq 0 ack 1 win 65483  mss 65495 sack ts ws 10",
	"#2 ACK | client → server  seq 1 ack 1 win 65536",
	"#2 FIN ACK | client → server  seq 1 ack 1 win 65536",
	"#2 FIN ACK | server → client  seq 1 ack 2 win 65536",
	"#2 ACK | client → server  seq 2 ack 2 win 65536",
}

// packetLine matches a packet's line in the pretty timeline:
// "   +0.383 ms  wire   #1  SYN        client → server  seq 0 …".
var packetLine = regexp.MustCompile(`^ *\+\S+ \S+  wire {3}(#\d+)? *(\S+(?: \S+)*) {2,}(.*)$`)

// packetLines returns the packet lines of pretty output in the form of
// wantPackets.
func packetLines(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if m := packetLine.FindStringSubmatch(l); m != nil {
			got = append(got, strings.TrimSpace(m[1]+" "+m[2])+" | "+m[3])
		}
	}
	return got
}

// runInspect calls run and turns a panic into a test failure.
func runInspect(t *testing.T, cfg config) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("run(%+v) panicked: %v\n%s", cfg, r, debug.Stack())
			}
		}()
		err = run(cfg, &out, &errOut)
	}()
	return out.String(), errOut.String(), err
}

// TestRunPretty checks the timeline and ladders of both files: every
// packet in order with its numbers, no colour, the summary line, and a
// ladder per connection with an arrow per segment.
func TestRunPretty(t *testing.T) {
	for _, file := range testFiles {
		for _, noColor := range []bool{true, false} { // false: stdout is not a terminal, so no colour either
			t.Run(fmt.Sprintf("%s/no-color=%v", filepath.Base(file), noColor), func(t *testing.T) {
				out, errOut, err := runInspect(t, config{file: file, noColor: noColor})
				if err != nil || errOut != "" {
					t.Fatalf("run: %v, stderr %q", err, errOut)
				}
				if strings.Contains(out, "\x1b[") {
					t.Errorf("output has colour escapes")
				}
				if got := packetLines(out); !slices.Equal(got, wantPackets) {
					t.Errorf("packet lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantPackets, "\n"))
				}
				if want := fmt.Sprintf("\n18 packets read from %s; 2 TCP connections.\n", file); !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
				if n := strings.Count(out, "\nConnection #"); n != 2 {
					t.Errorf("%d ladders, want 2", n)
				}
				ladders := out[strings.Index(out, "\nConnection #1\n"):]
				if !strings.Contains(ladders, "\nConnection #2\n") {
					t.Fatalf("no ladder for connection 2:\n%s", ladders)
				}
				one, two, _ := strings.Cut(ladders, "\nConnection #2\n")
				for _, c := range []struct {
					ladder string
					n      int
				}{{one, 10}, {two, 6}} {
					if n := strings.Count(c.ladder, "▶") + strings.Count(c.ladder, "◀"); n != c.n {
						t.Errorf("ladder has %d arrows, want %d:\n%s", n, c.n, c.ladder)
					}
				}
				for _, arrow := range []string{"── SYN seq 0 ──", "── PSH ACK seq 1 ack 1 len 18 ──", "── PSH ACK seq 1 ack 19 len 29 ──", "── ACK seq 20 ack 31 ──", "── ACK seq 2 ack 2 ──"} {
					if !strings.Contains(ladders, arrow) {
						t.Errorf("ladders lack %q", arrow)
					}
				}
			})
		}
	}
}

// TestRunJSON checks --json: only JSON lines, one per packet, each a
// packet event.
func TestRunJSON(t *testing.T) {
	for _, file := range testFiles {
		t.Run(filepath.Base(file), func(t *testing.T) {
			out, errOut, err := runInspect(t, config{file: file, json: true})
			if err != nil || errOut != "" {
				t.Fatalf("run: %v, stderr %q", err, errOut)
			}
			if !strings.HasSuffix(out, "\n") {
				t.Errorf("output does not end with a newline")
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 18 {
				t.Errorf("%d lines, want 18", len(lines))
			}
			conns := map[int]int{}
			for i, l := range lines {
				var raw map[string]any
				if err := json.Unmarshal([]byte(l), &raw); err != nil {
					t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
				}
				if raw["phase"] != "packet" {
					t.Errorf("line %d: phase %v, want packet", i+1, raw["phase"])
				}
				var e tracer.Event
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				if e.Packet == nil || e.Actor != "wire" || e.Note == "" || e.Seq == 0 {
					t.Errorf("line %d: %+v", i+1, e)
				}
				conns[e.Conn]++
			}
			if want := map[int]int{0: 2, 1: 10, 2: 6}; !mapsEqual(conns, want) {
				t.Errorf("packets per connection %v, want %v", conns, want)
			}
		})
	}
}

func mapsEqual(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRunMermaid checks that --mermaid writes a sequence diagram with a
// message per TCP packet, with the pretty or the JSON output, and that
// a file that cannot be written is an error that names the flag.
func TestRunMermaid(t *testing.T) {
	for _, file := range testFiles {
		for _, js := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/json=%v", filepath.Base(file), js), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "ladder.mmd")
				out, errOut, err := runInspect(t, config{file: file, json: js, noColor: true, mermaid: path})
				if err != nil || errOut != "" {
					t.Fatalf("run: %v, stderr %q", err, errOut)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				m := string(b)
				if !strings.HasPrefix(m, "sequenceDiagram\n") {
					t.Errorf("diagram starts %q", m[:min(40, len(m))])
				}
				if n := strings.Count(m, "->>"); n != 16 {
					t.Errorf("%d messages, want 16:\n%s", n, m)
				}
				if strings.Contains(out, "sequenceDiagram") {
					t.Errorf("the diagram went to stdout too")
				}
			})
		}
	}
	bad := filepath.Join(t.TempDir(), "no", "such", "dir.mmd")
	out, _, err := runInspect(t, config{file: testFiles[0], noColor: true, mermaid: bad})
	if err == nil || !strings.HasPrefix(err.Error(), "-mermaid "+bad+": no directory ") {
		t.Errorf("unwritable --mermaid file: error %v, want one starting with -mermaid %s: no directory", err, bad)
	}
	if out != "" {
		t.Errorf("the capture was read before the --mermaid path was checked:\n%s", out)
	}
}

// TestRunMermaidFiles checks what --mermaid does to what is at its
// path (tracer/outfile has the cases in full): a file of the user's is
// replaced only once the diagram is complete, and kept when the capture
// cannot be read; a symbolic link, and the capture file itself, are
// refused before anything is read.
func TestRunMermaidFiles(t *testing.T) {
	dir := t.TempDir()
	noTemp := func() {
		t.Helper()
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tcptour-") {
				t.Errorf("temporary file left: %s", e.Name())
			}
		}
	}
	old := filepath.Join(dir, "old.mmd")
	if err := os.WriteFile(old, []byte("old diagram\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A capture that cannot be read: the old diagram stays.
	if _, _, err := runInspect(t, config{file: filepath.Join(dir, "missing.pcap"), mermaid: old}); err == nil {
		t.Fatal("a missing capture: no error")
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "old diagram\n" {
		t.Errorf("after a failed run the old diagram is %q, %v", b, err)
	}
	noTemp()
	// A good one: replaced.
	if _, _, err := runInspect(t, config{file: testFiles[0], mermaid: old}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(old); err != nil || !strings.HasPrefix(string(b), "sequenceDiagram\n") {
		t.Errorf("the diagram was not replaced: %q, %v", b, err)
	}
	noTemp()
	// A symbolic link: refused, its target untouched.
	link := filepath.Join(dir, "link.mmd")
	if err := os.Symlink(old, link); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(old)
	out, _, err := runInspect(t, config{file: testFiles[0], mermaid: link})
	if err == nil || !strings.Contains(err.Error(), "-mermaid "+link+": is a symbolic link") || out != "" {
		t.Errorf("a symbolic link: %v, output %q; want it refused before reading", err, out)
	}
	if after, _ := os.ReadFile(old); !bytes.Equal(before, after) {
		t.Error("the link's target was written")
	}
	// The capture file itself.
	capFile := filepath.Join(dir, "in.pcapng")
	data, err := os.ReadFile(testFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(capFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runInspect(t, config{file: capFile, mermaid: dir + "/./in.pcapng"}); err == nil || !strings.Contains(err.Error(), "is the capture file to read") {
		t.Errorf("--mermaid naming the capture: %v", err)
	}
	if b, _ := os.ReadFile(capFile); !bytes.Equal(b, data) {
		t.Error("the capture file was written")
	}
	noTemp()
}

// Bad input.

// pcapRecords returns the end offset of every record of a pcap file.
func pcapRecords(t *testing.T, b []byte) []int {
	t.Helper()
	var ends []int
	for off := 24; off < len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16 + n
		ends = append(ends, off)
	}
	if ends[len(ends)-1] != len(b) {
		t.Fatalf("pcap records do not add up to the file")
	}
	return ends
}

// pcapngBlocks returns the end offset of every block of a pcapng file,
// and whether it holds a packet.
func pcapngBlocks(t *testing.T, b []byte) (ends []int, isPacket []bool) {
	t.Helper()
	for off := 0; off < len(b); {
		typ, n := binary.LittleEndian.Uint32(b[off:]), int(binary.LittleEndian.Uint32(b[off+4:]))
		off += n
		ends = append(ends, off)
		isPacket = append(isPacket, typ == 6 || typ == 3 || typ == 2)
	}
	if ends[len(ends)-1] != len(b) {
		t.Fatalf("pcapng blocks do not add up to the file")
	}
	return ends, isPacket
}

// summaryConns matches the end of the summary: "; 2 TCP connections.",
// "; 1 TCP connection.".
var summaryConns = regexp.MustCompile(`; (\d+) TCP connection(s?)\.\n`)

// maxAlloc bounds what one run may allocate on bad input: the files are
// a few kB, so a few MB is plenty; a length field believed would ask
// for gigabytes.
const maxAlloc = 64 << 20

// checkBadInput runs inspect on path and checks the outcome: wantErr
// (a substring of the error; no packets shown), or wantPkts packets
// shown with a warning naming warn (or no warning when warn is "").
// It never panics and allocates less than maxAlloc.
func checkBadInput(t *testing.T, path, wantErr string, wantPkts int, warn string) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, errOut, err := runInspect(t, config{file: path, noColor: true})
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > maxAlloc {
		t.Errorf("run allocated %d MB", n>>20)
	}
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("error %v, want one containing %q (stdout %d bytes, stderr %q)", err, wantErr, len(out), errOut)
		}
		if err != nil && out != "" {
			t.Errorf("an error, yet output:\n%s", out)
		}
		return
	}
	if err != nil {
		t.Fatalf("error %v, want %d packets shown", err, wantPkts)
	}
	want := fmt.Sprintf("\n%d packets read from", wantPkts)
	if wantPkts == 1 {
		want = "\n1 packet read from"
	}
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if got := len(packetLines(out)); got != wantPkts {
		t.Errorf("%d packet lines, want %d", got, wantPkts)
	}
	if m := summaryConns.FindStringSubmatch(out); m == nil {
		t.Errorf("no connection count in the summary:\n%s", out)
	} else if n := strings.Count(out, "\nConnection #"); fmt.Sprint(n) != m[1] || (n == 1) != (m[2] == "") {
		t.Errorf("summary says %q, and there are %d ladders", m[0], n)
	}
	switch {
	case warn == "" && errOut != "":
		t.Errorf("unexpected warning %q", errOut)
	case warn != "":
		wantWarn := fmt.Sprintf("showing the %d packets before it", wantPkts)
		if wantPkts == 1 {
			wantWarn = "showing the 1 packet before it"
		}
		if !strings.HasPrefix(errOut, "inspect: warning: ") || !strings.Contains(errOut, warn) || !strings.Contains(errOut, wantWarn) {
			t.Errorf("warning %q, want one with %q and %q", errOut, warn, wantWarn)
		}
	}
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunBadFiles: files that are no capture at all, or a capture with a
// damaged length, give a clear error, or the packets before the damage
// with a warning.
func TestRunBadFiles(t *testing.T) {
	pcap, err := os.ReadFile(testFiles[1])
	if err != nil {
		t.Fatal(err)
	}
	ng, err := os.ReadFile(testFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 4096)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rnd.Uint32())
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pcap)
	zw.Close()

	// A pcap header claiming a 4 GB snap length, then a record of 4 GB.
	hugeSnap := slices.Clone(pcap[:24])
	binary.LittleEndian.PutUint32(hugeSnap[16:], 0xffffffff)
	hugeRecord := binary.LittleEndian.AppendUint32(nil, 0) // ts sec
	hugeRecord = binary.LittleEndian.AppendUint32(hugeRecord, 0)
	hugeRecord = binary.LittleEndian.AppendUint32(hugeRecord, 0xfffffff0) // captured length
	hugeRecord = binary.LittleEndian.AppendUint32(hugeRecord, 0xfffffff0) // length on the wire
	hugeRecord = append(hugeRecord, pcap[24+16:24+16+64]...)
	ends := pcapRecords(t, pcap)
	// A record whose captured length exceeds its length on the wire.
	capOverWire := slices.Clone(pcap[:ends[1]+16])
	binary.LittleEndian.PutUint32(capOverWire[ends[1]+8:], 200)
	binary.LittleEndian.PutUint32(capOverWire[ends[1]+12:], 100)
	capOverWire = append(capOverWire, make([]byte, 200)...)

	// pcapng: the first packet block (after SHB and IDB) with a huge
	// captured length, or a huge block length.
	ngEnds, _ := pcapngBlocks(t, ng)
	epb := ngEnds[1] // offset of the first enhanced packet block
	ngHugeCap := slices.Clone(ng)
	binary.LittleEndian.PutUint32(ngHugeCap[epb+20:], 0xfffffff0)
	ngHugeBlock := slices.Clone(ng)
	binary.LittleEndian.PutUint32(ngHugeBlock[epb+4:], 0xfffffff0)
	ngBigBlock := slices.Clone(ng[:epb+64]) // a plausible length, 1 MB, but the file ends first
	binary.LittleEndian.PutUint32(ngBigBlock[epb+4:], 1<<20)
	ngSecondBad := slices.Clone(ng) // the second packet's trailing length is wrong
	binary.LittleEndian.PutUint32(ngSecondBad[ngEnds[3]-4:], 12345)

	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		path     string // when data is nil
		data     []byte
		wantErr  string
		wantPkts int
		warn     string
	}{
		{name: "missing file", path: filepath.Join(dir, "nothing.pcap"), wantErr: "no such file or directory"},
		{name: "directory", path: dir, wantErr: "is a directory"},
		{name: "empty file", data: []byte{}, wantErr: "empty file, not a pcap or pcapng file"},
		{name: "garbage", data: garbage, wantErr: "not a pcap or pcapng file"},
		{name: "text file", data: []byte("GET / HTTP/1.1\r\nHost: chuck.norris.test\r\n\r\n"), wantErr: "not a pcap or pcapng file (starts with 47 45 54 20)"},
		{name: "gzip", data: gz.Bytes(), wantPkts: 18},
		{name: "pcap header only", data: pcap[:24], wantPkts: 0},
		{name: "pcap with a 4 GB snaplen", data: slices.Concat(hugeSnap, pcap[24:]), wantPkts: 18},
		{name: "pcap with a 4 GB record", data: slices.Concat(hugeSnap, hugeRecord), wantErr: "capture length exceeds snap length"},
		{name: "pcap with a 4 GB record after 5 packets", data: slices.Concat(hugeSnap, pcap[24:ends[4]], hugeRecord), wantPkts: 5, warn: "reading packet 6: capture length exceeds snap length"},
		{name: "pcap record longer than on the wire", data: capOverWire, wantPkts: 2, warn: "reading packet 3: capture length exceeds original packet length"},
		{name: "pcapng packet of 4 GB", data: ngHugeCap, wantErr: "packet captured length 4294967280 exceeds the limit"},
		{name: "pcapng block of 4 GB", data: ngHugeBlock, wantErr: "impossible length"},
		{name: "pcapng block of 1 MB cut short", data: ngBigBlock, wantErr: "truncated"},
		{name: "pcapng second packet damaged", data: ngSecondBad, wantPkts: 1, warn: "trailing length 12345 does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if tc.data != nil {
				path = writeFile(t, "input", tc.data)
			}
			checkBadInput(t, path, tc.wantErr, tc.wantPkts, tc.warn)
			if tc.wantErr != "" {
				_, _, err := runInspect(t, config{file: path, noColor: true})
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
			}
		})
	}
}

// TestRunTruncated cuts both files short at every block or record
// boundary, one byte after it, in the middle of each packet and one
// byte before the end. A cut at a boundary leaves a shorter valid file;
// any other cut shows the complete packets before it with a warning that
// the file is truncated, or an error when there are none.
func TestRunTruncated(t *testing.T) {
	for _, file := range testFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// ends are the offsets where a cut leaves a valid file;
		// packets[i] is how many packets end at or before ends[i].
		var ends, packets []int
		if strings.HasSuffix(file, ".pcapng") {
			bEnds, isPacket := pcapngBlocks(t, data)
			n := 0
			for i, e := range bEnds {
				if isPacket[i] {
					n++
				}
				ends, packets = append(ends, e), append(packets, n)
			}
		} else {
			ends, packets = []int{24}, []int{0}
			for i, e := range pcapRecords(t, data) {
				ends, packets = append(ends, e), append(packets, i+1)
			}
		}
		complete := func(cut int) (n int, boundary bool) {
			for i, e := range ends {
				if e <= cut {
					n = packets[i]
				}
				if e == cut {
					boundary = true
				}
			}
			return n, boundary
		}
		cuts := []int{1, 2, 3, 4, 7, 8, 11, 12, 20, 23, len(data) - 1}
		for i, e := range ends {
			cuts = append(cuts, e, e+1, e+8, e+16)
			if i > 0 {
				cuts = append(cuts, (ends[i-1]+e)/2, e-1)
			}
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		for _, cut := range cuts {
			if cut <= 0 || cut >= len(data) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", filepath.Base(file), cut), func(t *testing.T) {
				path := writeFile(t, filepath.Base(file), data[:cut])
				n, boundary := complete(cut)
				switch {
				case boundary && (n > 0 || cut == 24 && !strings.HasSuffix(file, ".pcapng")):
					checkBadInput(t, path, "", n, "")
				case boundary:
					// A pcapng with a section header and no packets:
					// an empty capture, or truncated; never a panic.
					_, _, err := runInspect(t, config{file: path, noColor: true})
					if err != nil && !strings.Contains(err.Error(), "truncated") {
						t.Errorf("error %v", err)
					}
				case n == 0:
					checkBadInput(t, path, "truncated", 0, "")
				default:
					checkBadInput(t, path, "", n, fmt.Sprintf("file truncated at packet %d", n+1))
				}
			})
		}
	}
}

// Flags.

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    config
		wantErr string // in the error or on stderr
	}{
		{args: []string{"a.pcap"}, want: config{file: "a.pcap"}},
		{args: []string{"--json", "a.pcap"}, want: config{file: "a.pcap", json: true}},
		{args: []string{"a.pcap", "--json"}, want: config{file: "a.pcap", json: true}},
		{args: []string{"-no-color", "a.pcap", "--mermaid", "out.mmd"}, want: config{file: "a.pcap", noColor: true, mermaid: "out.mmd"}},
		{args: []string{"a.pcap", "--mermaid=out.mmd", "--no-color", "--json"}, want: config{file: "a.pcap", json: true, noColor: true, mermaid: "out.mmd"}},
		{args: []string{"--", "-odd-name.pcap"}, want: config{file: "-odd-name.pcap"}},
		{args: nil, wantErr: "want one capture file"},
		{args: []string{"--json"}, wantErr: "want one capture file"},
		{args: []string{"a.pcap", "b.pcap"}, wantErr: "want one capture file"},
		{args: []string{"a.pcap", "--json", "b.pcap"}, wantErr: "want one capture file"},
		{args: []string{"--bogus", "a.pcap"}, wantErr: "flag provided but not defined: -bogus"},
		{args: []string{"a.pcap", "--bogus"}, wantErr: "flag provided but not defined: -bogus"},
		{args: []string{"a.pcap", "--mermaid"}, wantErr: "flag needs an argument: -mermaid"},
		{args: []string{"--json=maybe", "a.pcap"}, wantErr: "invalid boolean value"},
		{args: []string{"-", "-stats", "-port", "80,443", "-host", "192.0.2.1,2001:db8::/32", "-conn", "#3"},
			want: config{file: "-", stats: true, port: "80,443", host: "192.0.2.1,2001:db8::/32", conn: "#3"}},
		{args: []string{"a.pcap", "-port", "http"}, wantErr: `-port http: "http" is not a port number (1 to 65535)`},
		{args: []string{"a.pcap", "-port", "70000"}, wantErr: `"70000" is not a port number`},
		{args: []string{"a.pcap", "-host", "example.com"}, wantErr: `-host example.com: "example.com" is not an IP address or prefix`},
		{args: []string{"a.pcap", "-conn", "0"}, wantErr: `-conn 0: "0" is not a connection number`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseFlags(tc.args, &stderr)
			if tc.wantErr == "" {
				if want := cli.CommandLine("./tracer/inspect", tc.args); cfg.command != want {
					t.Errorf("command %q, want %q", cfg.command, want)
				}
				cfg.command = ""
				if err != nil || cfg != tc.want || stderr.Len() != 0 {
					t.Errorf("got %+v, %v, stderr %q; want %+v", cfg, err, stderr.String(), tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, no error; want %q", cfg, tc.wantErr)
			}
			if !strings.Contains(err.Error()+stderr.String(), tc.wantErr) {
				t.Errorf("error %v, stderr %q; want %q", err, stderr.String(), tc.wantErr)
			}
			if !strings.Contains(stderr.String(), "usage: go run ./tracer/inspect [flags] FILE") {
				t.Errorf("no usage on stderr: %q", stderr.String())
			}
		})
	}
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-mermaid file") {
		t.Errorf("-h: %v, stderr %q; want flag.ErrHelp and the usage", err, stderr.String())
	}
}

// TestExitCodes builds the command and checks its exit status: 0 on
// success (and on a truncated file, with a warning) and for -h, 1 when
// the file cannot be read, 2 for bad flags.
func TestExitCodes(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "inspect")
	if out, err := exec.Command(gobin, "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ng, err := os.ReadFile(testFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	cut := writeFile(t, "cut.pcapng", ng[:len(ng)-10])
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		stderrNone bool
	}{
		{args: []string{"--no-color", testFiles[0]}, code: 0, stdout: "2 TCP connections", stderrNone: true},
		{args: []string{testFiles[1], "--json"}, code: 0, stdout: `"phase":"packet"`, stderrNone: true},
		{args: []string{"-h"}, code: 0, stderr: "usage:"},
		{args: []string{cut}, code: 0, stdout: "17 packets read", stderr: "inspect: warning: capture: read " + cut + ": file truncated at packet 18"},
		{args: []string{filepath.Join(dir, "missing.pcap")}, code: 1, stderr: "inspect: capture: read " + filepath.Join(dir, "missing.pcap")},
		{args: []string{bin}, code: 1, stderr: "not a pcap or pcapng file"},
		{args: nil, code: 2, stderr: "want one capture file"},
		{args: []string{"--bogus", testFiles[0]}, code: 2, stderr: "flag provided but not defined"},
		{args: []string{testFiles[0], testFiles[1]}, code: 2, stderr: "want one capture file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "NO_COLOR=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) || tc.stderrNone && stderr.Len() != 0 {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// udpPcap returns a pcap file holding one UDP datagram with payload,
// sent to port 53.
func udpPcap(t *testing.T, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w := pcapgo.NewWriter(&file)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

// TestRunMalformedDNS feeds UDP datagrams that start like DNS messages
// but end inside a question or an answer record. gopacket v1.1.19's DNS
// decoder indexes past the end of such messages (google/gopacket#875,
// #881); inspect must not crash: the datagram is simply not DNS, and is
// left out.
func TestRunMalformedDNS(t *testing.T) {
	header := func(flags uint16, qd, an uint16) []byte {
		h := binary.BigEndian.AppendUint16(nil, 0x3a71)
		h = binary.BigEndian.AppendUint16(h, flags)
		h = binary.BigEndian.AppendUint16(h, qd)
		h = binary.BigEndian.AppendUint16(h, an)
		return append(h, 0, 0, 0, 0)
	}
	question := []byte("\x05chuck\x06norris\x04test\x00")
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"question without type and class", slices.Concat(header(0x0100, 1, 0), question)},
		{"question without class", slices.Concat(header(0x0100, 1, 0), question, []byte{0, 1})},
		{"answer cut after its type", slices.Concat(header(0x8180, 1, 1), question, []byte{0, 1, 0, 1}, []byte{0xc0, 0x0c, 0, 1})},
		{"answer cut inside its TTL", slices.Concat(header(0x8180, 1, 1), question, []byte{0, 1, 0, 1}, []byte{0xc0, 0x0c, 0, 1, 0, 1, 0, 0})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "dns.pcap", udpPcap(t, tc.payload))
			out, errOut, err := runInspect(t, config{file: path, noColor: true})
			if err != nil || errOut != "" {
				t.Fatalf("run: %v, stderr %q", err, errOut)
			}
			if !strings.Contains(out, "1 packet read from") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}
