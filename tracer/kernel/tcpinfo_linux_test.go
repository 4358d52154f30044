package kernel_test

import (
	"io"
	"net"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

func TestTCPInfo(t *testing.T) {
	rawClient, rawServer := pair(t, "tcp4", "127.0.0.1:0")
	// The tracer's connections wrap the *net.TCPConn; TCPInfo unwraps
	// them with NetConn.
	client, server := tracer.WrapConn(rawClient, nil), tracer.WrapConn(rawServer, nil)
	if _, err := io.WriteString(client, "I am Chuck Norris!"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := io.ReadFull(server, buf[:18]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(server, "You said it"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, buf[:11]); err != nil {
		t.Fatal(err)
	}
	// The server's ACK of the client's 18 bytes may still be on its
	// way: wait until the kernel has it.
	if _, err := kernel.Wait(wait(t), tuple(rawClient), "all acknowledged", func(s kernel.Socket) bool { return s.SendQ == 0 }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		c               net.Conn
		acked, received uint64
	}{
		// The client's SYN counts as one byte acknowledged.
		{"client", client, 19, 11},
		{"server", server, 11, 18},
	} {
		i, err := kernel.TCPInfo(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if i.State != kernel.Established || i.RTT <= 0 || i.RTO < 200*time.Millisecond || i.SndCwnd == 0 || i.SndMSS == 0 || i.RcvMSS == 0 {
			t.Errorf("%s: %+v, want ESTABLISHED with an RTT, an RTO of 200 ms or more, a window and an MSS", tc.name, i)
		}
		if i.SndWnd == 0 {
			t.Errorf("%s: %+v, want the peer's window, open", tc.name, i)
		}
		if i.Unacked != 0 || i.TotalRetrans != 0 {
			t.Errorf("%s: %+v, want nothing unacknowledged or retransmitted on loopback", tc.name, i)
		}
		if i.BytesReceived != tc.received {
			t.Errorf("%s: %d bytes received, want %d", tc.name, i.BytesReceived, tc.received)
		}
		// The server's side may not have the client's ACK yet.
		if tc.name == "client" && i.BytesAcked != tc.acked {
			t.Errorf("%s: %d bytes acked, want %d", tc.name, i.BytesAcked, tc.acked)
		}
	}
	// The kernel's answer to a lookup carries the same TCP_INFO.
	s, err := kernel.Lookup(tuple(rawClient))
	if err != nil {
		t.Fatal(err)
	}
	if s.Info == nil || s.Info.BytesAcked != 19 || s.Info.BytesReceived != 11 || s.Info.SndMSS == 0 {
		t.Errorf("Lookup's TCP_INFO: %+v, want the client's", s.Info)
	}
}

// TCP_INFO follows the socket through the states its program sees:
// after CloseWrite the client's socket waits for the server's FIN in
// FIN_WAIT_2, and the server's in CLOSE_WAIT; once the server has
// closed too, the client's own socket is CLOSE, while the kernel keeps
// the connection's TIME_WAIT in a socket of its own.
func TestTCPInfoStates(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	readEOF(t, server)
	if err := kernel.WaitState(wait(t), tuple(client), kernel.FinWait2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    net.Conn
		want kernel.State
	}{{client, kernel.FinWait2}, {server, kernel.CloseWait}} {
		if i, err := kernel.TCPInfo(tc.c); err != nil || i.State != tc.want {
			t.Errorf("TCPInfo(%s) = %v, %v; want %s", tuple(tc.c), i, err, tc.want)
		}
	}
	server.Close()
	readEOF(t, client)
	if err := kernel.WaitState(wait(t), tuple(client), kernel.TimeWait); err != nil {
		t.Fatal(err)
	}
	if i, err := kernel.TCPInfo(client); err != nil || i.State != kernel.Close {
		t.Errorf("TCPInfo(client) in TIME_WAIT = %v, %v; want CLOSE: the program's socket is done", i, err)
	}
}

func TestTCPInfoErrors(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := kernel.TCPInfo(a); err == nil {
		t.Error("TCPInfo(net.Pipe) succeeded; a pipe has no socket")
	}
	client, _ := pair(t, "tcp4", "127.0.0.1:0")
	client.Close()
	if _, err := kernel.TCPInfo(client); err == nil {
		t.Error("TCPInfo on a closed connection succeeded")
	}
}

func TestInfoString(t *testing.T) {
	for _, tc := range []struct {
		i    *kernel.Info
		want string
	}{
		{nil, "no TCP_INFO"},
		{&kernel.Info{State: kernel.Listen, Unacked: 3}, "LISTEN 3 waiting for Accept"},
		{&kernel.Info{State: kernel.FinWait1, RTT: 31 * time.Microsecond, RTTVar: 15 * time.Microsecond, RTO: 201 * time.Millisecond,
			SndCwnd: 10, SndMSS: 32768, Unacked: 1, TotalRetrans: 2, BytesAcked: 18, BytesReceived: 29},
			"FIN_WAIT_1 rtt 0.031 ms ±0.015 ms rto 201.000 ms cwnd 10 mss 32768 unacked 1 retrans 2 acked 18 B received 29 B"},
	} {
		if got := tc.i.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// TCPInfoFD reads what TCPInfo reads, through a descriptor the caller
// holds, without allocating.
func TestTCPInfoFD(t *testing.T) {
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	if _, err := io.WriteString(client, "hi"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	raw, err := client.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got kernel.Info
	var ferr error
	read := func(fd uintptr) { ferr = kernel.TCPInfoFD(fd, &got) }
	if err := raw.Control(read); err != nil || ferr != nil {
		t.Fatal(err, ferr)
	}
	want, err := kernel.TCPInfo(client)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != kernel.Established || got.State != want.State || got.SndMSS != want.SndMSS || got.BytesAcked < 2 {
		t.Errorf("TCPInfoFD: %v\nTCPInfo:   %v", &got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = raw.Control(read) }); n != 0 {
		t.Errorf("TCPInfoFD allocates %v times a call, want 0", n)
	}
	// A descriptor that is no socket: an error, not a panic.
	if err := kernel.TCPInfoFD(^uintptr(0), &got); err == nil {
		t.Error("TCPInfoFD on no descriptor: no error")
	}
}
