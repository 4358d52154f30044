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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"tcptour/tracer/internal/percpu"
)

const (
	minSnaplen = 128 // room for a whole Sync marker frame
	// The receive ring (TPACKET_V3) the kernel writes frames into and the
	// reader reads them from, without a system call per frame: ringBlocks
	// blocks of ringBlockSize bytes (8 MiB in all). The kernel fills one
	// block at a time with as many frames as fit and hands it over when it
	// is full or ringRetire ms after its first frame, whichever comes
	// first; so under load the reader wakes once per block at most (see
	// ringNap), not once per frame. A frame longer than a
	// block (only possible on lo with BIG TCP configured) is cut to fit and
	// counted in Stats.Truncated.
	ringBlockSize = 128 << 10
	ringBlocks    = 64
	ringRetire    = 1 // ms
	// ringNap is how long the reader, once it has read what the kernel
	// handed over, lets more blocks gather before it reads again, unless
	// a Sync or Close is waiting: under load it wakes once per few
	// blocks, not once per block (each wake-up costs more than the
	// frames of a block), and a frame waits at most ringRetire ms +
	// ringNap more. Idle, the reader waits for the kernel as before.
	ringNap = 3 * time.Millisecond
	// ringCloseWait bounds how long Close waits for the kernel to hand
	// over the block it is filling (it does within ringRetire ms).
	ringCloseWait = 200 * time.Millisecond
	// syncResend is how often Sync sends its markers again while waiting,
	// in case the kernel dropped one because the queue was full.
	syncResend = 50 * time.Millisecond
)

// ignoreOutgoing asks lo not to hand the socket the frames it sends (see
// setup); a benchmark turns it off to measure what it saves.
var ignoreOutgoing = true

// Capture is a running packet capture. Create one with Open and stop it with
// Close. Its methods are safe for concurrent use.
type Capture struct {
	ifname   string
	snaplen  int
	handler  func(Packet)
	flush    func()        // Config.Flush, or nil
	kick     chan struct{} // ends the reader's nap: a Sync or Close is waiting
	conn     *packet.Conn
	rc       syscall.RawConn
	linkType layers.LinkType

	ring    []byte // the mmap'ed receive ring: ringBlocks blocks
	next    int    // the block the reader reads next (the reader's own)
	lastSeq uint64 // the sequence number of the last block it read
	// frameBuf is reused by frames.
	frameBuf []ringFrame

	// The Sync marker socket (nil when the interface is not loopback
	// and no Config.MarkerTo was given).
	marker *net.UDPConn
	// outgoing keeps the frames the interface sends (not on lo, which
	// hands each frame over twice).
	outgoing   bool
	markerAddr netip.AddrPort
	nonce      [8]byte
	senders    *percpu.Threads // send the markers: one per CPU on lo

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
	ch    chan struct{}
	seen  map[uint32]bool
	total uint32
}

// Open starts capturing on cfg.Interface. The packet socket is created
// with a filter that keeps nothing, attached before the socket is bound, so
// no unfiltered frame is ever queued; the port filter replaces it once the
// receive ring is mapped. Packets are passed to cfg.Handler from a
// goroutine that runs until Close. On loopback Open also starts one
// marker-sending thread per CPU for Sync.
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
		flush:    cfg.Flush,
		conn:     conn,
		linkType: layers.LinkTypeEthernet,
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		waiters:  make(map[uint64]*syncWaiter),
	}
	if err := c.setup(cfg.MarkerTo); err != nil {
		c.closeSockets()
		return nil, fmt.Errorf("capture: open %s: %w", ifname, err)
	}
	if err := c.SetPorts(cfg.TCPPorts, cfg.UDPPorts); err != nil {
		c.closeSockets()
		return nil, err
	}
	go c.run()
	if c.marker != nil {
		// On lo, one marker from each CPU (see Sync); on Ethernet, a
		// marker sent is in the ring before the send returns.
		c.senders = percpu.Start(!c.outgoing)
	}
	return c, nil
}

