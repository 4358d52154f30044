//go:build linux

// Command makecaps makes the captures link-tlp.pcap, link-rto.pcap and
// link-sack.pcap of tracer/inspect/testdata: real losses, made on
// purpose by the lab's link (tracer/link) and captured on the client's
// side of it. Run it from the module's root, as root or as any user
// (like a lesson, it runs itself again in a lab of its own):
//
//	go run ./tracer/inspect/testdata/makecaps                 # all three, into tracer/inspect/testdata
//	go run ./tracer/inspect/testdata/makecaps -dir /tmp/caps rto
//
// Each capture is one connection from a client to a server through a
// link that delays each direction by 10 ms (a round trip of about
// 21 ms) and drops the client's data segments that a rule picks. The
// client uses CUBIC (the default here may be bbr, which paces), SACK
// and timestamps are on. The capture is taken on the client's
// interface, both directions, so it shows what the client sent,
// dropped copies included, and what came back. The client keeps the
// connection open until the server has acknowledged all its data, then
// closes; the capture ends with the client's ACK of the server's FIN.
//
//   - link-tlp.pcap (tlp): the client writes 100 bytes; the segment and
//     its next 3 copies are dropped. The first copy is a tail loss probe
//     (RFC 8985, about two round trips plus 200 ms after the segment),
//     the next the retransmission timer, then the timer again, its wait
//     doubled each time; the 5th transmission gets through.
//   - link-rto.pcap (rto): the same with net.ipv4.tcp_early_retrans=0 in
//     the client's namespace: no probe, the timer alone, its wait doubled
//     each time (about 0.25, 0.5, 1 and 2 s).
//   - link-sack.pcap (sack): the client writes 10 segments of 1448 bytes;
//     the 3rd is dropped once, and the first copy of each waits 5 ms more
//     on the way. The server's ACKs repeat the lost segment's first byte
//     with growing SACK blocks, and the client resends it after the
//     third of them, a round trip (27 ms) after the first copy: a fast
//     retransmit on the SACK blocks' word (RFC 6675), which tshark calls
//     a plain retransmission.
//
// Check each with tshark -r FILE -Y tcp.analysis.retransmission (4
// copies in link-tlp.pcap and link-rto.pcap, 1 in link-sack.pcap);
// tracer/inspect/testdata/README.md has the times of the ones there.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"tcptour/tracer/lab"
	"tcptour/tracer/link"
)

// scenario is one capture.
type scenario struct {
	name, file string
	rules      []link.Rule
	size       int // bytes the client writes
	// earlyRetrans is net.ipv4.tcp_early_retrans in the client's
	// namespace; "" leaves the kernel's default (3: tail loss probes).
	earlyRetrans string
}

// tailLost drops the client's only data segment and its next 3 copies:
// the 5th transmission gets through.
var tailLost = link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 1, Retransmits: 3, Action: link.Drop}

var scenarios = []scenario{
	{name: "tlp", file: "link-tlp.pcap", rules: []link.Rule{tailLost}, size: 100},
	{name: "rto", file: "link-rto.pcap", rules: []link.Rule{tailLost}, size: 100, earlyRetrans: "0"},
	{name: "sack", file: "link-sack.pcap", size: 10 * 1448, rules: []link.Rule{
		{Dir: link.FromClient, Kind: link.Data, Index: 3, Action: link.Drop},
		// The client's data waits 5 ms longer, as behind a queue,
		// so that the resend comes more than the handshake's round
		// trip after the last new segment: Wireshark calls a resend
		// sooner than that out of order, not a retransmission.
		{Dir: link.FromClient, Kind: link.Data, Action: link.Delay, Extra: 5 * time.Millisecond},
	}},
}

