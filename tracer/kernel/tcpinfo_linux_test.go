package kernel_test

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

func TestInFlight(t *testing.T) {
	for _, tc := range []struct {
		i    kernel.Info
		want uint32
	}{
		{kernel.Info{State: kernel.Established}, 0},
		{kernel.Info{State: kernel.Established, Unacked: 10}, 10},
		// Two of ten SACKed, three taken for lost, one of those resent.
		{kernel.Info{State: kernel.Established, Unacked: 10, Sacked: 2, Lost: 3, Retrans: 1}, 6},
		{kernel.Info{State: kernel.Established, Unacked: 1, Sacked: 2, Lost: 3}, 0},
		// A listener's Unacked is its accept queue.
		{kernel.Info{State: kernel.Listen, Unacked: 3}, 0},
	} {
		if got := tc.i.InFlight(); got != tc.want {
			t.Errorf("%+v: InFlight() = %d, want %d", tc.i, got, tc.want)
		}
	}
	if i := (kernel.Info{SndSsthresh: kernel.InfiniteSsthresh}); !i.SsthreshInfinite() {
		t.Error("SsthreshInfinite() false for 0x7fffffff")
	}
	if i := (kernel.Info{SndSsthresh: 12}); i.SsthreshInfinite() {
		t.Error("SsthreshInfinite() true for 12")
	}
}

// setCongestion sets c's congestion control (TCP_CONGESTION).
func setCongestion(t *testing.T, c net.Conn, name string) {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	}); err != nil || serr != nil {
		t.Skipf("congestion control %s: %v %v", name, err, serr)
	}
}

// transfer sends size bytes from client to server over a fresh loopback
// connection whose sender uses the congestion control cc ("" for the
// default), and returns once the server has read them all and the
// client's kernel has their acknowledgement.
func transfer(t *testing.T, size int, cc string) (client, server net.Conn) {
	t.Helper()
	client, server = pair(t, "tcp4", "127.0.0.1:0")
	if cc != "" {
		setCongestion(t, client, cc)
	}
	read := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, io.LimitReader(server, int64(size)))
		if err == nil && n != int64(size) {
			err = fmt.Errorf("read %d bytes, want %d", n, size)
		}
		read <- err
	}()
	if _, err := client.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if _, err := kernel.Wait(wait(t), tuple(client), "all acknowledged", func(s kernel.Socket) bool { return s.SendQ == 0 }); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// After a transfer on loopback, with everything acknowledged, TCP_INFO
// has nothing in flight; and where nothing was sent again, its
// loss-recovery fields say that nothing went wrong: no timeout, slow
// start never ended.
func TestTCPInfoAfterTransfer(t *testing.T) {
	const size = 4 << 20
	// Reno, unlike CUBIC's HyStart and BBR, leaves slow start only at a
	// loss.
	client, server := transfer(t, size, "reno")
	i, err := kernel.TCPInfo(client)
	if err != nil {
		t.Fatal(err)
	}
	if i.BytesAcked != size+1 || i.BytesSent != size+i.BytesRetrans {
		t.Errorf("bytes acked %d, sent %d, retransmitted %d; want %d acked, %d sent the first time", i.BytesAcked, i.BytesSent, i.BytesRetrans, size+1, size)
	}
	if i.Unacked != 0 || i.Lost != 0 || i.Sacked != 0 || i.Retrans != 0 || i.InFlight() != 0 || i.SndCwnd < 10 || i.DeliveryRate == 0 {
		t.Errorf("%+v: want nothing in flight, a window of 10 or more, a delivery rate", *i)
	}
	if kernel.CountsTimeouts() && i.TotalRTO > uint16(i.TotalRetrans) {
		t.Errorf("%d timeouts, %d retransmissions", i.TotalRTO, i.TotalRetrans)
	}
	// A loaded machine may have had loopback drop a segment (its
	// backlog full), or an ACK late enough for a tail loss probe.
	if i.TotalRetrans != 0 {
		t.Logf("%d segments sent again: %+v", i.TotalRetrans, *i)
	} else if !i.SsthreshInfinite() || i.CAState != kernel.CAOpen || i.TotalRTO != 0 || i.DSACKDups != 0 {
		t.Errorf("%+v: nothing sent again; want ssthresh infinite, Open, no timeout, no D-SACK", *i)
	}
	r, err := kernel.TCPInfo(server)
	if err != nil {
		t.Fatal(err)
	}
	if r.BytesReceived != size {
		t.Errorf("receiver: %+v; want %d bytes received", *r, size)
	}
}

