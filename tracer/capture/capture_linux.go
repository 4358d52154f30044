//go:build linux

package capture

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	minSnaplen     = 128     // room for a whole Sync marker frame
	recvBufferSize = 8 << 20 // SO_RCVBUF(FORCE) asked for the packet socket
	// oobSize holds SCM_TIMESTAMPING (48 bytes of data) and PACKET_AUXDATA
	// (20 bytes) with their headers.
	oobSize = 160
	// rxTimestamping asks for software receive timestamps.
	rxTimestamping = unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
	// syncResend is how often Sync sends its markers again while waiting,
	// in case the kernel dropped one because the queue was full.
	syncResend = 50 * time.Millisecond
	// timestampWait bounds how long Open waits for the kernel to turn
	// receive timestamps on.
	timestampWait = 2 * time.Second
)

// Capture is a running packet capture. Create one with Open and stop it with
// Close. Its methods are safe for concurrent use.
type Capture struct {
	ifname   string
	snaplen  int
	handler  func(Packet)
	conn     *packet.Conn
	rc       syscall.RawConn
	linkType layers.LinkType

	// The Sync marker socket (nil when the interface is not loopback).
	marker      *net.UDPConn
	markerAddr  netip.AddrPort
	nonce       [8]byte
	senders     []chan markerReq // one per CPU, see startSenders
	senderWG    sync.WaitGroup
	stopSenders chan struct{}

	userPorts atomic.Pointer[portSet] // the caller's ports, for the reader
	setMu     sync.Mutex              // serialises filter changes with Close

	closing   atomic.Bool
	closeOnce sync.Once
	done      chan struct{} // closed when the reader goroutine has returned
	readErr   error         // why the reader stopped early; read after done
	final     Stats
	closeErr  error

	syncMu  sync.Mutex
	syncSeq uint64
	waiters map[uint64]*syncWaiter

	statsMu   sync.Mutex
	kernel    Stats // Packets and KernelDrops accumulated from the kernel
	fdClosed  bool
	delivered atomic.Uint64
	markers   atomic.Uint64
	truncated atomic.Uint64
	unstamped atomic.Uint64

	testHookClosing func() // called by Close once the reader has been woken
}

// portSet is the caller's current port selection.
type portSet struct{ tcp, udp []uint16 }

// syncWaiter is one Sync call waiting for its markers.
type syncWaiter struct {
	ch     chan struct{}
	seen   map[uint32]bool
	total  uint32
	latest time.Time // the latest kernel timestamp of the markers seen
	// unstamped is set if a marker came without a kernel timestamp.
	unstamped bool
}

// Open starts capturing on cfg.Interface. The packet socket is created
// with a filter that keeps nothing, attached before the socket is bound, so
// no unfiltered frame is ever queued; the port filter replaces it once the
// socket options (kernel timestamps, auxiliary data, buffer size) are set.
// Packets are passed to cfg.Handler from a goroutine that runs until Close.
// On loopback Open also starts one marker-sending thread per CPU for Sync,
// and returns once the kernel is stamping frames as they arrive (normally
// within a millisecond or two; see Packet.Time).
//
// If the process lacks root or CAP_NET_RAW, the error matches ErrPermission.
func Open(cfg Config) (*Capture, error) {
	ifname := cfg.Interface
	if ifname == "" {
		ifname = DefaultInterface
	}
	snaplen := cfg.Snaplen
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	if snaplen < minSnaplen || snaplen > DefaultSnaplen {
		return nil, fmt.Errorf("capture: open %s: snaplen %d out of range [%d, %d]", ifname, snaplen, minSnaplen, DefaultSnaplen)
	}
	if err := checkPorts(cfg.TCPPorts, cfg.UDPPorts); err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("capture: open %s: interface is down", ifname)
	}
	none, err := bpf.Assemble(dropAll())
	if err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: none})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture: open %s: %w: %w", ifname, ErrPermission, err)
		}
		return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
	}
	c := &Capture{
		ifname:   ifname,
		snaplen:  snaplen,
		handler:  cfg.Handler,
		conn:     conn,
		linkType: layers.LinkTypeEthernet,
		done:     make(chan struct{}),
		waiters:  make(map[uint64]*syncWaiter),

		stopSenders: make(chan struct{}),
	}
	if err := c.setup(); err != nil {
		c.closeSockets()
		return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
	}
	if err := c.SetPorts(cfg.TCPPorts, cfg.UDPPorts); err != nil {
		c.closeSockets()
		return nil, err
	}
	go c.run()
	if c.marker != nil {
		c.startSenders()
		if err := c.waitKernelTimestamps(); err != nil {
			c.Close()
			return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
		}
	}
	return c, nil
}

