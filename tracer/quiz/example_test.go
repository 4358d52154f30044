package quiz_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/quiz"
)

// A handshake, as a trace holds it: the questions it answers, printed
// with their answers (nobody is asked).
func ExampleMake() {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	client := netip.MustParseAddrPort("127.0.0.1:43210")
	server := netip.MustParseAddrPort("127.0.0.1:6969")
	seg := func(us int, from, flags string, seq, ack uint32, win int, opts string) tracer.Event {
		p := &tracer.Packet{Proto: "tcp", From: from, Flags: flags, Seq: seq, Ack: ack, Window: win, Options: opts,
			Src: client, Dst: server, To: "server"}
		if from == "server" {
			p.Src, p.Dst, p.To = server, client, "client"
		}
		d := time.Duration(us) * time.Microsecond
		return tracer.Event{Time: t0.Add(d), Elapsed: d, Actor: "wire", Conn: 1, Phase: tracer.PhasePacket, Packet: p}
	}
	events := []tracer.Event{
		seg(100, "client", "SYN", 0, 0, 65495, "mss 65495 sack ts ws 7"),
		seg(120, "server", "SYN ACK", 0, 1, 65483, "mss 65495 sack ts ws 7"),
		seg(130, "client", "ACK", 1, 1, 65536, ""),
	}
	q := quiz.Make(events)
	for _, qu := range q.Questions {
		fmt.Printf("%s: %s\n", qu.Name, qu.Answer)
		if qu.Name == "syn-window" {
			fmt.Println(qu.Check("win 65,495"), qu.Check("65483"), qu.Check(""), qu.Check("I don't know"))
		}
	}
	_ = quiz.Ask(context.Background(), nil, os.Stdout, quiz.Quiz{Questions: q.Questions[:1]}, quiz.Options{})
	// Output:
	// syn-window: 65495
	// right wrong skipped skipped
	// server-mss: 65495
	// handshake-segments: 3
	// handshake-time: 0.030 ms
	//
	// Questions from your own run
	//   Each with its answer, and the event in the trace that shows it.
	//
	//   1. What receive window did the client advertise in its SYN, in connection #1?
	//      Answer: 65495. The SYN's win:
	//    +0.100 ms  wire   #1  SYN        client → server  seq 0 win 65495  mss 65495 sack ts ws 7
}
