// Package kernel asks the Linux kernel about TCP sockets: what state
// each is in, what its queues hold, what timer runs on it, and its
// TCP_INFO, so that a program can say "the client's socket is now in
// TIME_WAIT for about 60 s" because the kernel said so.
//
// Two ways in:
//
//   - [Lookup] (and [StateOf], [States], [Wait], [WaitState],
//     [WaitGone]) asks the kernel's socket diagnostics (sock_diag over
//     netlink, the interface ss uses, sent with
//     github.com/vishvananda/netlink/nl) about one five-tuple: one exact
//     lookup in the kernel's socket tables, rather than a dump of every
//     socket. It finds sockets no program holds any more (FIN_WAIT_2,
//     LAST_ACK, TIME_WAIT after Close) and connections no program has
//     accepted yet. [Sockets] is the dump, for a socket whose tuple is
//     not known yet: `ss -tan state STATE`. Each Lookup opens a netlink
//     socket and closes it; a program that asks often opens a [Diag]
//     once and asks through it (three system calls a question instead
//     of about eight).
//   - [TCPInfo] reads TCP_INFO (getsockopt) through a connection the
//     program holds: state, round-trip time, congestion window, MSS,
//     unacknowledged and retransmitted segments, bytes acknowledged and
//     received. Lookup's answer carries the same [Info] for sockets that
//     have one. [StartSampler] reads it over and over from a goroutine,
//     about once a round trip, until stopped: the congestion window and
//     the segments in flight ([Info.InFlight]) over a transfer.
//
// A tuple is seen from its socket's own end: the client's Local is the
// client's address, the server's Local the server's, so one connection
// has two tuples, one per end, each with its own state. None of this
// needs privilege.
//
// There is no notification of a change of state: [Wait], [WaitState]
// and [WaitGone] poll, every millisecond, until the state is reached.
//
// [Watch] is the exception, and needs root (CAP_PERFMON): it reads the
// kernel's own record of every change, the tracepoint
// sock:inet_sock_set_state (with perf_event_open), and hands each change
// of a TCP socket on the ports it is given to a function, with the
// kernel's time of it, even the states that last microseconds
// (SYN_RECV, LAST_ACK) and that polling misses. A connecting socket's
// first change (CLOSE→SYN_SENT) has local port 0, and an active closer's
// socket ends with FIN_WAIT_2→CLOSE: the kernel keeps TIME_WAIT in a
// mini-socket of its own that the tracepoint does not see, but
// [WaitState] does. [Watcher.Sync] hands over every change made before
// it, so a program can act, Sync, and print what the kernel did.
//
// On systems other than Linux every function returns an error matching
// [ErrUnsupported].
//
// # Example
//
// The client closes first, so its end of the connection is left in
// TIME_WAIT once the server has closed too:
//
//	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
//	client, _ := net.Dial("tcp4", ln.Addr().String())
//	server, _ := ln.Accept()
//	ft := tracer.FiveTuple{Proto: "tcp",
//		Local:  client.LocalAddr().(*net.TCPAddr).AddrPort(),
//		Remote: client.RemoteAddr().(*net.TCPAddr).AddrPort()}
//
//	client.Close()     // the client's FIN
//	io.ReadAll(server) // the server reads until EOF,
//	server.Close()     // then sends its own FIN
//	if err := kernel.WaitState(ctx, ft, kernel.TimeWait); err != nil {
//		return err
//	}
//	s, err := kernel.StateOf(ft)
//	if err != nil {
//		return err // ErrNotFound: the kernel holds no such socket (any more)
//	}
//	fmt.Println(s) // TIME_WAIT: Linux keeps it for 60 s
//
// Compare with what ss says: ss -tan state time-wait. The listener's
// queue, as lesson 07 shows it:
//
//	s, err := kernel.Lookup(tracer.FiveTuple{Proto: "tcp", Local: listenerAddr})
//	fmt.Println(s.RecvQ, "connections wait for Accept; the backlog is", s.SendQ)
//
// and what the kernel's TCP knows about a connection the program holds:
//
//	info, err := kernel.TCPInfo(conn) // a *net.TCPConn, or a tracer conn
//	fmt.Println(info.State, info.RTT, info.SndCwnd, info.BytesAcked)
//
// and how it changes over a transfer, sampled about once a round trip:
//
//	s, err := kernel.StartSampler(conn, 0)
//	conn.Write(data)
//	samples, err := s.Stop()
//	for _, smp := range samples {
//		fmt.Println(smp.Time.Sub(samples[0].Time), smp.Info.SndCwnd, smp.Info.InFlight())
//	}
package kernel