// setup checks the interface's framing and sets the socket options, and
// opens the Sync marker socket on loopback.
func (c *Capture) setup() error {
	rc, err := c.conn.SyscallConn()
	if err != nil {
		return err
	}
	c.rc = rc
	var hatype uint16
	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		sa, err := unix.Getsockname(s)
		if err != nil {
			serr = fmt.Errorf("getsockname: %w", err)
			return
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); ok {
			hatype = ll.Hatype
		}
		// SO_TIMESTAMPING rather than SO_TIMESTAMPNS: for a frame the
		// kernel did not stamp as it arrived, SO_TIMESTAMPNS makes up a
		// timestamp when the frame is read, SO_TIMESTAMPING gives none, so
		// such frames can be counted (Stats.Unstamped).
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, rxTimestamping); err != nil {
			serr = fmt.Errorf("SO_TIMESTAMPING: %w", err)
			return
		}
		if err := unix.SetsockoptInt(s, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			serr = fmt.Errorf("PACKET_AUXDATA: %w", err)
			return
		}
		// Best effort: a bigger queue makes kernel drops less likely.
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBufferSize) != nil {
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBufferSize)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	switch hatype {
	case unix.ARPHRD_LOOPBACK:
		return c.openMarker()
	case unix.ARPHRD_ETHER:
		return nil
	default:
		return fmt.Errorf("link type %d not supported (only Ethernet framing)", hatype)
	}
}

// openMarker opens the UDP socket Sync sends its markers from and to.
func (c *Capture) openMarker() error {
	mc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("sync socket: %w", err)
	}
	c.marker = mc
	c.markerAddr = mc.LocalAddr().(*net.UDPAddr).AddrPort()
	c.markerAddr = netip.AddrPortFrom(c.markerAddr.Addr().Unmap(), c.markerAddr.Port())
	_, _ = rand.Read(c.nonce[:])
	return nil
}

func (c *Capture) closeSockets() {
	_ = c.conn.Close()
	if c.marker != nil {
		_ = c.marker.Close()
	}
}

func checkPorts(tcp, udp []uint16) error {
	if len(normPorts(tcp)) > MaxPorts || len(normPorts(udp)) > MaxPorts {
		return fmt.Errorf("too many ports (%d TCP, %d UDP; at most %d each)", len(tcp), len(udp), MaxPorts)
	}
	return nil
}

// SetPorts replaces the kernel filter with one that keeps TCP segments with
// a port in tcp and UDP datagrams with a port in udp. Every packet that
// reaches the interface after SetPorts returns is filtered with the new
// ports; packets already queued (kept by the old ports) are still
// delivered.
func (c *Capture) SetPorts(tcp, udp []uint16) error {
	if err := checkPorts(tcp, udp); err != nil {
		return fmt.Errorf("capture: set ports on %s: %w", c.ifname, err)
	}
	ps := &portSet{tcp: normPorts(tcp), udp: normPorts(udp)}
	kudp := ps.udp
	if c.marker != nil {
		kudp = append(kudp[:len(kudp):len(kudp)], c.markerAddr.Port())
	}
	prog, err := buildFilter(ps.tcp, kudp, uint32(c.snaplen))
	if err != nil {
		return fmt.Errorf("capture: set ports on %s: %w", c.ifname, err)
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	if c.closing.Load() {
		return ErrClosed
	}
	c.userPorts.Store(ps)
	if err := c.attach(prog); err != nil {
		return fmt.Errorf("capture: set ports on %s: %w", c.ifname, err)
	}
	return nil
}

// attach replaces the socket's filter (SO_ATTACH_FILTER swaps it
// atomically).
func (c *Capture) attach(prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	return c.conn.SetBPF(raw)
}

// run is the reader goroutine.
func (c *Capture) run() {
	defer close(c.done)
	buf := make([]byte, c.snaplen)
	oob := make([]byte, oobSize)
	for {
		var n, oobn, flags int
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			for {
				n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
				if rerr != unix.EINTR {
					return rerr != unix.EAGAIN
				}
			}
		})
		if err != nil {
			if c.closing.Load() {
				c.drain(buf, oob)
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			c.readErr = fmt.Errorf("read: %w", err)
			return
		}
		if rerr != nil {
			c.readErr = fmt.Errorf("read: %w", rerr)
			return
		}
		c.deliver(buf[:n], oob[:oobn], flags)
	}
}