// setup checks the interface's framing and sets the socket options, and
// opens the Sync marker socket on loopback, or to markerTo on Ethernet.
func (c *Capture) setup(markerTo netip.Addr) error {
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
		serr = c.mapRing(s)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	switch hatype {
	case unix.ARPHRD_LOOPBACK:
		// lo hands a packet socket each frame twice, as it is sent and
		// as it arrives. Asked not to (Linux 4.20 and later), the kernel
		// no longer clones every frame a program sends, for the filter
		// to drop (its prefix still does where the option is missing):
		// CPU the sending programs save, on every packet.
		if ignoreOutgoing {
			_ = rc.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
			})
		}
		return c.openMarker()
	case unix.ARPHRD_ETHER:
		c.outgoing = true
		if markerTo.IsValid() {
			return c.openMarkerTo(markerTo)
		}
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

// openMarkerTo opens the UDP socket Sync sends its markers from, to
// the same port at to, out through the interface. A frame sent is
// handed to the capture by the sending thread, before the send
// returns: one marker, from any CPU, follows every frame sent before
// it.
func (c *Capture) openMarkerTo(to netip.Addr) error {
	if !to.Is4() {
		return fmt.Errorf("sync address %v: want IPv4", to)
	}
	mc, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return fmt.Errorf("sync socket: %w", err)
	}
	c.marker = mc
	c.markerAddr = netip.AddrPortFrom(to, uint16(mc.LocalAddr().(*net.UDPAddr).Port))
	_, _ = rand.Read(c.nonce[:])
	return nil
}

// mapRing asks the kernel for the receive ring (TPACKET_V3) and maps it.
// The frames' kernel timestamps and lengths on the wire come in each
// frame's header in the ring.
func (c *Capture) mapRing(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       ringBlocks,
		Frame_size:     ringBlockSize, // unused by TPACKET_V3, but checked
		Frame_nr:       ringBlocks,
		Retire_blk_tov: ringRetire,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	ring, err := unix.Mmap(fd, 0, ringBlockSize*ringBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap the receive ring: %w", err)
	}
	c.ring = ring
	return nil
}

func (c *Capture) closeSockets() {
	_ = c.conn.Close()
	c.unmapRing()
	if c.marker != nil {
		_ = c.marker.Close()
	}
}

