package main

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
)

// quizOf runs inspect -quiz on a capture and returns what follows the
// ladders.
func quizOf(t *testing.T, cfg config) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(out.String(), "\nQuestions about this capture\n")
	if i < 0 {
		t.Fatalf("no questions:\n%s", out.String())
	}
	if !strings.Contains(out.String()[:i], "Connection #") {
		t.Errorf("the questions do not follow the timeline and ladders:\n%s", out.String())
	}
	return out.String()[i:]
}

// Printed with their answers, each with its packet's line; with -conn,
// only about the connection kept.
func TestQuizPrinted(t *testing.T) {
	q := quizOf(t, config{file: "testdata/lesson11.pcapng", quiz: true, noColor: true})
	if n := strings.Count(q, "Answer: "); n < 3 || n > 5 {
		t.Errorf("%d answers:\n%s", n, q)
	}
	if strings.Count(q, "Answer: ") != strings.Count(q, "  wire   #") {
		t.Errorf("not one packet under each answer:\n%s", q)
	}
	q = quizOf(t, config{file: "testdata/lesson11.pcapng", quiz: true, noColor: true, conn: "3"})
	if strings.Count(q, "connection #3") == 0 || strings.Contains(q, "connection #1") || strings.Contains(q, "connection #2") {
		t.Errorf("-conn 3: questions about other connections:\n%s", q)
	}
	// The same questions each time.
	if again := quizOf(t, config{file: "testdata/lesson11.pcapng", quiz: true, noColor: true, conn: "3"}); again != q {
		t.Errorf("asked\n%s\nthen\n%s", q, again)
	}
}

// Asked: replies read from quizIn, the first one right.
func TestQuizAsked(t *testing.T) {
	// The first answer, as a run that prints them gives it.
	printed := quizOf(t, config{file: "testdata/lesson03.pcapng", quiz: true, noColor: true})
	_, rest, _ := strings.Cut(printed, "Answer: ")
	first, _, _ := strings.Cut(rest, ". ")
	q := quizOf(t, config{file: "testdata/lesson03.pcapng", quiz: true, noColor: true,
		quizAsk: true, quizIn: strings.NewReader("  " + first + " \nnonsense\n")})
	for _, want := range []string{"Right: " + first + ".", "Not quite: the answer is", "1 of "} {
		if !strings.Contains(q, want) {
			t.Errorf("lacks %q:\n%s", want, q)
		}
	}
}

func TestQuizFlags(t *testing.T) {
	for _, args := range [][]string{{"-quiz", "-json", "x.pcap"}, {"x.pcap", "-stats", "-quiz"}} {
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err == nil || !strings.Contains(stderr.String(), "-quiz asks a person") {
			t.Errorf("%v: %v, %q", args, err, stderr.String())
		}
	}
	cfg, err := parseFlags([]string{"-quiz", "-conn", "2", "x.pcap"}, io.Discard)
	if err != nil || !cfg.quiz || cfg.quizAsk {
		t.Errorf("%+v, %v", cfg, err)
	}
}

// A connection whose ladder was cut short is left out of the questions,
// and the heading says what they are about.
func TestQuizLeavesOutCutConns(t *testing.T) {
	t0 := time.Now()
	seg := func(conn int, ms int, from, flags string, seq, ack uint32) tracer.Event {
		to := map[string]string{"client": "server", "server": "client"}[from]
		port := map[string]uint16{"client": 40000, "server": 80}
		return tracer.Event{Time: t0.Add(time.Duration(ms) * time.Millisecond), Conn: conn, Actor: "wire", Phase: tracer.PhasePacket,
			Packet: &tracer.Packet{Proto: "tcp", From: from, To: to, Flags: flags, Seq: seq, Ack: ack,
				Src: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port[from]+uint16(conn)),
				Dst: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), port[to]+uint16(conn))}}
	}
	hs := func(conn, ms int) []tracer.Event {
		return []tracer.Event{seg(conn, ms, "client", "SYN", 0, 0), seg(conn, ms+1, "server", "SYN ACK", 0, 1), seg(conn, ms+2, "client", "ACK", 1, 1)}
	}
	var out bytes.Buffer
	in := &inspector{cfg: config{quiz: true, noColor: true}, conns: []int{1, 2},
		ladders: map[int]*ladder{1: {events: hs(1, 0), more: 9}, 2: {events: hs(2, 10)}}}
	if err := in.quiz(&out); err != nil {
		t.Fatal(err)
	}
	q := out.String()
	if strings.Contains(q, "connection #1") || !strings.Contains(q, "connection #2") || !strings.Contains(q, "each of at most 400 segments") {
		t.Errorf("connection #1 was cut short:\n%s", q)
	}
}