// drain reads, without blocking, every frame still queued on the socket.
// Close has already attached a filter that keeps nothing, so the queue only
// shrinks and drain ends.
func (c *Capture) drain(buf, oob []byte) {
	err := c.rc.Control(func(fd uintptr) {
		for {
			n, oobn, flags, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return
			case err != nil:
				c.readErr = fmt.Errorf("drain: %w", err)
				return
			}
			c.deliver(buf[:n], oob[:oobn], flags)
		}
	})
	if err != nil && c.readErr == nil {
		c.readErr = fmt.Errorf("drain: %w", err)
	}
}

// deliver turns one received frame into a Packet and hands it to the
// Handler, or consumes it if it is a Sync marker.
func (c *Capture) deliver(frame, oob []byte, flags int) {
	var ts time.Time
	origLen := len(frame)
	if cmsgs, err := unix.ParseSocketControlMessage(oob); err == nil {
		for _, m := range cmsgs {
			switch {
			case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPING:
				// struct scm_timestamping: ts[0] is the software stamp.
				ts = parseTimespec(m.Data)
			case m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 8:
				// struct tpacket_auxdata: tp_status, tp_len (the frame's
				// length before the filter truncated it), ...
				if l := int(binary.NativeEndian.Uint32(m.Data[4:8])); l > origLen {
					origLen = l
				}
			}
		}
	}
	if flags&unix.MSG_TRUNC != 0 && origLen <= len(frame) {
		// The buffer was too small and auxdata did not say by how much.
		origLen = len(frame) + 1
	}
	if c.marker != nil {
		if sport, dport, payload, ok := udpOf(frame); ok {
			mp := c.markerAddr.Port()
			if sport == mp && dport == mp {
				if c.consumeMarker(payload, ts) {
					return
				}
			}
			if (sport == mp || dport == mp) && !c.userPorts.Load().hasUDP(sport, dport) {
				return // someone else's datagram to our marker port
			}
		}
	}
	if ts.IsZero() {
		ts = time.Now()
		c.unstamped.Add(1)
	}
	if origLen > len(frame) {
		c.truncated.Add(1)
	}
	p := Packet{
		Time: ts,
		Data: bytes.Clone(frame),
		Info: gopacket.CaptureInfo{
			Timestamp:     ts,
			CaptureLength: len(frame),
			Length:        origLen,
		},
		LinkType: c.linkType,
	}
	if c.handler != nil {
		c.handler(p)
	}
	c.delivered.Add(1)
}

func (ps *portSet) hasUDP(a, b uint16) bool {
	if ps == nil {
		return false
	}
	for _, p := range ps.udp {
		if p == a || p == b {
			return true
		}
	}
	return false
}

// parseTimespec reads a struct timespec in the kernel's layout for this
// architecture (time_t and long are 32 bits on 386 and arm); zero means no
// timestamp.
func parseTimespec(b []byte) time.Time {
	var sec, nsec int64
	switch n := binary.Size(unix.Timespec{}); {
	case n == 16 && len(b) >= 16:
		sec, nsec = int64(binary.NativeEndian.Uint64(b[0:8])), int64(binary.NativeEndian.Uint64(b[8:16]))
	case n == 8 && len(b) >= 8:
		sec, nsec = int64(int32(binary.NativeEndian.Uint32(b[0:4]))), int64(int32(binary.NativeEndian.Uint32(b[4:8])))
	}
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec)
}

