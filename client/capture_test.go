package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/wire"
)

// captureOrSkip skips the test, saying why, where this process may not
// capture packets (it needs root or CAP_NET_RAW, and Linux).
func captureOrSkip(t *testing.T) {
	t.Helper()
	c, err := capture.Open(capture.Config{})
	if errors.Is(err, capture.ErrPermission) || errors.Is(err, capture.ErrUnsupported) {
		t.Skipf("no live capture here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// what names an event for checkOrder: "client connect-done", or for a
// packet "wire SYN ACK server len 0" (its flags, who sent it, its
// length) or "wire DNS resolver" (who sent it).
func what(e tracer.Event) string {
	if p := e.Packet; p != nil {
		if p.DNS != "" {
			return "wire DNS " + p.From
		}
		return fmt.Sprintf("wire %s %s len %d", p.Flags, p.From, p.Len)
	}
	return e.Actor + " " + string(e.Phase)
}

// checkOrder checks that events has, in this order (others may come
// between), an event whose name starts with each of want.
func checkOrder(t *testing.T, events []tracer.Event, want ...string) {
	t.Helper()
	i := 0
	for _, w := range want {
		for i < len(events) && !strings.HasPrefix(what(events[i]), w) {
			i++
		}
		if i == len(events) {
			var all strings.Builder
			for _, e := range events {
				fmt.Fprintf(&all, "  %s\n", what(e))
			}
			t.Fatalf("no %q after the events before it, in the order %q; the events:\n%s", w, want, &all)
		}
		i++
	}
}

// checkTimeOrder checks that the events were printed in time order.
func checkTimeOrder(t *testing.T, events []tracer.Event) {
	t.Helper()
	for i := 1; i < len(events); i++ {
		if events[i].Time.Before(events[i-1].Time) {
			t.Errorf("line %d (%s, %s) printed after line %d (%s, %s), which happened later",
				i+1, what(events[i]), events[i].Time.Format("15:04:05.000000"),
				i, what(events[i-1]), events[i-1].Time.Format("15:04:05.000000"))
		}
	}
}

// TestCapture proves -capture=on with -pcap against an in-process
// server: the JSON trace has the connection's packets (SYN, SYN ACK,
// ACK, the data both ways, the FINs) among the client's events, all in
// true time order, the pcap file holds exactly those packets, mode
// 0600; with -dns the query and the answer are captured too, because
// the DNS server's port is added before the dial.
func TestCapture(t *testing.T) {
	captureOrSkip(t)
	port := echo(t, youSaid, nil)
	labAddr := startLab(t)
	handshake := []string{
		"client connect-start",
		"wire SYN client",
		"wire SYN ACK server",
		"wire ACK client len 0",
		"client connect-done",
		"client write",
		"wire PSH ACK client len 18",
		"wire PSH ACK server len 29",
		"client read",
		"client close",
		"wire FIN ACK client",
		"wire FIN ACK server",
		"wire ACK client len 0",
	}
	tests := []struct {
		name, host, dns string
		want            []string
	}{
		{name: "IP literal", host: "127.0.0.1", want: append([]string{"client dns-skip"}, handshake...)},
		{name: "-dns", host: "chuck.norris.test", dns: labAddr.String(),
			want: append([]string{"client dns-start", "wire DNS resolver", "wire DNS dns", "client dns-done"}, handshake...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "c.pcapng")
			var stdout, stderr strings.Builder
			cfg := config{addr: fmt.Sprintf("%s:%d", tt.host, port), msg: "I am Chuck Norris!", dns: tt.dns,
				json: true, timeout: 10 * time.Second, capture: wire.ModeOn, pcap: pcap}
			if err := run(context.Background(), cfg, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v", err)
			}
			ev := events(t, stdout.String())
			checkTimeOrder(t, ev)
			checkOrder(t, ev, tt.want...)
			packets := 0
			for _, e := range ev {
				if e.Phase == tracer.PhasePacket {
					packets++
				}
				if e.Actor == "wire" && e.Phase != tracer.PhasePacket {
					t.Errorf("the capture had trouble: %s %s", e.Phase, tracer.Detail(e))
				}
			}
			saved, err := capture.ReadFile(pcap)
			if err != nil {
				t.Fatal(err)
			}
			if len(saved) != packets {
				t.Errorf("the pcap file holds %d packets, the trace showed %d", len(saved), packets)
			}
			if fi, err := os.Stat(pcap); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("pcap file: %v, %v; want mode 0600", fi.Mode(), err)
			}
			wantSeed := fmt.Sprintf("CONNECTED TO: %s\nDATA: You said \"I am Chuck Norris!\"\nConnection closed\n", cfg.addr)
			if withoutStates(stderr.String()) != wantSeed {
				t.Errorf("stderr:\n%s\nwant:\n%s", &stderr, wantSeed)
			}
		})
	}
}

// TestCapturePretty proves the end of the pretty output with capture:
// the seed's lines in their place among the packets, the ladder of the
// connection, the packet count and where they were saved; and -mermaid.
func TestCapturePretty(t *testing.T) {
	captureOrSkip(t)
	port := echo(t, youSaid, nil)
	dir := t.TempDir()
	pcap, mermaid := filepath.Join(dir, "c.pcapng"), filepath.Join(dir, "c.md")
	var stdout, stderr strings.Builder
	cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", port), msg: "hi", timeout: 10 * time.Second,
		capture: wire.ModeOn, pcap: pcap, mermaid: mermaid}
	if err := run(context.Background(), cfg, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := stdout.String()
	want := []string{"CONNECT ", "SYN ", "SYN ACK", "CONNECTED ", "CONNECTED TO: ", "WRITE", "PSH ACK",
		"PSH ACK", "READ", "DATA: ", "CLOSE ", "FIN ACK", "Connection closed\n",
		"\nThe ladder: each connection", "Connection #1\n", "── SYN seq 0 ─", "  Dial returns │", "── FIN ACK ",
		"\nCaptured ", "Saved to " + pcap + ": tshark -r " + pcap + "\n"}
	if !inOrder(out, want...) {
		t.Errorf("want %q in this order in:\n%s", want, out)
	}
	saved, err := capture.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("\nCaptured %d packets on lo", len(saved)); !strings.Contains(out, want) {
		t.Errorf("the file holds %d packets; want %q in:\n%s", len(saved), want, out)
	}
	md, err := os.ReadFile(mermaid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(md), "sequenceDiagram\n    participant C1 as client 127.0.0.1#58;") ||
		!strings.Contains(string(md), "C1->>S1: SYN seq 0\n") || !strings.Contains(string(md), "Note left of C1: Dial returns\n") {
		t.Errorf("the Mermaid file does not draw connection 1:\n%s", md)
	}
	if withoutStates(stderr.String()) != "" {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
}

// TestCaptureOff proves -capture=off in the pretty output: no packet,
// no ladder, no count; -mermaid draws the client's calls alone.
func TestCaptureOff(t *testing.T) {
	port := echo(t, youSaid, nil)
	mermaid := filepath.Join(t.TempDir(), "c.md")
	var stdout, stderr strings.Builder
	cfg := config{addr: fmt.Sprintf("127.0.0.1:%d", port), msg: "hi", timeout: 10 * time.Second, capture: wire.ModeOff, mermaid: mermaid}
	if err := run(context.Background(), cfg, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	md, err := os.ReadFile(mermaid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Note left of C1: Dial returns\n") || strings.Contains(string(md), "->>") {
		t.Errorf("want the client's calls and no segment in the Mermaid file:\n%s", md)
	}
	out := stdout.String()
	for _, bad := range []string{" wire   ", "The ladder", "Captured "} {
		if strings.Contains(out, bad) {
			t.Errorf("-capture=off, yet %q in:\n%s", bad, out)
		}
	}
	// After the seed's last line only what the kernel says of the
	// socket the client let go of may follow.
	_, after, found := strings.Cut(out, "Connection closed\n")
	if !found || stderr.Len() > 0 {
		t.Errorf("want the output to end with Connection closed, and no stderr; got:\n%s\nstderr: %q", out, stderr.String())
	}
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "  ") && strings.Contains(line, " ms  ") && !strings.Contains(line, "  kernel #1  STATE ") {
			t.Errorf("after Connection closed: %q", line)
		}
	}
}