const (
	serverPort = 7000
	oneWay     = 10 * time.Millisecond
	// timeout bounds a scenario that goes wrong; each takes under 5 s.
	timeout = 30 * time.Second
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("makecaps: ")
	dir := flag.String("dir", "tracer/inspect/testdata", "the `directory` the captures are written to")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: makecaps [-dir directory] [tlp|rto|sack ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	chosen, err := choose(flag.Args())
	if err != nil {
		log.Print(err)
		flag.Usage()
		os.Exit(2)
	}
	if !lab.Inside() {
		if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
			log.Fatalf("no directory %s (run from the module's root, or give -dir)", *dir)
		}
	}
	lab.Enter()
	for _, s := range chosen {
		path := filepath.Join(*dir, s.file)
		n, err := s.make(path)
		if err != nil {
			log.Fatalf("%s: %v", s.name, err)
		}
		log.Printf("%s: %d frames in %s", s.name, n, path)
	}
}

// choose picks the scenarios named, all of them for none.
func choose(names []string) ([]scenario, error) {
	if len(names) == 0 {
		return scenarios, nil
	}
	var chosen []scenario
	for _, name := range names {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("no scenario %q", name)
		}
		chosen = append(chosen, scenarios[i])
	}
	return chosen, nil
}

// make runs the scenario through a link of its own and writes what the
// client's interface saw to path. It returns the number of frames.
func (s scenario) make(path string) (int, error) {
	l, err := link.New(link.Config{
		DelayToServer: oneWay,
		DelayToClient: oneWay,
		Rules:         s.rules,
		OnEvent: func(e link.Event) {
			if e.Action != link.Delay {
				log.Printf("%s: %s", s.name, e)
			}
		},
	})
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if s.earlyRetrans != "" {
		// /proc/sys/net is the namespace of the thread that opens it.
		err := l.InClient(func() error {
			return os.WriteFile("/proc/sys/net/ipv4/tcp_early_retrans", []byte(s.earlyRetrans), 0)
		})
		if err != nil {
			return 0, err
		}
	}
	var c *capture
	if err := l.InClient(func() (err error) { c, err = openCapture(link.ClientAddr, s.size); return err }); err != nil {
		return 0, err
	}
	defer c.close()

	var ln net.Listener
	if err := l.InServer(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(link.ServerAddr, serverPort).String())
		return err
	}); err != nil {
		return 0, err
	}
	defer ln.Close()
	// The server reads to the client's FIN, then closes.
	accepted := make(chan struct{})
	read := make(chan error, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			read <- err
			return
		}
		close(accepted)
		n, err := io.Copy(io.Discard, sc)
		if err == nil && n != int64(s.size) {
			err = fmt.Errorf("the server read %d bytes, want %d", n, s.size)
		}
		read <- errors.Join(err, sc.Close())
	}()
	var conn net.Conn
	if err := l.InClient(func() (err error) {
		conn, err = net.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := link.SetCongestion(conn.(*net.TCPConn), "cubic"); err != nil {
		return 0, err
	}
	deadline := time.After(timeout)
	// Write once the server has its socket: while a program holds a
	// socket, the kernel may merge the segments that come in meanwhile.
	select {
	case <-accepted:
	case err := <-read:
		return 0, err
	case <-deadline:
		return 0, errors.New("no connection accepted")
	}
	if _, err := conn.Write(make([]byte, s.size)); err != nil {
		return 0, err
	}
	// The connection stays open until the server has ACKed every
	// byte: a FIN sent earlier would let RACK recover the tail.
	select {
	case <-c.acked:
	case <-deadline:
		return 0, errors.New("the data was never acknowledged")
	}
	if err := conn.Close(); err != nil {
		return 0, err
	}
	select {
	case err := <-read:
		if err != nil {
			return 0, err
		}
	case <-deadline:
		return 0, errors.New("the server never read the client's FIN")
	}
	var frames []frame
	select {
	case frames = <-c.closed:
	case <-deadline:
		return 0, errors.New("the capture never saw the client's last ACK")
	}
	if c.err != nil {
		return 0, c.err
	}
	return len(frames), writePcap(path, frames)
}

// frame is a captured frame.
type frame struct {
	at time.Time
	b  []byte
}

// capture records the IPv4 TCP frames to and from the server's port on
// an interface, both directions, until the client ACKs the server's
// FIN.
type capture struct {
	f    *os.File
	size int // the client's bytes
	// acked is closed once the server has ACKed all size bytes of
	// the client's data, as seen here.
	acked chan struct{}
	// closed has the frames, once the client ACKed the server's FIN or
	// the capture failed.
	closed chan []frame
	err    error // why the capture failed, read after closed
}

// openCapture opens an AF_PACKET socket on the interface of this
// thread's namespace that has addr, and starts reading, for a client
// that sends size bytes.
func openCapture(addr netip.Addr, size int) (*capture, error) {
	ifi, err := interfaceWith(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	// The kernel's time for each frame, as tcpdump's.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("capture: SO_TIMESTAMPNS: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("capture: bind to %s: %w", ifi.Name, err)
	}
	c := &capture{f: os.NewFile(uintptr(fd), ifi.Name), size: size, acked: make(chan struct{}), closed: make(chan []frame, 1)}
	rc, err := c.f.SyscallConn()
	if err != nil {
		c.f.Close()
		return nil, fmt.Errorf("capture: %w", err)
	}
	go c.read(rc)
	return c, nil
}

// interfaceWith is the interface that has addr.
func interfaceWith(addr netip.Addr) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == addr {
				return &ifi, nil
			}
		}
	}
	return nil, fmt.Errorf("capture: no interface has %s", addr)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// close ends the capture if it is still going.