// udpOf returns the ports and payload of a UDP datagram in an Ethernet
// frame carrying IPv4 or IPv6 (without extension headers).
func udpOf(f []byte) (sport, dport uint16, payload []byte, ok bool) {
	if len(f) < ethHeaderLen {
		return 0, 0, nil, false
	}
	var l4 []byte
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherTypeIPv4:
		ip := f[ethHeaderLen:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != ipProtoUDP || binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
			return 0, 0, nil, false
		}
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || len(ip) < ihl {
			return 0, 0, nil, false
		}
		l4 = ip[ihl:]
	case etherTypeIPv6:
		ip := f[ethHeaderLen:]
		if len(ip) < 40 || ip[6] != ipProtoUDP {
			return 0, 0, nil, false
		}
		l4 = ip[40:]
	default:
		return 0, 0, nil, false
	}
	if len(l4) < 8 {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4]), l4[8:], true
}

// Stats returns the capture's counters so far. The kernel part is read with
// getsockopt(PACKET_STATISTICS) (which resets the kernel's counters, so the
// capture keeps the running totals). After Close it returns the final
// counters.
func (c *Capture) Stats() (Stats, error) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	var err error
	if !c.fdClosed {
		err = c.pollKernelStats()
	}
	s := c.kernel
	s.Delivered = c.delivered.Load()
	s.Markers = c.markers.Load()
	s.Truncated = c.truncated.Load()
	s.Unstamped = c.unstamped.Load()
	return s, err
}

// pollKernelStats adds the kernel's counters since the last call to
// c.kernel. statsMu must be held.
func (c *Capture) pollKernelStats() error {
	ks, err := c.conn.Stats()
	if err != nil {
		return fmt.Errorf("capture: statistics %s: %w", c.ifname, err)
	}
	c.kernel.Packets += uint64(ks.Packets)
	c.kernel.KernelDrops += uint64(ks.Drops)
	return nil
}

// Close stops the capture. It keeps nothing new (a filter that keeps
// nothing replaces the port filter), wakes the reader, hands every frame
// already queued on the socket to the Handler, and returns once the reader
// goroutine has returned, with the final counters. Packets still on their
// way through the kernel when Close is called are not waited for: call Sync
// first to include them. Close may be called more than once; later calls
// return the same result. It must not be called from the Handler. Most of
// its time (about 10 ms on a small VM) is the kernel releasing the packet
// socket, which waits for an RCU grace period.
func (c *Capture) Close() (Stats, error) {
	c.closeOnce.Do(func() {
		c.setMu.Lock()
		c.closing.Store(true)
		ferr := c.attach(dropAll())
		c.setMu.Unlock()
		// A deadline in the past wakes the reader if it is waiting.
		if err := c.conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
			// Should not happen; closing the socket also wakes it but
			// loses what is queued.
			ferr = errors.Join(ferr, err)
			_ = c.conn.Close()
		}
		if c.testHookClosing != nil {
			c.testHookClosing()
		}
		<-c.done
		c.statsMu.Lock()
		serr := c.pollKernelStats()
		c.fdClosed = true
		c.statsMu.Unlock()
		cerr := c.conn.Close()
		close(c.stopSenders)
		c.senderWG.Wait()
		if c.marker != nil {
			_ = c.marker.Close()
		}
		c.final, _ = c.Stats()
		if err := errors.Join(c.readErr, ferr, serr, cerr); err != nil {
			c.closeErr = fmt.Errorf("capture: close %s: %w", c.ifname, err)
		}
	})
	return c.final, c.closeErr
}