func (c *Capture) unmapRing() {
	if c.ring != nil {
		_ = unix.Munmap(c.ring)
		c.ring = nil
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
	prog, err := buildFilter(ps.tcp, kudp, uint32(c.snaplen), c.outgoing)
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

// Offsets in the ring (see <linux/if_packet.h>): a block starts with
// struct tpacket_block_desc, whose header (tpacket_hdr_v1) holds the
// block's status, frame count and first frame's offset; each frame
// starts with struct tpacket3_hdr.
const (
	blockStatusOff = 8  // block_status
	blockNumOff    = 12 // num_pkts
	blockFirstOff  = 16 // offset_to_first_pkt
	blockLenOff    = 20 // blk_len: bytes used, from the block's start
	blockSeqOff    = 24 // seq_num: the kernel numbers the blocks it opens, from 1
	frameHdrLen    = unix.SizeofTpacket3Hdr
)

// block returns block i of the ring and a pointer to its status word,
// which the kernel and the reader hand back and forth.
func (c *Capture) block(i int) ([]byte, *uint32) {
	b := c.ring[i*ringBlockSize : (i+1)*ringBlockSize]
	return b, (*uint32)(unsafe.Pointer(&b[blockStatusOff]))
}

// ready reports whether the kernel has handed the reader's next block
// over.
func (c *Capture) ready() bool {
	_, status := c.block(c.next)
	return atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0
}

// run is the reader goroutine: it reads every block the kernel has handed
// over, then waits on the socket (the kernel wakes it each time it hands
// a block over) until Close.
func (c *Capture) run() {
	defer close(c.done)
	for {
		if c.readBlocks() > 0 {
			c.nap()
		}
		err := c.rc.Read(func(uintptr) bool { return c.ready() })
		if err != nil {
			if c.closing.Load() {
				c.drain()
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			c.readErr = fmt.Errorf("read: %w", err)
			return
		}
	}
}

// nap waits ringNap, or less if a Sync or Close is waiting or comes.
func (c *Capture) nap() {
	if c.closing.Load() {
		return
	}
	c.syncMu.Lock()
	syncing := len(c.waiters) > 0
	c.syncMu.Unlock()
	if syncing {
		return
	}
	t := time.NewTimer(ringNap)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.kick:
	}
}

// wake ends the reader's nap, or the next one.
func (c *Capture) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// readBlocks delivers the frames of every block the kernel has handed
// over, in order, and hands each block back, then calls the Flush hook.
// It returns the number of blocks read.
func (c *Capture) readBlocks() int {
	n := 0
	for ; c.ready(); n++ {
		b, status := c.block(c.next)
		frames := c.frames(b)
		// One allocation holds the copies of all the block's frames
		// (each Packet.Data is a slice of it, capped at its own end).
		size := 0
		for _, f := range frames {
			size += len(f.data)
		}
		arena := make([]byte, 0, size)
		for _, f := range frames {
			at := len(arena)
			arena = append(arena, f.data...)
			c.deliver(arena[at:len(arena):len(arena)], f.wireLen, f.ts)
		}
		c.lastSeq = binary.NativeEndian.Uint64(b[blockSeqOff:])
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		c.next = (c.next + 1) % ringBlocks
	}
	if n > 0 && c.flush != nil {
		c.flush()
	}
	return n
}

// ringFrame is a frame in a block of the ring.
type ringFrame struct {
	data    []byte // in the ring: copy it before handing the block back
	wireLen int
	ts      time.Time
}

// frames lists the frames of block b (which the kernel has handed over),
// in the order the kernel wrote them. c.frameBuf is reused.
func (c *Capture) frames(b []byte) []ringFrame {
	n := int(binary.NativeEndian.Uint32(b[blockNumOff:]))
	off := int(binary.NativeEndian.Uint32(b[blockFirstOff:]))
	fs := c.frameBuf[:0]
	for range n {
		if off <= 0 || off+frameHdrLen > len(b) {
			break // not a frame: the kernel's layout changed?
		}
		h := b[off:]
		next := int(binary.NativeEndian.Uint32(h[0:]))
		sec := binary.NativeEndian.Uint32(h[4:])
		nsec := binary.NativeEndian.Uint32(h[8:])
		snaplen := int(binary.NativeEndian.Uint32(h[12:]))
		wireLen := int(binary.NativeEndian.Uint32(h[16:]))
		mac := int(binary.NativeEndian.Uint16(h[24:]))
		if mac+snaplen <= len(h) {
			// The kernel stamps every frame in the ring: with the time
			// it arrived, when some socket on the machine asked for
			// receive timestamps (TP_STATUS_TS_SOFTWARE), else with the
			// time it wrote the frame to the ring, on its receive path,
			// a few µs later.
			var ts time.Time
			if sec != 0 || nsec != 0 {
				ts = time.Unix(int64(sec), int64(nsec))
			}
			fs = append(fs, ringFrame{data: h[mac : mac+snaplen], wireLen: wireLen, ts: ts})
		}
		if next == 0 {
			break
		}
		off += next
	}
	c.frameBuf = fs[:0]
	return fs
}

// drain delivers what is left in the ring once Close has attached a
// filter that keeps nothing: the blocks already handed over, then the
// block the kernel is still filling, which it hands over within
// ringRetire ms.
func (c *Capture) drain() {
	c.readBlocks()
	deadline := time.Now().Add(ringCloseWait)
	for {
		b, status := c.block(c.next)
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 &&
			(binary.NativeEndian.Uint32(b[blockNumOff:]) == 0 || binary.NativeEndian.Uint64(b[blockSeqOff:]) != c.lastSeq+1) {
			// The kernel's block is empty, or it has not opened it
			// since the reader handed it back (the count is an old
			// one): nothing is left.
			return
		}
		if time.Now().After(deadline) {
			c.readErr = fmt.Errorf("drain: the kernel did not hand over its last block in %v", ringCloseWait)
			return
		}
		// Wait for the kernel to hand it over (poll(2) directly: the
		// socket's deadline has passed).
		err := c.rc.Control(func(fd uintptr) {
			_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 1)
		})
		if err != nil {
			c.readErr = fmt.Errorf("drain: %w", err)
			return
		}
		c.readBlocks()
	}
}

// deliver turns one frame into a Packet and hands it to the Handler, or
// consumes it if it is a Sync marker. frame is the receiver's to keep;
// wireLen is the frame's length on the wire; ts is the kernel's receive
// timestamp, zero if it gave none.
func (c *Capture) deliver(frame []byte, wireLen int, ts time.Time) {
	origLen := max(wireLen, len(frame))
	if c.marker != nil {
		if sport, dport, payload, ok := udpOf(frame); ok {
			mp := c.markerAddr.Port()
			if sport == mp && dport == mp {
				// A marker may end a Sync, which returns once the
				// packets before it are written out.
				if c.flush != nil {
					c.flush()
				}
				if c.consumeMarker(payload) {
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
		Data: frame,
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
// already in the ring to the Handler, and returns once the reader
// goroutine has returned, with the final counters. Packets still on their
// way through the kernel when Close is called are not waited for: call Sync
// first to include them. Close may be called more than once; later calls
// return the same result. It must not be called from the Handler. Most of
// its time (20 to 30 ms on a small VM) is the kernel releasing the packet
// socket and its ring, which waits for two RCU grace periods.
func (c *Capture) Close() (Stats, error) {
	c.closeOnce.Do(func() {
		c.setMu.Lock()
		c.closing.Store(true)
		c.wake()
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
		c.unmapRing()
		if c.senders != nil {
			c.senders.Stop()
		}
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
// Sync works on loopback, and on an Ethernet interface given a
// Config.MarkerTo (where a marker sent is in the ring before the send
// returns: one marker is enough); elsewhere it returns an error matching
// ErrUnsupported. It must not be called from the Handler.
//
// How: on lo a sent frame is queued on the backlog of the CPU that sent it
// and moved from there, in order, to the packet socket's ring, which the
// reader reads in order (the kernel hands it over a block at a time, within
// ringRetire ms of the block's first frame). Frames sent from different CPUs are not ordered
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
	if c.marker == nil {
		return fmt.Errorf("capture: sync %s: %w (only on loopback, or with a marker address)", c.ifname, ErrUnsupported)
	}
	if c.closing.Load() {
		return ErrClosed
	}
	w := &syncWaiter{ch: make(chan struct{}), seen: make(map[uint32]bool)}
	c.syncMu.Lock()
	c.syncSeq++
	seq := c.syncSeq
	c.waiters[seq] = w
	c.syncMu.Unlock()
	c.wake() // the reader reads at once from now on
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
				return ErrClosed
			}
			return fmt.Errorf("capture: sync %s: %w", c.ifname, err)
		}
		select {
		case <-w.ch:
			return nil
		case <-c.done:
			select {
			case <-w.ch:
				return nil
			default:
			}
			if c.closing.Load() {
				return ErrClosed
			}
			return fmt.Errorf("capture: sync %s: reader stopped: %w", c.ifname, c.readErr)
		case <-ctx.Done():
			return fmt.Errorf("capture: sync %s: %w", c.ifname, ctx.Err())
		case <-t.C:
			t.Reset(syncResend)
		}
	}
}

// Marker payload: magic, the capture's nonce, the Sync sequence number, the
// marker's index and the number of markers in this Sync.
var markerMagic = [8]byte{'t', 'c', 'p', 't', 's', 'y', 'n', 'c'}

const markerLen = 8 + 8 + 8 + 4 + 4

// consumeMarker reports whether payload is one of this capture's markers,
// and if so records it.
func (c *Capture) consumeMarker(payload []byte) bool {
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
	if uint32(len(w.seen)) == w.total {
		close(w.ch)
		delete(c.waiters, seq)
	}
	return true
}

// sendMarkers has a marker of Sync seq sent from every sender's thread,
// and waits until they have been.
func (c *Capture) sendMarkers(seq uint64) error {
	n := uint32(c.senders.N())
	err := c.senders.Do(func(i int) error { return c.writeMarker(seq, uint32(i), n) })
	if errors.Is(err, percpu.ErrStopped) {
		return ErrClosed
	}
	return err
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