func (c *capture) close() {
	// NOTE: ignoring the error: a socket on the poller takes deadlines.
	_ = c.f.SetReadDeadline(time.Now())
}

// read reads frames until the client ACKs the server's FIN, or the
// capture is closed.
func (c *capture) read(rc syscall.RawConn) {
	defer c.f.Close()
	var (
		frames    []frame
		clientISN uint32
		finEnd    uint32 // the sequence number after the server's FIN
		sawFIN    bool
		allAcked  bool
	)
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	for {
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			c.err = fmt.Errorf("capture: %w", err)
			c.closed <- frames
			return
		}
		at, ok := timestamp(oob[:oobn])
		if !ok {
			at = time.Now()
		}
		tcp, ok := tcpOf(buf[:n])
		if !ok || (tcp.SrcPort != serverPort && tcp.DstPort != serverPort) {
			continue
		}
		frames = append(frames, frame{at, append([]byte(nil), buf[:n]...)})
		fromServer := tcp.SrcPort == serverPort
		switch {
		case !fromServer && tcp.SYN:
			clientISN = tcp.Seq
		case fromServer && tcp.FIN:
			finEnd, sawFIN = tcp.Seq+uint32(len(tcp.Payload))+1, true
		}
		if fromServer && tcp.ACK && !tcp.SYN && !allAcked && int(tcp.Ack-clientISN-1) >= c.size {
			allAcked = true
			close(c.acked)
		}
		if !fromServer && sawFIN && tcp.ACK && tcp.Ack == finEnd {
			c.closed <- frames
			return
		}
	}
}

// timestamp is the kernel's time of a frame, from its SCM_TIMESTAMPNS.
func timestamp(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix()), true
		}
	}
	return time.Time{}, false
}

// tcpOf decodes an Ethernet frame's IPv4 TCP segment.
func tcpOf(b []byte) (*layers.TCP, bool) {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.NoCopy)
	if p.Layer(layers.LayerTypeIPv4) == nil {
		return nil, false
	}
	tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp, ok
}

// writePcap writes the frames to path as a pcap file with microsecond
// times, as tcpdump -w does.
func writePcap(path string, frames []frame) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return err
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: fr.at, CaptureLength: len(fr.b), Length: len(fr.b)}
		if err := w.WritePacket(ci, fr.b); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
