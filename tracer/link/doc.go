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
// The link is two veth pairs, one from each namespace to the namespace
// of the program (the middle), bridged there by two AF_PACKET sockets.
// Segmentation and checksum offloads are turned off so that each frame
// is one real segment of at most the MTU (1500 bytes).
package link