// The fields of TCP_INFO read where this package reads them hold what
// ss reads for the same socket (through socket diagnostics, and its own
// copy of struct tcp_info): the offsets agree with the running kernel's.
func TestTCPInfoMatchesSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss here")
	}
	// The default congestion control: BBR, where it is the default, sets
	// a slow-start threshold that ss prints when it leaves its startup.
	client, server := transfer(t, 2<<20, "")
	for _, c := range []net.Conn{client, server} {
		var i *kernel.Info
		var got map[string]string
		// A late ACK or window update may change the counters while ss
		// runs: ask again until TCP_INFO reads the same before and after.
		for try := 0; ; try++ {
			before, err := kernel.TCPInfo(c)
			if err != nil {
				t.Fatal(err)
			}
			got = ss(t, c)
			if i, err = kernel.TCPInfo(c); err != nil {
				t.Fatal(err)
			}
			if *before == *i {
				break
			}
			if try == 10 {
				t.Fatalf("TCP_INFO of %s never settled", tuple(c))
			}
		}
		// ss prints most counters only when they are not 0, and the
		// slow-start threshold only below 0xffff.
		ssthresh := uint64(i.SndSsthresh)
		if ssthresh >= 0xffff {
			ssthresh = 0
		}
		for _, f := range []struct {
			name string
			want uint64
		}{
			{"cwnd", uint64(i.SndCwnd)},
			{"ssthresh", ssthresh},
			{"mss", uint64(i.SndMSS)},
			{"rcvmss", uint64(i.RcvMSS)},
			{"unacked", uint64(i.Unacked)},
			{"lost", uint64(i.Lost)},
			{"sacked", uint64(i.Sacked)},
			{"reord_seen", uint64(i.ReordSeen)},
			{"dsack_dups", uint64(i.DSACKDups)},
			{"rcv_ooopack", uint64(i.RcvOOOPack)},
			{"bytes_sent", i.BytesSent},
			{"bytes_retrans", i.BytesRetrans},
			{"bytes_acked", i.BytesAcked},
			{"bytes_received", i.BytesReceived},
			{"segs_out", uint64(i.SegsOut)},
			{"segs_in", uint64(i.SegsIn)},
			{"data_segs_out", uint64(i.DataSegsOut)},
			{"data_segs_in", uint64(i.DataSegsIn)},
			{"notsent", uint64(i.NotsentBytes)},
			{"snd_wnd", uint64(i.SndWnd)},
		} {
			var n uint64
			if v, ok := got[f.name]; ok {
				var err error
				if n, err = strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
					t.Errorf("ss printed %s:%s", f.name, v)
				}
			}
			if n != f.want {
				t.Errorf("%s: ss says %s %d, TCPInfo %d", tuple(c), f.name, n, f.want)
			}
		}
		if _, ok := got["ssthresh"]; ok {
			t.Logf("%s: ssthresh %d, as ss says", tuple(c), i.SndSsthresh)
		}
		// Times: ss prints milliseconds, the kernel keeps microseconds.
		for _, f := range []struct {
			name string
			want time.Duration
		}{{"rto", i.RTO}, {"minrtt", i.MinRTT}} {
			v, err := strconv.ParseFloat(got[f.name], 64)
			if d := time.Duration(v * float64(time.Millisecond)); err != nil || (d-f.want).Abs() > time.Microsecond/2 {
				t.Errorf("%s: ss says %s %s, TCPInfo %s", tuple(c), f.name, got[f.name], f.want)
			}
		}
	}
}

// ss returns the key:value fields of `ss -ti` for c's socket.
func ss(t *testing.T, c net.Conn) map[string]string {
	t.Helper()
	out, err := exec.Command("ss", "-Htin", "src", c.LocalAddr().String(), "dst", c.RemoteAddr().String()).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 6 || fields[0] != "ESTAB" {
		t.Fatalf("ss: %q, want one established socket", out)
	}
	m := map[string]string{}
	for _, f := range fields[5:] {
		if k, v, ok := strings.Cut(f, ":"); ok && !strings.Contains(k, "(") {
			m[k] = v
		}
	}
	return m
}
