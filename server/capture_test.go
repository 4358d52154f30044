package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// jsonEvents decodes the JSON lines of a trace, in the order printed.
func jsonEvents(t *testing.T, lines string) []tracer.Event {
	t.Helper()
	var ev []tracer.Event
	for i, line := range strings.Split(strings.TrimSuffix(lines, "\n"), "\n") {
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

// what names an event for checkOrder: "server accept", or for a packet
// "wire SYN ACK server len 0" (its flags, who sent it, its length).
func what(e tracer.Event) string {
	if p := e.Packet; p != nil {
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

// TestCapture proves -capture=on with -pcap and -mermaid: a client's
// packets are in the server's JSON trace, among the server's own
// events and in true time order, though they come from the capture's
// goroutine after the events that caused them; the pcap file holds the
// same packets; the Mermaid file draws the connection.
func TestCapture(t *testing.T) {
	captureOrSkip(t)
	dir := t.TempDir()
	pcap, mermaid := filepath.Join(dir, "s.pcapng"), filepath.Join(dir, "s.md")
	r := start(t, config{json: true, capture: wire.ModeOn, pcap: pcap, mermaid: mermaid})
	c := dial(t, r.addr)
	// Wait for the accept: a client that writes at once may have its
	// data on the wire before Accept returns, and the trace shows that.
	r.errOut.waitFor(t, "CONNECTED: ")
	say(t, c, "I am Chuck Norris!", `You said "I am Chuck Norris!"`)
	c.Close()
	r.errOut.waitFor(t, "CLOSED: ")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	ev := jsonEvents(t, r.out.String())
	checkTimeOrder(t, ev)
	checkOrder(t, ev,
		"server listen",
		"wire SYN client",
		"wire SYN ACK server",
		"wire ACK client len 0",
		"server accept",
		"wire PSH ACK client len 18",
		"server read",
		"server write",
		"wire PSH ACK server len 29",
		"wire FIN ACK client",
		"server eof",
		"server close",
		"wire FIN ACK server",
		"wire ACK client len 0",
		"server close", // the listener
	)
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
	md, err := os.ReadFile(mermaid)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("sequenceDiagram\n    participant C1 as client %s#58;", r.addr.Addr()); !strings.HasPrefix(string(md), want) ||
		!strings.Contains(string(md), "C1->>S1: SYN seq 0\n") {
		t.Errorf("the Mermaid file does not draw connection 1 from its SYN:\n%s", md)
	}
	seed := []string{"Server listening on ", "CONNECTED: ", "DATA ", "CLOSED: ", "Server closed\n"}
	if !inOrder(r.errOut.String(), seed...) {
		t.Errorf("stderr lacks the seed's lines %q:\n%s", seed, r.errOut)
	}
}

// TestCapturePretty proves that the pretty output keeps the seed's
// lines in their place among the packets: CONNECTED after the
// handshake and the accept, DATA after the data arrived, CLOSED after
// the server's FIN.
func TestCapturePretty(t *testing.T) {
	captureOrSkip(t)
	r := start(t, config{capture: wire.ModeOn})
	c := dial(t, r.addr)
	r.out.waitFor(t, "CONNECTED: ")
	say(t, c, "hi", `You said "hi"`)
	c.Close()
	r.out.waitFor(t, "CLOSED: ")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	out := r.out.String()
	want := []string{"LISTEN", "Server listening on ", "SYN ", "SYN ACK", "ACCEPT", "CONNECTED: ",
		"PSH ACK", "READ", "DATA ", "WRITE", "PSH ACK", "EOF", "CLOSE ", "FIN ACK", "CLOSED: ",
		"listener ", "Server closed\n", "\nCaptured "}
	if !inOrder(out, want...) {
		t.Errorf("want %q in this order in:\n%s", want, out)
	}
	if strings.Contains(out, "Saved to") {
		t.Errorf("says it saved packets without -pcap:\n%s", out)
	}
}

// TestCaptureOff proves -capture=off: no packet in the trace and
// nothing on stderr but the seed's lines, wherever the test runs;
// -mermaid draws the server's calls alone.
func TestCaptureOff(t *testing.T) {
	mermaid := filepath.Join(t.TempDir(), "s.md")
	r := start(t, config{json: true, capture: wire.ModeOff, mermaid: mermaid})
	c := dial(t, r.addr)
	say(t, c, "hi", `You said "hi"`)
	c.Close()
	r.errOut.waitFor(t, "CLOSED: ")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for _, e := range jsonEvents(t, r.out.String()) {
		if e.Actor != "server" && e.Phase != tracer.PhaseState {
			t.Errorf("event %d: %s %s, want only the server's events", e.Seq, e.Actor, e.Phase)
		}
	}
	md, err := os.ReadFile(mermaid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Note right of S1: Accept returns\n") || strings.Contains(string(md), "->>") {
		t.Errorf("want the server's calls and no segment in the Mermaid file:\n%s", md)
	}
	for _, line := range strings.Split(strings.TrimSuffix(r.errOut.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "Server ") && !strings.HasPrefix(line, "CONNECTED: ") &&
			!strings.HasPrefix(line, "DATA ") && !strings.HasPrefix(line, "CLOSED: ") {
			t.Errorf("stderr has %q, want only the seed's lines", line)
		}
	}
}
