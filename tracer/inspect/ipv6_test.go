package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"tcptour/tracer"
)

// lesson16 is the client's end of a run of lesson 16 (go run
// ./lessons/16 --pcap, then tshark -Y 'frame.interface_name ==
// "client"'): connection 1 is IPv6, 2 the same exchange over IPv4 (a
// lookup, handshake, the client's close), 3 an IPv6 SYN answered with
// RST and 4 its IPv4 fallback, 5 an IPv6 SYN the link dropped and 6 the
// IPv4 SYN 300 ms later.
const lesson16 = "testdata/lesson16.pcapng"

// numbers stand for what differs between two runs of one exchange:
// addresses, ports, windows, MSS values, times.
var numbers = regexp.MustCompile(`\[?[0-9a-f:.]*[0-9][0-9a-f:.]*\]?`)

// TestIPv6LikeIPv4 checks that inspect decodes IPv6 segments and gives
// them the notes it gives IPv4 ones: connection 1 (IPv6) and 2 (IPv4)
// of lesson 16 are the same exchange, and their packets get the same
// labels and the same notes, numbers aside; so do the refused IPv6
// attempt and the dropped one.
func TestIPv6LikeIPv4(t *testing.T) {
	out, errOut, err := runInspect(t, config{file: lesson16, json: true})
	if err != nil || errOut != "" {
		t.Fatalf("run: %v, stderr %q", err, errOut)
	}
	type pkt struct{ label, note string }
	conns := map[int][]pkt{}
	family := map[int]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e tracer.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Conn == 0 || e.Packet == nil {
			continue
		}
		p := e.Packet
		f := "IPv4"
		if p.Src.Addr().Is6() {
			f = "IPv6"
		}
		if family[e.Conn] != "" && family[e.Conn] != f {
			t.Errorf("connection %d mixes families", e.Conn)
		}
		family[e.Conn] = f
		conns[e.Conn] = append(conns[e.Conn], pkt{p.From + " " + p.Flags, numbers.ReplaceAllString(e.Note, "N")})
	}
	want := map[int]string{1: "IPv6", 2: "IPv4", 3: "IPv6", 4: "IPv4", 5: "IPv6", 6: "IPv4"}
	for c, f := range want {
		if family[c] != f {
			t.Errorf("connection %d is %q, want %s", c, family[c], f)
		}
	}
	if len(conns[1]) != 6 || !slices.Equal(conns[1], conns[2]) {
		t.Errorf("the IPv6 connection's packets and notes differ from the IPv4 one's:\nIPv6: %q\nIPv4: %q", conns[1], conns[2])
	}
	if len(conns[3]) != 2 || conns[3][1].label != "server RST ACK" || !strings.Contains(conns[3][1].note, "the connection is refused (ECONNREFUSED)") {
		t.Errorf("the refused IPv6 attempt: %q, want SYN then RST ACK, the RST explained", conns[3])
	}
	if len(conns[5]) != 1 || conns[5][0].label != "client SYN" {
		t.Errorf("the dropped IPv6 attempt: %q, want one SYN", conns[5])
	}
	// The SYN notes of each family: the same words, the MSS its own.
	if !strings.Contains(out, "1440 bytes of payload (MSS)") || !strings.Contains(out, "1460 bytes of payload (MSS)") {
		t.Error("want the IPv6 SYNs' MSS, 1440 (1500 - 40 - 20), and the IPv4 ones', 1460, in the notes")
	}
}

// TestIPv6Ladder checks the ladders: the IPv6 connection's is the IPv4
// one's, arrow for arrow, and its header, with the longer addresses in
// brackets, is as wide.
func TestIPv6Ladder(t *testing.T) {
	out, errOut, err := runInspect(t, config{file: lesson16, noColor: true})
	if err != nil || errOut != "" {
		t.Fatalf("run: %v, stderr %q", err, errOut)
	}
	ladder := func(n int) (header string, arrows []string) {
		_, rest, ok := strings.Cut(out, "\nConnection #"+strconv.Itoa(n)+"\n")
		if !ok {
			t.Fatalf("no ladder for connection %d", n)
		}
		rest, _, _ = strings.Cut(rest, "\n\n")
		lines := strings.Split(rest, "\n")
		return lines[0], lines[1:]
	}
	h6, a6 := ladder(1)
	h4, a4 := ladder(2)
	if !strings.Contains(h6, "client [2001:db8::1]:") || !strings.Contains(h6, "server [2001:db8::2]:") {
		t.Errorf("the IPv6 ladder's header: %q", h6)
	}
	if utf8.RuneCountInString(h6) != utf8.RuneCountInString(h4) {
		t.Errorf("the headers differ in width:\n%s\n%s", h6, h4)
	}
	if len(a6) != 6 || !slices.Equal(a6, a4) {
		t.Errorf("the IPv6 ladder:\n%s\nthe IPv4 one:\n%s", strings.Join(a6, "\n"), strings.Join(a4, "\n"))
	}
}