// Sync returns once every packet sent on the interface before Sync was
// called, and kept by the filter, has been passed to the Handler (or was
// dropped by the kernel, which Stats.KernelDrops counts). "Sent" means
// handed to the interface: a connect, write or close whose system call has
// returned has sent its segment, and so have the replies it waited for (a
// connect returns after the SYN-ACK). A segment the kernel sends later on
// its own (a delayed ACK, a retransmission) is covered by the next Sync.
// Sync works on loopback only; elsewhere it returns an error matching
// ErrUnsupported. It must not be called from the Handler.
//
// How: on lo a sent frame is queued on the backlog of the CPU that sent it
// and moved from there, in order, to the packet socket's queue, which the
// reader empties in order. Frames sent from different CPUs are not ordered
// with each other, so one marker is not enough. Sync has a small UDP
// datagram (a marker) sent to the capture's own port from every CPU the
// process may run on (by one thread pinned to each CPU, started by Open),
// and waits until the reader has seen all of them. Each marker is behind
// every frame sent earlier from its CPU, so when the last one is read, every
// earlier frame has been handed over. Markers are never passed to the
// Handler. While waiting, Sync sends the markers again every 50 ms in case
// the kernel dropped one. This assumes receive packet steering (RPS) is off
// on lo, the default, and a kernel that is not PREEMPT_RT.
func (c *Capture) Sync(ctx context.Context) error {
	_, _, err := c.sync(ctx)
	return err
}

// sync is Sync. It also returns the time just after the first round of
// markers was sent and the latest kernel timestamp of the markers.
func (c *Capture) sync(ctx context.Context) (sent, stamped time.Time, err error) {
	if c.marker == nil {
		return sent, stamped, fmt.Errorf("capture: sync %s: %w (only on loopback)", c.ifname, ErrUnsupported)
	}
	if c.closing.Load() {
		return sent, stamped, ErrClosed
	}
	w := &syncWaiter{ch: make(chan struct{}), seen: make(map[uint32]bool)}
	c.syncMu.Lock()
	c.syncSeq++
	seq := c.syncSeq
	c.waiters[seq] = w
	c.syncMu.Unlock()
	defer func() {
		c.syncMu.Lock()
		delete(c.waiters, seq)
		c.syncMu.Unlock()
	}()

	t := time.NewTimer(syncResend)
	defer t.Stop()
	for {
		if err := c.sendMarkers(seq); err != nil {
			if c.closing.Load() {
				return sent, stamped, ErrClosed
			}
			return sent, stamped, fmt.Errorf("capture: sync %s: %w", c.ifname, err)
		}
		if sent.IsZero() {
			sent = time.Now()
		}
		select {
		case <-w.ch:
			return sent, w.stamp(), nil
		case <-c.done:
			select {
			case <-w.ch:
				return sent, w.stamp(), nil
			default:
			}
			if c.closing.Load() {
				return sent, stamped, ErrClosed
			}
			return sent, stamped, fmt.Errorf("capture: sync %s: reader stopped: %w", c.ifname, c.readErr)
		case <-ctx.Done():
			return sent, stamped, fmt.Errorf("capture: sync %s: %w", c.ifname, ctx.Err())
		case <-t.C:
			t.Reset(syncResend)
		}
	}
}

var keeper sync.Once

// keepTimestampsOn opens, once per process, a UDP socket that asks for
// receive timestamps and is never closed, so that Linux keeps kernel-wide
// receive timestamping on between captures. Best effort.
func keepTimestampsOn() {
	keeper.Do(func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, rxTimestamping) != nil {
			unix.Close(fd)
		}
	})
}

// stamp returns the latest marker timestamp, or zero if a marker had
// none. Call it after w.ch is closed.
func (w *syncWaiter) stamp() time.Time {
	if w.unstamped {
		return time.Time{}
	}
	return w.latest
}

// waitKernelTimestamps returns once the kernel stamps frames as it
// receives them. Asking for receive timestamps on the first socket of the
// system that wants them turns kernel-wide timestamping on, but Linux does
// that later, from a work queue (and turns it off the same way when the
// last such socket closes); until then frames arrive unstamped. A marker is
// stamped as it is sent (before sendmsg returns), so once a marker comes
// back stamped earlier than the moment its send returned, timestamping is
// on. The package also keeps one timestamping socket open for the life of
// the process (keepTimestampsOn), so closing a capture never turns it off
// under the next one.
func (c *Capture) waitKernelTimestamps() error {
	keepTimestampsOn()
	ctx, cancel := context.WithTimeout(context.Background(), timestampWait)
	defer cancel()
	var last error
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 20*time.Millisecond) {
		sent, stamped, err := c.sync(ctx)
		if err == nil && !stamped.IsZero() && stamped.Before(sent) {
			return nil
		}
		if err != nil {
			last = err
		}
		// The kernel's work queue needs a moment; there is nothing to wait on.
		select {
		case <-ctx.Done():
			return fmt.Errorf("kernel receive timestamps not on after %v (last: %v)", timestampWait, last)
		case <-time.After(pause):
		}
	}
}

