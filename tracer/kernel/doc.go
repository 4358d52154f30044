// Package kernel asks the Linux kernel what state a TCP socket is in, so
// that a program can say "the client's socket is now in TIME_WAIT"
// because the kernel said so.
//
// It asks through the kernel's socket diagnostics (sock_diag over
// netlink, the interface ss uses, sent with
// github.com/vishvananda/netlink/nl): one exact lookup per five-tuple in
// the kernel's socket tables, TIME_WAIT sockets included, rather than a
// dump of every socket. A tuple is seen from its socket's own end: the
// client's Local is the client's address, the server's Local the
// server's, so one connection has two tuples, one per end, each with
// its own state. Reading states needs no privilege.
//
// There is no notification of a change of state: [WaitState] and
// [WaitGone] poll, every millisecond, until the state is reached.
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
// Compare with what ss says: ss -tan state time-wait.
package kernel