// lesson16Both is the whole pcapng of a run of lesson 16 (go run
// ./lessons/16 --pcap, as nobody): two interfaces, the client's end and
// the server's, so each segment that crossed the link is in it twice.
const lesson16Both = "testdata/lesson16-both.pcapng"

// TestTwoInterfaces checks that inspect explains a file captured at two
// interfaces as the lesson did: each packet says where it was captured,
// and the second copy of a segment, seen at the other end, is not taken
// for a retransmission (tshark, reading the file as one stream, marks
// them so; the lesson sent none).
func TestTwoInterfaces(t *testing.T) {
	out, errOut, err := runInspect(t, config{file: lesson16Both, json: true})
	if err != nil || errOut != "" {
		t.Fatalf("run: %v, stderr %q", err, errOut)
	}
	at := map[string]int{}
	syns := map[string]int{} // by connection and end
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e tracer.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		p := e.Packet
		if p == nil {
			continue
		}
		at[p.At]++
		if len(p.Analysis) > 0 {
			t.Errorf("%s %s at %s: analysis %v, want none", p.From, p.Flags, p.At, p.Analysis)
		}
		if p.Flags == "SYN" {
			syns[strconv.Itoa(e.Conn)+" at "+p.At]++
		}
	}
	if len(at) != 2 || at["client"] == 0 || at["server"] == 0 {
		t.Errorf("packets by interface %v, want client and server only", at)
	}
	// Each connection's SYN once at the client; at the server too, but
	// for connection 5's, which the link dropped.
	for c := 1; c <= 6; c++ {
		want := map[string]int{"client": 1, "server": 1}
		if c == 5 {
			want["server"] = 0
		}
		for end, n := range want {
			if got := syns[strconv.Itoa(c)+" at "+end]; got != n {
				t.Errorf("connection %d: %d SYNs at %s, want %d", c, got, end, n)
			}
		}
	}
	text, _, err := runInspect(t, config{file: lesson16Both, noColor: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "captured at 2 interfaces (client, server), each explained as its end saw it") {
		t.Errorf("the summary does not name the two interfaces:\n%s", text)
	}
}

// lesson15Both is the whole pcapng of a run of lesson 15 (as nobody):
// in its step 3 the link is cut, and the client's RST is lost.
const lesson15Both = "testdata/lesson15-both.pcapng"

// TestResetAtOneEnd checks that at one end of a link, a RST that end
// sends is said to drop the connection at the other end if it arrives
// and that end still holds it (the client's RST of step 3 never
// arrived), while a RST seen arriving is said to drop it, plainly.
func TestResetAtOneEnd(t *testing.T) {
	out, errOut, err := runInspect(t, config{file: lesson15Both, json: true})
	if err != nil || errOut != "" {
		t.Fatalf("run: %v, stderr %q", err, errOut)
	}
	sent, received := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e tracer.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		p := e.Packet
		if p == nil || !strings.Contains(p.Flags, "RST") || !strings.Contains(e.Note, "then fails with ECONNRESET (connection reset by peer)") {
			continue
		}
		conditional := strings.Contains(e.Note, "If it arrives, and the "+p.To+"'s kernel still holds the connection (this end cannot see whether it does")
		switch {
		case p.At == p.From:
			sent++
			if !conditional {
				t.Errorf("a RST seen leaving the %s: note %q, want it conditional", p.At, e.Note)
			}
		default:
			received++
			if conditional {
				t.Errorf("a RST seen arriving at the %s: note %q, want it plain", p.At, e.Note)
			}
		}
	}
	if sent == 0 || received == 0 {
		t.Errorf("%d RSTs seen leaving, %d arriving: want some of each", sent, received)
	}
}
