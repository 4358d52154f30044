//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openOrSkip opens a capture, skipping the test where capture is not
// permitted, and closes it at the end of the test.
func openOrSkip(t *testing.T, cfg Config) *Capture {
	t.Helper()
	c, err := Open(cfg)
	if errors.Is(err, ErrPermission) {
		t.Skipf("capture needs root or CAP_NET_RAW: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder collects what the Handler is given.
type recorder struct {
	mu   sync.Mutex
	pkts []Packet
}

func (r *recorder) handle(p Packet) {
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pkts)
}

func (r *recorder) decoded(t *testing.T) []Decoded {
	t.Helper()
	var ds []Decoded
	for _, p := range r.snapshot() {
		d, err := Decode(p)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		ds = append(ds, d)
	}
	return ds
}

// echoServer listens on network/addr and echoes each connection until EOF,
// then closes it. Each finished connection is reported on the returned
// channel (after the server's Close returned, so its FIN has been sent).
func echoServer(t *testing.T, network, addr string) (uint16, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	done := make(chan struct{}, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
				done <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port), done
}

// talk connects, says msg, reads the echo, closes, and waits for the
// server to close its side.
func talk(t *testing.T, network, addr, msg string, serverDone <-chan struct{}) netip.AddrPort {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	<-serverDone
	return local
}

func syncCtx(t *testing.T, c *Capture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConnectionSeenOnce captures a connect, echo and close on lo and
// checks each packet appears exactly once, as tcpdump -i lo shows it: one
// SYN, one SYN-ACK, two FINs, each data segment once; and the counters.
func TestConnectionSeenOnce(t *testing.T) {
	port, serverDone := echoServer(t, "tcp4", "127.0.0.1:0")
	var rec recorder
	start := time.Now()
	c := openOrSkip(t, Config{TCPPorts: []uint16{port}, Handler: rec.handle})
	// On lo the kernel is asked not to clone each frame sent for the
	// socket (its filter would drop it): the filter's check stays for
	// kernels without the option.
	var ignore int
	var gerr error
	if err := c.rc.Control(func(fd uintptr) {
		ignore, gerr = unix.GetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING)
	}); err != nil {
		t.Fatal(err)
	}
	switch {
	case gerr != nil:
		t.Logf("this kernel does not say whether it hands the socket the frames sent (PACKET_IGNORE_OUTGOING, Linux 4.20: %v): the filter drops them", gerr)
	case ignore != 1:
		t.Errorf("PACKET_IGNORE_OUTGOING is %d, want 1", ignore)
	}
	msg := "I am Chuck Norris!"
	talk(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", port), msg, serverDone)
	syncCtx(t, c)
	end := time.Now()
	stats, err := c.Close()
	if err != nil {
		t.Fatal(err)
	}
	var syn, synack, fin, data, other int
	for _, d := range rec.decoded(t) {
		if d.TCP == nil || (d.Src.Port() != port && d.Dst.Port() != port) {
			t.Fatalf("unexpected packet %+v", d)
		}
		f := d.TCP.Flags
		switch {
		case f.Has(SYN | ACK):
			synack++
		case f.Has(SYN):
			syn++
		case f.Has(FIN):
			fin++
		case d.TCP.PayloadLen > 0:
			if string(d.TCP.Payload) != msg {
				t.Errorf("payload %q", d.TCP.Payload)
			}
			data++
		default:
			other++
		}
		if d.Time.Before(start) || d.Time.After(end) {
			t.Errorf("timestamp %v outside [%v, %v]", d.Time, start, end)
		}
	}
	t.Logf("SYN %d, SYN-ACK %d, FIN %d, data %d, other (ACKs) %d; stats %+v", syn, synack, fin, data, other, stats)
	if syn != 1 || synack != 1 || fin != 2 || data != 2 {
		t.Errorf("SYN %d SYN-ACK %d FIN %d data %d; want 1 1 2 2", syn, synack, fin, data)
	}
	pkts := rec.snapshot()
	for i, p := range pkts {
		if p.Info.CaptureLength != len(p.Data) || p.Info.Length != len(p.Data) || !p.Info.Timestamp.Equal(p.Time) {
			t.Errorf("packet %d: info %+v, %d bytes", i, p.Info, len(p.Data))
		}
	}
	if stats.Delivered != uint64(len(pkts)) || stats.KernelDrops != 0 || stats.Markers == 0 ||
		stats.Packets < stats.Delivered+stats.Markers || stats.Truncated != 0 || stats.Unstamped != 0 {
		t.Errorf("stats %+v for %d packets", stats, len(pkts))
	}
}

// TestOnlyChosenPorts runs unrelated loopback traffic (another TCP
// listener, UDP to another port) during a capture: none of it is recorded,
// while the chosen TCP port over IPv4 and IPv6 and the chosen UDP port are.
func TestOnlyChosenPorts(t *testing.T) {
	port, serverDone := echoServer(t, "tcp4", "127.0.0.1:0")
	otherPort, otherDone := echoServer(t, "tcp4", "127.0.0.1:0")
	port6, server6Done := echoServer(t, "tcp6", "[::1]:0")
	udpIn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udpIn.Close()
	udpOther, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udpOther.Close()
	udpPort := uint16(udpIn.LocalAddr().(*net.UDPAddr).Port)

	var rec recorder
	c := openOrSkip(t, Config{TCPPorts: []uint16{port, port6}, UDPPorts: []uint16{udpPort}, Handler: rec.handle})
	talk(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", otherPort), "not me", otherDone)
	talk(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", port), "me", serverDone)
	talk(t, "tcp6", fmt.Sprintf("[::1]:%d", port6), "me too", server6Done)
	talk(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", otherPort), "not me either", otherDone)
	if _, err := udpOther.WriteTo([]byte("other"), udpOther.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := udpOther.WriteTo([]byte("dns?"), udpIn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	syncCtx(t, c)
	var v4, v6, udp int
	for _, d := range rec.decoded(t) {
		switch {
		case d.Proto == ProtoTCP && d.IPVersion == 4 && (d.Src.Port() == port || d.Dst.Port() == port):
			v4++
		case d.Proto == ProtoTCP && d.IPVersion == 6 && (d.Src.Port() == port6 || d.Dst.Port() == port6):
			v6++
		case d.Proto == ProtoUDP && d.Dst.Port() == udpPort && string(d.UDP.Payload) == "dns?":
			udp++
		default:
			t.Errorf("recorded unrelated packet: %v → %v %v", d.Src, d.Dst, d.Proto)
		}
	}
	t.Logf("kept: %d IPv4 TCP, %d IPv6 TCP, %d UDP", v4, v6, udp)
	if v4 < 7 || v6 < 7 || udp != 1 {
		t.Errorf("kept %d IPv4 TCP, %d IPv6 TCP, %d UDP packets", v4, v6, udp)
	}
}

// TestSync exchanges many messages on one connection and calls Sync after
// each echo: every time, both data segments of that exchange have already
// been handed to the Handler. Markers never reach the Handler.
func TestSync(t *testing.T) {
	port, _ := echoServer(t, "tcp4", "127.0.0.1:0")
	var rec recorder
	c := openOrSkip(t, Config{TCPPorts: []uint16{port}, Handler: rec.handle})
	conn, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const rounds = 300
	buf := make([]byte, 64)
	var took []time.Duration
	for i := range rounds {
		msg := fmt.Sprintf("round-%04d", i)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		syncCtx(t, c)
		took = append(took, time.Since(t0))
		var toServer, toClient int
		for _, p := range rec.snapshot() {
			d, err := Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			if d.Proto != ProtoTCP {
				t.Fatalf("handler got a non-TCP packet (a marker?): %+v", d)
			}
			if string(d.TCP.Payload) == msg {
				if d.Dst.Port() == port {
					toServer++
				} else {
					toClient++
				}
			}
		}
		if toServer != 1 || toClient != 1 {
			t.Fatalf("round %d: after Sync saw %d segments to the server and %d back, want 1 and 1", i, toServer, toClient)
		}
	}
	stats, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(took)
	t.Logf("%d rounds on %d CPUs: Sync took median %v, 99th percentile %v, max %v; stats %+v",
		rounds, runtime.NumCPU(), took[len(took)/2], took[len(took)*99/100], took[len(took)-1], stats)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled context ends Sync (it may also succeed at once).
	if err := c.Sync(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Sync with cancelled context: %v", err)
	}
	if _, err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
}

// TestSetPorts changes the filter of a running capture: traffic before
// SetPorts is not recorded, traffic after it is, and after clearing the
// ports nothing is.
func TestSetPorts(t *testing.T) {
	port, serverDone := echoServer(t, "tcp4", "127.0.0.1:0")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var rec recorder
	c := openOrSkip(t, Config{Handler: rec.handle})
	talk(t, "tcp4", addr, "before", serverDone)
	syncCtx(t, c)
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("%d packets with no ports", n)
	}
	if err := c.SetPorts([]uint16{port}, nil); err != nil {
		t.Fatal(err)
	}
	client := talk(t, "tcp4", addr, "during", serverDone)
	syncCtx(t, c)
	ds := rec.decoded(t)
	if len(ds) < 7 || !ds[0].TCP.Flags.Has(SYN) {
		t.Fatalf("after SetPorts: %d packets, first %+v", len(ds), ds[0])
	}
	for _, d := range ds {
		if d.Src != client && d.Dst != client {
			t.Errorf("packet of another connection: %v → %v", d.Src, d.Dst)
		}
	}
	if err := c.SetPorts(nil, nil); err != nil {
		t.Fatal(err)
	}
	talk(t, "tcp4", addr, "after", serverDone)
	syncCtx(t, c)
	if n := len(rec.snapshot()); n != len(ds) {
		t.Errorf("%d packets after clearing the ports, want %d", n, len(ds))
	}
	many := make([]uint16, MaxPorts+1)
	for i := range many {
		many[i] = uint16(i + 1)
	}
	if err := c.SetPorts(many, nil); err == nil {
		t.Errorf("SetPorts accepted %d ports", len(many))
	}
}

// udpPair returns a receiver on a fresh port and a sender.
func udpPair(t *testing.T) (in, out *net.UDPConn, port uint16) {
	t.Helper()
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	out, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); out.Close() })
	return in, out, uint16(in.LocalAddr().(*net.UDPAddr).Port)
}

// sendQueued sends n datagrams and reads them at the receiver. The kernel
// hands a frame to packet sockets before the UDP socket, so once the
// receiver has them they are in the capture's queue.
func sendQueued(t *testing.T, in, out *net.UDPConn, n int, tag string) {
	t.Helper()
	buf := make([]byte, 100)
	for i := range n {
		if _, err := out.WriteTo(fmt.Appendf(nil, "%s-%d", tag, i), in.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := in.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKernelTimestamps holds the Handler on the first packet while more
// are sent: their Time is when the kernel received them (before the
// Handler was released), not when they were read. UDP, and a whole TCP
// connection.
func TestKernelTimestamps(t *testing.T) {
	t.Run("udp", func(t *testing.T) {
		in, out, port := udpPair(t)
		gate := make(chan struct{})
		var once sync.Once
		var rec recorder
		t0 := time.Now()
		c := openOrSkip(t, Config{UDPPorts: []uint16{port}, Handler: func(p Packet) {
			once.Do(func() { <-gate })
			rec.handle(p)
		}})
		t.Logf("Open took %v", time.Since(t0))
		start := time.Now()
		sendQueued(t, in, out, 1, "first") // the Handler now blocks on it
		sendQueued(t, in, out, 10, "queued")
		sent := time.Now()
		close(gate)
		syncCtx(t, c)
		pkts := rec.snapshot()
		if len(pkts) != 11 {
			t.Fatalf("%d packets, want 11", len(pkts))
		}
		for i, p := range pkts {
			if p.Time.Before(start) || p.Time.After(sent) {
				t.Errorf("packet %d stamped %v, not within the send window [%v, %v]", i, p.Time, start, sent)
			}
		}
		if s, _ := c.Stats(); s.Unstamped != 0 {
			t.Errorf("%d packets had no kernel timestamp", s.Unstamped)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		port, serverDone := echoServer(t, "tcp4", "127.0.0.1:0")
		gate := make(chan struct{})
		var once sync.Once
		var rec recorder
		c := openOrSkip(t, Config{TCPPorts: []uint16{port}, Handler: func(p Packet) {
			once.Do(func() { <-gate })
			rec.handle(p)
		}})
		start := time.Now()
		talk(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", port), "hello", serverDone)
		sent := time.Now()
		close(gate)
		syncCtx(t, c)
		n := 0
		for _, d := range rec.decoded(t) {
			// SYN, SYN-ACK, data and FINs were sent before talk returned
			// (a bare ACK may be delayed).
			if d.TCP.Flags&(SYN|FIN) == 0 && d.TCP.PayloadLen == 0 {
				continue
			}
			n++
			if d.Time.Before(start) || d.Time.After(sent) {
				t.Errorf("%v segment stamped %v, not within [%v, %v]", d.TCP.Flags, d.Time, start, sent)
			}
		}
		if n != 6 {
			t.Errorf("checked %d segments, want 6", n)
		}
		if s, _ := c.Stats(); s.Unstamped != 0 {
			t.Errorf("%d packets had no kernel timestamp", s.Unstamped)
		}
	})
}

// TestCloseDeliversQueued blocks the Handler while packets queue up, then
// Closes: every queued packet is handed over before Close returns.
func TestCloseDeliversQueued(t *testing.T) {
	in, out, port := udpPair(t)
	gate := make(chan struct{})
	var once sync.Once
	var rec recorder
	c := openOrSkip(t, Config{UDPPorts: []uint16{port}, Handler: func(p Packet) {
		once.Do(func() { <-gate })
		rec.handle(p)
	}})
	const n = 200
	sendQueued(t, in, out, n, "q")
	// Release the Handler only once Close has woken the reader, so the
	// rest is read by Close's drain.
	c.testHookClosing = func() { close(gate) }
	stats, err := c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rec.snapshot()); got != n || stats.Delivered != n {
		t.Errorf("handed over %d (stats %d) of %d queued packets", got, stats.Delivered, n)
	}
	if stats.KernelDrops != 0 {
		t.Errorf("kernel dropped %d", stats.KernelDrops)
	}
	t.Logf("stats %+v", stats)
}

// TestCloseIdleIsPrompt measures Close on an idle capture whose reader is
// blocked in recvmsg. Asserted generously: a correctness check.
func TestCloseIdleIsPrompt(t *testing.T) {
	var times []time.Duration
	for range 20 {
		c := openOrSkip(t, Config{TCPPorts: []uint16{1}})
		syncCtx(t, c) // the reader has been round its loop and waits
		t0 := time.Now()
		if _, err := c.Close(); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	t.Logf("Close on idle capture: min %v, median %v, max %v", times[0], times[len(times)/2], times[len(times)-1])
	if times[len(times)-1] > 500*time.Millisecond {
		t.Errorf("Close took %v", times[len(times)-1])
	}
}

// TestClosedCapture checks the methods after Close.
func TestClosedCapture(t *testing.T) {
	c := openOrSkip(t, Config{})
	s1, err1 := c.Close()
	s2, err2 := c.Close()
	if err1 != nil || err2 != nil || s1 != s2 {
		t.Errorf("Close twice: %v %v %+v %+v", err1, err2, s1, s2)
	}
	if err := c.SetPorts([]uint16{1}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetPorts after Close: %v", err)
	}
	if s, err := c.Stats(); err != nil || s != s1 {
		t.Errorf("Stats after Close: %+v %v", s, err)
	}
}

// TestOpenErrors checks argument errors (no root needed).
func TestOpenErrors(t *testing.T) {
	_, err := Open(Config{Interface: "no-such-if0"})
	if err == nil || !strings.Contains(err.Error(), "no-such-if0") {
		t.Errorf("unknown interface: %v", err)
	}
	if _, err := Open(Config{Snaplen: 10}); err == nil {
		t.Errorf("snaplen 10 accepted")
	}
	many := make([]uint16, MaxPorts+1)
	for i := range many {
		many[i] = uint16(i + 1)
	}
	if _, err := Open(Config{UDPPorts: many}); err == nil {
		t.Errorf("%d ports accepted", len(many))
	}
}

// TestOpenWithoutPermission drops CAP_NET_RAW from this thread's
// effective set (root keeps it in the permitted set, so it can be put
// back) and checks Open's error matches ErrPermission.
func TestOpenWithoutPermission(t *testing.T) {
	runtime.LockOSThread() // unlocked only if the capability is restored
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data, orig [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Skipf("capget: %v", err)
	}
	orig = data
	data[0].Effective &^= 1 << unix.CAP_NET_RAW
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		t.Skipf("capset: %v", err)
	}
	c, err := Open(Config{})
	if unix.Capset(&hdr, &orig[0]) == nil {
		runtime.UnlockOSThread()
	}
	if c != nil {
		c.Close()
	}
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("Open without CAP_NET_RAW: %v", err)
	}
	t.Logf("error: %v", err)
}

// TestSnaplenTruncates captures with a small snaplen: a long datagram is
// cut to snaplen bytes, its wire length is kept in Info.Length (from
// PACKET_AUXDATA), and Stats counts it; Decode still reports the UDP
// length on the wire.
func TestSnaplenTruncates(t *testing.T) {
	in, out, port := udpPair(t)
	var rec recorder
	c := openOrSkip(t, Config{UDPPorts: []uint16{port}, Snaplen: 128, Handler: rec.handle})
	payload := make([]byte, 1000)
	if _, err := out.WriteTo(payload, in.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.ReadFrom(make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	syncCtx(t, c)
	pkts := rec.snapshot()
	if len(pkts) != 1 {
		t.Fatalf("%d packets", len(pkts))
	}
	p := pkts[0]
	if want := 14 + 20 + 8 + 1000; len(p.Data) != 128 || p.Info.CaptureLength != 128 || p.Info.Length != want {
		t.Errorf("captured %d bytes, info %d/%d; want 128/128/%d", len(p.Data), p.Info.CaptureLength, p.Info.Length, want)
	}
	d, err := Decode(p)
	if err != nil || d.UDP == nil || d.UDP.PayloadLen != 1000 || len(d.UDP.Payload) != 128-14-20-8 {
		t.Errorf("decoded %+v, %v", d.UDP, err)
	}
	if s, _ := c.Stats(); s.Truncated != 1 {
		t.Errorf("stats %+v", s)
	}
}