// Marker payload: magic, the capture's nonce, the Sync sequence number, the
// marker's index and the number of markers in this Sync.
var markerMagic = [8]byte{'t', 'c', 'p', 't', 's', 'y', 'n', 'c'}

const markerLen = 8 + 8 + 8 + 4 + 4

// consumeMarker reports whether payload is one of this capture's markers,
// and if so records it.
func (c *Capture) consumeMarker(payload []byte, ts time.Time) bool {
	if len(payload) != markerLen || !bytes.Equal(payload[0:8], markerMagic[:]) || !bytes.Equal(payload[8:16], c.nonce[:]) {
		return false
	}
	seq := binary.BigEndian.Uint64(payload[16:24])
	idx := binary.BigEndian.Uint32(payload[24:28])
	total := binary.BigEndian.Uint32(payload[28:32])
	c.markers.Add(1)
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	w := c.waiters[seq]
	if w == nil || total == 0 || idx >= total {
		return true
	}
	w.total = total
	w.seen[idx] = true
	if ts.IsZero() {
		w.unstamped = true
	} else if ts.After(w.latest) {
		w.latest = ts
	}
	if uint32(len(w.seen)) == w.total {
		close(w.ch)
		delete(c.waiters, seq)
	}
	return true
}

// markerReq asks a marker sender to send one marker of Sync seq.
type markerReq struct {
	seq   uint64
	reply chan<- error
}

// startSenders starts one marker sender per CPU this process may run on,
// each on its own thread pinned to its CPU, so a Sync does not have to move
// a thread from CPU to CPU (which costs milliseconds on some machines).
func (c *Capture) startSenders() {
	var cpus []int
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, i)
			}
		}
	}
	if len(cpus) == 0 {
		cpus = []int{-1} // cannot pin: one unpinned sender, best effort
	}
	for i, cpu := range cpus {
		ch := make(chan markerReq)
		c.senders = append(c.senders, ch)
		c.senderWG.Add(1)
		go c.sender(uint32(i), uint32(len(cpus)), cpu, ch)
	}
}

// sender sends markers from one CPU until Close.
func (c *Capture) sender(idx, total uint32, cpu int, reqs <-chan markerReq) {
	defer c.senderWG.Done()
	// Never unlocked: the pinned thread ends with this goroutine.
	runtime.LockOSThread()
	if cpu >= 0 {
		var one unix.CPUSet
		one.Set(cpu)
		// If pinning fails the markers still go, from whatever CPU this is.
		_ = unix.SchedSetaffinity(0, &one)
	}
	for {
		select {
		case r := <-reqs:
			r.reply <- c.writeMarker(r.seq, idx, total)
		case <-c.stopSenders:
			return
		}
	}
}

// sendMarkers has every sender send a marker of Sync seq and waits until
// they have.
func (c *Capture) sendMarkers(seq uint64) error {
	reply := make(chan error, len(c.senders))
	for _, ch := range c.senders {
		select {
		case ch <- markerReq{seq: seq, reply: reply}:
		case <-c.stopSenders:
			return ErrClosed
		}
	}
	var first error
	for range c.senders {
		if err := <-reply; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *Capture) writeMarker(seq uint64, idx, total uint32) error {
	var b [markerLen]byte
	copy(b[0:8], markerMagic[:])
	copy(b[8:16], c.nonce[:])
	binary.BigEndian.PutUint64(b[16:24], seq)
	binary.BigEndian.PutUint32(b[24:28], idx)
	binary.BigEndian.PutUint32(b[28:32], total)
	if _, err := c.marker.WriteToUDPAddrPort(b[:], c.markerAddr); err != nil {
		return err
	}
	// Keep the marker socket's own receive queue empty.
	if rc, err := c.marker.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			var rb [markerLen]byte
			for {
				_, _, err := unix.Recvfrom(int(fd), rb[:], unix.MSG_DONTWAIT)
				if err != nil && err != unix.EINTR {
					return
				}
			}
		})
	}
	return nil
}
