// Package link joins a client and a server, each in a network namespace
// of its own, through a link that this program controls: every frame
// from one to the other passes through it, so it can delay, drop,
// duplicate or reorder TCP segments on purpose, chosen by [Rule]s.
//
// A program already in a lab (see tracer/lab) makes the link, then runs
// its server in one namespace and its client in the other:
//
//	l, err := link.New(link.Config{
//		DelayToServer: 10 * time.Millisecond,
//		DelayToClient: 10 * time.Millisecond,
//		Rules: []link.Rule{{Dir: link.FromClient, Kind: link.Data, Index: 3, Action: link.Drop}},
//		OnEvent: func(e link.Event) { fmt.Println(e) },
//	})
//	if err != nil { ... }
//	defer l.Close()
//	var ln net.Listener
//	err = l.InServer(func() (err error) { ln, err = net.Listen("tcp", "192.0.2.2:7000"); return err })
//	var c net.Conn
//	err = l.InClient(func() (err error) { c, err = net.Dial("tcp", "192.0.2.2:7000"); return err })
//
// A direction may also be limited to a rate, in bytes a second, with a
// queue of a given length in frames (Config.RateToServer, RateToClient,
// Queue, or SetRate while it runs), as a slower link on the path: a
// sender that sends faster fills the queue, and each frame waits there
// longer, so the round trip grows (bufferbloat); a frame that finds
// the queue full is dropped (tail drop) and reported as an Event with
// TailDrop set. That is the one loss no rule picks, and it is not the
// same from run to run. Rules stay deterministic: they pick segments by
// their kind, direction and index, which the sender decides.
//
// The link is two veth pairs, one from each namespace to the namespace
// of the program (the middle), bridged there by two AF_PACKET sockets.
// Segmentation and checksum offloads are turned off so that each frame
// is one real segment of at most the MTU (1500 bytes).
package link
