//go:build linux

package link

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tcptour/tracer/internal/percpu"
)

// Link is a client namespace and a server namespace joined through this
// program.
type Link struct {
	cfg                Config
	client, server     netns.NsHandle
	mc, ms             string // the middle ends of the veth pairs
	toServer, toClient *pipe
	wg                 sync.WaitGroup
	closeOnce          sync.Once
	closeErr           error

	// isn are the initial sequence numbers seen in SYNs, by sender.
	isnMu sync.Mutex
	isn   map[netip.AddrPort]uint32

	// flows are the connections' directions seen, by (source,
	// destination).
	flowMu sync.Mutex
	flows  map[[2]netip.AddrPort]*flow

	// rules are the rules in force (Config.Rules, then SetRules).
	rules atomic.Pointer[[]Rule]

	// A thread parked in each end's namespace until Close, so that
	// another program can join the end: nsenter -t TID.
	tids   [2]int
	parks  chan struct{}
	parked sync.WaitGroup

	// Sync's state: a UDP socket in each end's namespace that its
	// markers are sent on, from a thread on each CPU; this link's
	// nonce, in its markers; the number of the last Sync; and a word
	// from either pipe when it has read a marker.
	syncMu      sync.Mutex
	syncConns   [2]*net.UDPConn
	syncThreads *percpu.Threads
	syncNonce   [8]byte
	syncSeq     uint64
	synced      chan struct{}
	syncSent    func() // a test's: called once Sync has sent its first markers
}

var linkCount atomic.Int32

// New makes the two namespaces and the link between them, and starts
// forwarding. It is called by a program in a network namespace of its
// own (a lab), with CAP_NET_ADMIN there. Close undoes it.
func New(cfg Config) (*Link, error) {
	l := &Link{cfg: cfg, synced: make(chan struct{}, 1)}
	// NOTE: ignoring the error: crypto/rand's Read never returns one
	// (Go 1.24 and later).
	_, _ = crand.Read(l.syncNonce[:])
	rules := slices.Clone(cfg.Rules)
	l.rules.Store(&rules)
	// Names other programs in the same lab do not take: "lk1234-1c".
	n, pid := linkCount.Add(1), os.Getpid()%100000
	l.mc = fmt.Sprintf("lk%d-%dc", pid, n)
	l.ms = fmt.Sprintf("lk%d-%ds", pid, n)
	if err := l.setup(); err != nil {
		l.teardown()
		return nil, err
	}
	fc, err := openPacket(l.mc)
	if err != nil {
		l.teardown()
		return nil, err
	}
	fs, err := openPacket(l.ms)
	if err != nil {
		fc.Close()
		l.teardown()
		return nil, err
	}
	l.parks = make(chan struct{})
	for i, ns := range []netns.NsHandle{l.client, l.server} {
		if l.tids[i], err = l.park(ns); err == nil {
			err = in(ns, func() error {
				c, err := net.ListenUDP("udp4", nil) // a socket of ns's
				l.syncConns[i] = c
				return err
			})
		}
		if err != nil {
			close(l.parks)
			l.parked.Wait()
			l.closeSync()
			fc.Close()
			fs.Close()
			l.teardown()
			return nil, err
		}
	}
	l.syncThreads = percpu.Start(true)
	l.toServer = newPipe(l, FromClient, fc, fs, cfg.DelayToServer)
	l.toClient = newPipe(l, FromServer, fs, fc, cfg.DelayToClient)
	l.setRate(cfg.RateToServer, cfg.RateToClient, cfg.Queue)
	l.toServer.start(&l.wg)
	l.toClient.start(&l.wg)
	return l, nil
}

// SetRate limits each direction to so many bytes a second, with a queue
// of so many frames (0: DefaultQueue), as Config's RateToServer,
// RateToClient and Queue say; a rate of 0 lifts that direction's limit.
// As with SetRules, a frame either end sent before the call keeps the
// old limit, one sent after has the new, and the error says when the
// link could not make sure of it. Frames already queued keep their
// times.
func (l *Link) SetRate(toServer, toClient int64, queue int) error {
	err := l.syncBefore()
	l.setRate(toServer, toClient, queue)
	return err
}

func (l *Link) setRate(toServer, toClient int64, queue int) {
	if queue <= 0 {
		queue = DefaultQueue
	}
	l.toServer.shape.Store(&shaping{rate: toServer, queue: queue})
	l.toClient.shape.Store(&shaping{rate: toClient, queue: queue})
}

// setup makes the namespaces and veth pairs.
func (l *Link) setup() error {
	var err error
	l.client, l.server = -1, -1
	onThread(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		home, e := netns.Get()
		if e != nil {
			err = fmt.Errorf("link: this namespace: %w", e)
			return
		}
		defer home.Close()
		mk := func() (netns.NsHandle, error) {
			ns, err := netns.New() // makes it and moves this thread there
			if err != nil {
				return -1, err
			}
			if err := netns.Set(home); err != nil {
				ns.Close()
				return -1, err
			}
			return ns, nil
		}
		if l.client, e = mk(); e != nil {
			err = fmt.Errorf("link: new namespace: %w", e)
			return
		}
		if l.server, e = mk(); e != nil {
			err = fmt.Errorf("link: new namespace: %w", e)
		}
	})
	if err != nil {
		return err
	}
	for _, p := range []struct {
		mid, end string
		ns       netns.NsHandle
	}{{l.mc, ClientInterface, l.client}, {l.ms, ServerInterface, l.server}} {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.mid, MTU: 1500}, PeerName: p.end, PeerNamespace: netlink.NsFd(p.ns)}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("link: add veth %s: %w", p.mid, err)
		}
		if err := offloadsOff(p.mid); err != nil {
			return err
		}
		mid, err := netlink.LinkByName(p.mid)
		if err != nil {
			return fmt.Errorf("link: %s: %w", p.mid, err)
		}
		if err := netlink.LinkSetUp(mid); err != nil {
			return fmt.Errorf("link: up %s: %w", p.mid, err)
		}
	}
	if err := configure(l.client, ClientInterface, ClientAddr, ClientAddr6); err != nil {
		return err
	}
	if err := configure(l.server, ServerInterface, ServerAddr, ServerAddr6); err != nil {
		return err
	}
	// Each end knows the other's hardware address from the start: no
	// ARP exchange delays the first segment, or shows in the capture.
	cmac, err := hardwareAddr(l.client, ClientInterface)
	if err != nil {
		return err
	}
	smac, err := hardwareAddr(l.server, ServerInterface)
	if err != nil {
		return err
	}
	for _, n := range []struct {
		ns     netns.NsHandle
		ifname string
		addr   netip.Addr
		mac    []byte
	}{
		{l.client, ClientInterface, ServerAddr, smac}, {l.client, ClientInterface, ServerAddr6, smac},
		{l.server, ServerInterface, ClientAddr, cmac}, {l.server, ServerInterface, ClientAddr6, cmac},
	} {
		if err := neighbour(n.ns, n.ifname, n.addr, n.mac); err != nil {
			return err
		}
	}
	return nil
}

// hardwareAddr is the hardware address of ifname in ns.
func hardwareAddr(ns netns.NsHandle, ifname string) (mac []byte, err error) {
	err = in(ns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("link: netlink: %w", err)
		}
		defer h.Close()
		ln, err := h.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("link: %s: %w", ifname, err)
		}
		mac = ln.Attrs().HardwareAddr
		return nil
	})
	return mac, err
}

// neighbour gives ifname in ns a permanent neighbour entry: addr is at
// mac.
func neighbour(ns netns.NsHandle, ifname string, addr netip.Addr, mac []byte) error {
	return in(ns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("link: netlink: %w", err)
		}
		defer h.Close()
		ln, err := h.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("link: %s: %w", ifname, err)
		}
		n := &netlink.Neigh{LinkIndex: ln.Attrs().Index, State: netlink.NUD_PERMANENT, IP: addr.AsSlice(), HardwareAddr: mac}
		if err := h.NeighAdd(n); err != nil {
			return fmt.Errorf("link: neighbour %s on %s: %w", addr, ifname, err)
		}
		return nil
	})
}

// configure gives ifname in ns its address, turns its offloads off and
// brings it and lo up.
func configure(ns netns.NsHandle, ifname string, addr, addr6 netip.Addr) error {
	if err := in(ns, func() error {
		h, err := netlink.NewHandle() // this thread's namespace: ns
		if err != nil {
			return fmt.Errorf("link: netlink: %w", err)
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("link: lo: %w", err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("link: up lo: %w", err)
		}
		ln, err := h.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("link: %s: %w", ifname, err)
		}
		a := &netlink.Addr{IPNet: netlink.NewIPNet(addr.AsSlice())}
		a.IPNet.Mask = []byte{255, 255, 255, 0}
		if err := h.AddrAdd(ln, a); err != nil {
			return fmt.Errorf("link: address %s on %s: %w", addr, ifname, err)
		}
		// IPv6 at once: no duplicate address detection, which would
		// keep the address tentative (unusable) for a second or more.
		a6 := &netlink.Addr{IPNet: netlink.NewIPNet(addr6.AsSlice()), Flags: unix.IFA_F_NODAD}
		a6.IPNet.Mask = net.CIDRMask(64, 128)
		if err := h.AddrAdd(ln, a6); err != nil {
			return fmt.Errorf("link: address %s on %s: %w", addr6, ifname, err)
		}
		if err := offloadsOff(ifname); err != nil {
			return err
		}
		if err := h.LinkSetUp(ln); err != nil {
			return fmt.Errorf("link: up %s: %w", ifname, err)
		}
		return nil
	}); err != nil {
		return err
	}
	// The marker address answers no ARP: its neighbour entry is made
	// here, for good, and the link drops what is sent to it.
	return neighbour(ns, ifname, MarkerAddr, markerMAC)
}

// markerMAC is the marker address's hardware address: locally
// administered, unicast.
var markerMAC = []byte{0x02, 0, 0, 0, 0, 0xfe}

// SetRules replaces the rules in force. A segment either end sent before
// the call meets the rules in force before it, one sent after meets
// these: SetRules first waits until the link has read every frame sent
// before (Sync). So a RST the client's kernel sent as it gave a
// connection up meets the rules of the step in which it was sent,
// however late the link's reader ran. If the link has not read them
// within 5 s, or is closed, SetRules replaces the rules all the same and
// returns Sync's error. It must not be called from Config.OnEvent or
// OnSegment, which run on the link's reader. The counts of segments (a
// rule's Index) are kept per connection, so rules set between
// connections pick segments of the next connection as Config.Rules
// would.
func (l *Link) SetRules(rules ...Rule) error {
	err := l.syncBefore()
	r := slices.Clone(rules)
	l.rules.Store(&r)
	return err
}

// syncBefore waits until the link has read what both ends sent before
// (Sync), for SyncTimeout at most.
func (l *Link) syncBefore() error {
	ctx, cancel := context.WithTimeout(context.Background(), SyncTimeout)
	defer cancel()
	return l.Sync(ctx)
}

// syncPort is the UDP port Sync's markers are sent to, at MarkerAddr:
// the discard port, which no lesson uses, and which the lessons'
// captures do not keep.
const syncPort = 9

// syncResend is how often Sync sends its markers again while it waits,
// in case one was lost.
const syncResend = 50 * time.Millisecond

// syncMagic begins the payload of Sync's markers; then come the link's
// nonce, the Sync's number, the marker's index and how many there are.
var syncMagic = [8]byte{'t', 'c', 'p', 't', 'l', 'i', 'n', 'k'}

// syncLen is the length of a marker's payload.
const syncLen = 8 + 8 + 8 + 4 + 4

// Sync returns once the link has read, and applied its rules to, every
// frame the client's and the server's kernels sent before Sync was
// called. A veth pair hands a frame to the link on the CPU that sent
// it, in the order it was sent from that CPU; frames sent from two CPUs
// are not ordered with each other. A RST that a kernel's timer sends on
// one CPU can reach the link after a frame that the program it woke
// sends, a moment later, from another. So Sync has a small UDP datagram
// (a marker) sent to MarkerAddr from each end and from every CPU (by a
// thread pinned to each), and waits until the link has read all of
// them. The link drops markers. Sync sends them again every 50 ms while
// it waits, in case one was lost. This assumes receive packet steering
// (RPS) is off on the veth pairs, the default, a kernel that is not
// PREEMPT_RT, and that this process may run on every CPU (a kernel's
// timer may fire on a CPU a taskset leaves out, where no marker is sent
// from).
func (l *Link) Sync(ctx context.Context) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncConns[0] == nil {
		return errors.New("link: sync: the link is closed")
	}
	l.syncSeq++
	seq := l.syncSeq
	n := l.syncThreads.N()
	to := netip.AddrPortFrom(MarkerAddr, syncPort)
	send := func() error {
		err := l.syncThreads.Do(func(i int) error {
			var msg [syncLen]byte
			copy(msg[:], syncMagic[:])
			copy(msg[8:], l.syncNonce[:])
			binary.BigEndian.PutUint64(msg[16:], seq)
			binary.BigEndian.PutUint32(msg[24:], uint32(i))
			binary.BigEndian.PutUint32(msg[28:], uint32(n))
			for _, c := range l.syncConns {
				if _, err := c.WriteToUDPAddrPort(msg[:], to); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("link: sync: %w", err)
		}
		return nil
	}
	if err := send(); err != nil {
		return err
	}
	if l.syncSent != nil {
		l.syncSent()
	}
	t := time.NewTimer(syncResend)
	defer t.Stop()
	for !l.toServer.synced(seq, n) || !l.toClient.synced(seq, n) {
		select {
		case <-l.synced:
		case <-t.C:
			if err := send(); err != nil {
				return err
			}
			t.Reset(syncResend)
		case <-l.toServer.stopping:
			return errors.New("link: sync: the link is closed")
		case <-ctx.Done():
			return fmt.Errorf("link: sync: %w", ctx.Err())
		}
	}
	return nil
}

// closeSync closes Sync's sockets.
func (l *Link) closeSync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncThreads != nil {
		l.syncThreads.Stop()
	}
	var errs []error
	for i, c := range l.syncConns {
		if c != nil {
			errs = append(errs, c.Close())
			l.syncConns[i] = nil
		}
	}
	return errors.Join(errs...)
}

// Rules returns the rules in force.
func (l *Link) Rules() []Rule { return slices.Clone(*l.rules.Load()) }

// SetSysctl sets a setting of both ends' networks ("net.ipv4.tcp_early_retrans")
// to value, and returns what it was at the client's end.
func (l *Link) SetSysctl(name, value string) (old string, err error) {
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	for i, ns := range []netns.NsHandle{l.client, l.server} {
		err := in(ns, func() error {
			// /proc/sys/net is the namespace of the thread that
			// opens it.
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if i == 0 {
				old = strings.Join(strings.Fields(string(b)), " ") // "32768\t60999" as "32768 60999"
			}
			return os.WriteFile(path, []byte(value), 0)
		})
		if err != nil {
			return "", fmt.Errorf("link: sysctl %s = %s: %w", name, value, err)
		}
	}
	return old, nil
}

// onThread runs f on a goroutine of its own and waits for it.
func onThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// in runs f on a locked OS thread in ns. The thread is never unlocked:
// it ends with the goroutine rather than go back to Go's pool in
// another namespace.
func in(ns netns.NsHandle, f func() error) error {
	var err error
	onThread(func() {
		runtime.LockOSThread()
		if e := netns.Set(ns); e != nil {
			err = fmt.Errorf("link: enter namespace: %w", e)
			return
		}
		err = f()
	})
	return err
}

// park starts a thread in ns that waits there until Close, and returns
// its thread id.
func (l *Link) park(ns netns.NsHandle) (int, error) {
	tid := make(chan int, 1)
	errc := make(chan error, 1)
	l.parked.Add(1)
	go func() {
		defer l.parked.Done()
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("link: enter namespace: %w", err)
			return
		}
		tid <- unix.Gettid()
		<-l.parks
	}()
	select {
	case t := <-tid:
		return t, nil
	case err := <-errc:
		return 0, err
	}
}

// ClientTID and ServerTID are the ids of threads of this program that
// stay in the client's and the server's namespace until Close: another
// program joins an end with nsenter -t TID -n (and -U
// --preserve-credentials in a user namespace), as it joins a process's.
func (l *Link) ClientTID() int { return l.tids[0] }

// ServerTID is ClientTID for the server's namespace.
func (l *Link) ServerTID() int { return l.tids[1] }

// InClient runs f in the client's namespace, on an OS thread of its
// own: sockets f makes belong to that namespace, wherever they are used
// afterwards.
func (l *Link) InClient(f func() error) error { return in(l.client, f) }

// InServer runs f in the server's namespace, as InClient does.
func (l *Link) InServer(f func() error) error { return in(l.server, f) }

// Close stops forwarding and removes the namespaces and the veth pairs.
// Sockets made in them go on existing until closed, but carry nothing.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.toServer.stop()
		l.toClient.stop()
		l.wg.Wait()
		close(l.parks)
		l.parked.Wait()
		l.closeErr = errors.Join(l.toServer.in.Close(), l.toClient.in.Close(), l.closeSync())
		l.teardown()
	})
	return l.closeErr
}

func (l *Link) teardown() {
	for _, name := range []string{l.mc, l.ms} {
		if ln, err := netlink.LinkByName(name); err == nil {
			// NOTE: ignoring the error: the namespace's end goes
			// with it anyway.
			_ = netlink.LinkDel(ln)
		}
	}
	if l.client >= 0 {
		l.client.Close()
		l.client = -1
	}
	if l.server >= 0 {
		l.server.Close()
		l.server = -1
	}
}

// The ethtool commands that set an offload (linux/ethtool.h).
const (
	ethtoolSTXCSUM = 0x17
	ethtoolSTSO    = 0x1f
	ethtoolSGSO    = 0x24
	ethtoolSGRO    = 0x2c
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct{ cmd, data uint32 }

// ifreqData is struct ifreq with a pointer in its union.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

// offloadsOff turns off TX checksum, TSO, GSO and GRO on ifname in this
// thread's namespace.
func offloadsOff(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("link: socket for ethtool: %w", err)
	}
	defer unix.Close(fd)
	for _, cmd := range []uint32{ethtoolSTXCSUM, ethtoolSTSO, ethtoolSGSO, ethtoolSGRO} {
		v := ethtoolValue{cmd: cmd}
		var r ifreqData
		copy(r.name[:unix.IFNAMSIZ-1], ifname)
		// struct ifreq's union holds a pointer to the ethtool
		// command: the one use of unsafe here.
		r.data = uintptr(unsafe.Pointer(&v))
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&r)))
		runtime.KeepAlive(&v)
		if errno != 0 {
			return fmt.Errorf("link: ethtool %#x on %s: %w", cmd, ifname, errno)
		}
	}
	return nil
}

// packetBuffer is the receive buffer asked for each packet socket: room
// for several thousand frames.
const packetBuffer = 16 << 20

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSock is an AF_PACKET socket bound to one interface, on Go's
// poller so that Close ends a read in progress.
type packetSock struct {
	f  *os.File
	rc interface {
		Read(func(uintptr) bool) error
		Write(func(uintptr) bool) error
	}

	// The arguments and results of readBatch's system call, and of
	// writeBatch's, with the functions that make them, made once (a
	// closure made for each call would be an allocation each). One
	// goroutine reads at a time, and one writes.
	rd        *batch
	rn        int
	rerr      unix.Errno
	readFn    func(uintptr) bool
	wr        *batch
	wdone, wn int
	writeFn   func(uintptr) bool
}

func openPacket(ifname string) (*packetSock, error) {
	ifi, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("link: %s: %w", ifname, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("link: packet socket: %w", err)
	}
	// A burst of a sender in slow start (hundreds of frames within a
	// millisecond) must wait in the socket, not be lost there: the
	// default buffer (net.core.rmem_default, 208 kB) holds about 90
	// frames. Raise it past net.core.rmem_max where this namespace's
	// CAP_NET_ADMIN allows (SO_RCVBUFFORCE), else up to rmem_max.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, packetBuffer); err != nil {
		// NOTE: ignoring the error: the default buffer works, with
		// losses in large bursts.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, packetBuffer)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Attrs().Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("link: bind packet socket to %s: %w", ifname, err)
	}
	f := os.NewFile(uintptr(fd), ifname)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("link: %s: %w", ifname, err)
	}
	p := &packetSock{f: f, rc: rc}
	p.readFn, p.writeFn = p.recvmmsg, p.sendmmsg
	return p, nil
}

func (p *packetSock) Close() error { return p.f.Close() }

// frame is a frame waiting for its time to go.
type frame struct {
	due time.Time
	b   []byte
	seg Segment // a held frame's segment
	ack ackMark // the acknowledgment it carries, noted once sent
}

// ackMark is the acknowledgment number a frame carries to the sender of
// flow to (nil for a frame without ACK): once the frame has gone, that
// sender knows its data up to ack arrived.
type ackMark struct {
	to  *flow
	ack uint32
}

// sent notes that the frame carrying m has gone to its end.
func (m ackMark) sent() {
	if m.to != nil {
		m.to.acked(m.ack)
	}
}

// frameSize is the room of a pooled buffer: a whole frame of the veth's
// MTU (1500 bytes, and 14 of Ethernet header) fits.
const frameSize = 2048

// framePool holds the buffers of frames waiting in a pipe's queue: a
// frame sent at once needs none, and a queued one takes one back from
// the pool rather than allocate.
var framePool = sync.Pool{New: func() any { return new([frameSize]byte) }}

// clone copies b into a buffer of the pool (or a new one if b does not
// fit).
func clone(b []byte) []byte {
	if len(b) > frameSize {
		return append([]byte(nil), b...)
	}
	buf := framePool.Get().(*[frameSize]byte)
	return buf[:copy(buf[:], b)]
}

// release gives b, from clone, back to the pool.
func release(b []byte) {
	if cap(b) == frameSize {
		framePool.Put((*[frameSize]byte)(b[:frameSize]))
	}
}

// pipe carries one direction: a goroutine reads frames and applies the
// rules, and sends at once what is due at once, unless frames are
// waiting; another sends those that wait (a delay, a rate, a rule),
// when they are due.
type pipe struct {
	l        *Link
	dir      Dir
	in, out  *packetSock
	delay    time.Duration
	queue    chan frame // from reader to sender, in arrival order
	queued   atomic.Int64
	stopping chan struct{}
	shape    atomic.Pointer[shaping] // the rate limit (SetRate)

	// The markers of the last Sync read (markerRead).
	syncMu   sync.Mutex
	syncSeq  uint64
	syncSeen map[uint32]bool

	// departs are the times the frames in the limited direction's
	// queue finish going out, in order: the reader's alone.
	departs []time.Time

	// Rule state, the reader's alone.
	parser  *gopacket.DecodingLayerParser
	eth     layers.Ethernet
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	decoded []gopacket.LayerType
	flows   map[[2]netip.AddrPort]*flow // by (source, destination)
	random  *rand.Rand                  // for Config.Loss
	seen    map[segKey]segSeen          // SYNs, SYN-ACKs, FINs, RSTs
	held    []frame

	// The frames read by one system call, and those of them due at
	// once, written together after them: the reader's alone.
	rd, wr *batch
	wrAck  []ackMark
	nwr    int
}

// segKey names a segment by first transmission.
type segKey struct {
	src, dst netip.AddrPort
	kind     Kind
	seq      uint32
}

type segSeen struct{ index, count int }

func newPipe(l *Link, dir Dir, in, out *packetSock, delay time.Duration) *pipe {
	p := &pipe{l: l, dir: dir, in: in, out: out, delay: delay,
		queue: make(chan frame, 4096), stopping: make(chan struct{}), seen: map[segKey]segSeen{},
		syncSeen: map[uint32]bool{},
		flows:    map[[2]netip.AddrPort]*flow{}}
	p.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &p.eth, &p.ip4, &p.ip6, &p.tcp)
	p.parser.IgnoreUnsupported = true
	// Config.Loss's numbers: one sequence a direction, from the seed.
	p.random = rand.New(rand.NewPCG(l.cfg.Seed, uint64(dir)))
	return p
}

func (p *pipe) start(wg *sync.WaitGroup) {
	wg.Add(2)
	go func() { defer wg.Done(); p.readLoop() }()
	go func() { defer wg.Done(); p.sendLoop() }()
}

// stop ends both goroutines: closing the socket read from ends the
// reader, which closes the queue, which ends the sender.
func (p *pipe) stop() {
	close(p.stopping)
	// NOTE: ignoring the error: a socket on the poller takes deadlines.
	_ = p.in.f.SetReadDeadline(time.Now())
}

func (p *pipe) readLoop() {
	defer close(p.queue)
	p.rd = newReadBatch(batchFrames, 65536)
	p.wr, p.wrAck = newBatch(batchFrames), make([]ackMark, batchFrames)
	for {
		n, err := p.in.readBatch(p.rd)
		if err != nil {
			return
		}
		for i := range n {
			// Until the next read: what waits is copied.
			p.handle(p.rd.bufs[i][:p.rd.lens[i]])
		}
		p.flush()
	}
}

// handle applies the rules to frame b and sends it on its way.
func (p *pipe) handle(b []byte) {
	if toMarker(b) {
		// A capture's Sync marker, or the link's: it goes no further.
		if seq, idx, ok := p.l.syncMarker(b); ok {
			p.markerRead(seq, idx)
		}
		return
	}
	now := time.Now()
	seg, ack, ok := p.parse(now, b)
	if !ok {
		p.forward(now, b, 0, Segment{Dir: p.dir}, ackMark{})
		return
	}
	if f := p.l.cfg.OnSegment; f != nil {
		f(seg)
	}
	held := p.held
	p.held = nil
	p.act(now, seg, b, ack)
	for _, h := range held {
		p.forward(now, h.b, 0, h.seg, h.ack)
	}
}

// toMarker reports whether the Ethernet frame b carries IPv4 to
// MarkerAddr.
func toMarker(b []byte) bool {
	return len(b) >= 34 && b[12] == 0x08 && b[13] == 0x00 && netip.AddrFrom4([4]byte(b[30:34])) == MarkerAddr
}

// syncMarker returns the Sync number and index of the link's own marker
// in frame b, one that toMarker says is to MarkerAddr.
func (l *Link) syncMarker(b []byte) (seq uint64, idx uint32, ok bool) {
	ip := b[14:]
	hl := int(ip[0]&0x0f) * 4
	if ip[9] != unix.IPPROTO_UDP || hl < 20 || len(ip) < hl+8+syncLen {
		return 0, 0, false
	}
	udp := ip[hl:]
	msg := udp[8:]
	if binary.BigEndian.Uint16(udp[2:4]) != syncPort || [8]byte(msg[:8]) != syncMagic || [8]byte(msg[8:16]) != l.syncNonce {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(msg[16:24]), binary.BigEndian.Uint32(msg[24:28]), true
}

// markerRead notes that the reader read marker idx of Sync seq, and
// tells Sync.
func (p *pipe) markerRead(seq uint64, idx uint32) {
	p.syncMu.Lock()
	switch {
	case seq > p.syncSeq:
		p.syncSeq = seq
		clear(p.syncSeen)
		p.syncSeen[idx] = true
	case seq == p.syncSeq:
		p.syncSeen[idx] = true
	}
	p.syncMu.Unlock()
	select {
	case p.l.synced <- struct{}{}:
	default: // Sync has a word waiting already
	}
}

// synced reports whether the reader has read all n markers of Sync seq.
func (p *pipe) synced(seq uint64, n int) bool {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	return p.syncSeq == seq && len(p.syncSeen) >= n
}

// act applies the first rule that picks seg.
func (p *pipe) act(now time.Time, seg Segment, b []byte, ack ackMark) {
	var extra time.Duration
	picked := false
	for _, r := range *p.l.rules.Load() {
		if !r.matches(seg) {
			continue
		}
		picked = true
		if on := p.l.cfg.OnEvent; on != nil {
			on(Event{Time: now, Action: r.Action, Segment: seg, Rule: r.String(), Text: eventText(r, seg)})
		}
		switch r.Action {
		case Drop:
			return
		case Delay:
			extra = r.Extra
		case Duplicate:
			p.forward(now, b, 0, seg, ack)
		case Hold:
			p.held = append(p.held, frame{b: append([]byte(nil), b...), seg: seg, ack: ack})
			return
		}
		break
	}
	if loss := p.l.cfg.Loss; !picked && loss > 0 && p.random.Float64() < loss {
		if on := p.l.cfg.OnEvent; on != nil {
			on(Event{Time: now, Action: Drop, Segment: seg, Random: true, Text: randomText(seg, loss, p.l.cfg.Seed)})
		}
		return
	}
	p.forward(now, b, extra, seg, ack)
}

// shaping is a direction's rate limit: bytes a second (0 for none) and
// the length of its queue in frames.
type shaping struct {
	rate  int64
	queue int
}

// forward sends frame b (segment seg, or a frame that is not TCP) on
// its way, due after the link's delay and extra: at once without a rate
// limit; with one, after the frames queued before it and its own time
// on the slower link, unless the queue is full and it is dropped.
func (p *pipe) forward(now time.Time, b []byte, extra time.Duration, seg Segment, ack ackMark) {
	sh := p.shape.Load()
	if sh == nil || sh.rate <= 0 {
		p.send(now, frame{due: now.Add(p.delay + extra), b: b, ack: ack})
		return
	}
	// A frame whose last byte has gone has left the queue.
	n := 0
	for n < len(p.departs) && !p.departs[n].After(now) {
		n++
	}
	p.departs = append(p.departs[:0], p.departs[n:]...)
	if len(p.departs) >= sh.queue {
		if on := p.l.cfg.OnEvent; on != nil {
			on(Event{Time: now, Action: Drop, Segment: seg, TailDrop: true, Queue: sh.queue, Text: tailDropText(seg, sh.queue)})
		}
		return
	}
	start := now
	if k := len(p.departs); k > 0 {
		start = p.departs[k-1]
	}
	done := start.Add(time.Duration(int64(len(b)) * int64(time.Second) / sh.rate))
	p.departs = append(p.departs, done)
	p.send(now, frame{due: done.Add(p.delay + extra), b: b, ack: ack})
}

// send writes f at once when it is due now and no frame waits in the
// queue (which would be due before it, or at the same time and read
// before it): with the other frames of the same read that are due at
// once, after them (flush). Else it hands a copy of f to the sender,
// after writing those read before it.
func (p *pipe) send(now time.Time, f frame) {
	if !f.due.After(now) && p.queued.Load() == 0 {
		// The sender has nothing to send, and only this goroutine
		// gives it more: the two never write at once.
		if p.nwr == len(p.wr.bufs) {
			p.flush()
		}
		p.wr.bufs[p.nwr], p.wrAck[p.nwr] = f.b, f.ack
		p.nwr++
		return
	}
	p.flush()
	f.b = clone(f.b)
	p.queued.Add(1)
	select {
	case p.queue <- f:
	case <-p.stopping:
		release(f.b)
	}
}

// flush writes the frames send kept, in order.
func (p *pipe) flush() {
	if p.nwr == 0 {
		return
	}
	p.out.writeBatch(p.wr, p.nwr)
	for i := range p.nwr {
		p.wrAck[i].sent()
		p.wr.bufs[i], p.wrAck[i] = nil, ackMark{}
	}
	p.nwr = 0
}

// sendLoop sends frames when due: in order of due time, and in
// arrival order among equals.
func (p *pipe) sendLoop() {
	var pending []frame // sorted by due
	out := newBatch(batchFrames)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		now := time.Now()
		for len(pending) > 0 && !pending[0].due.After(now) {
			// What is due, in order, in as few system calls as it
			// takes.
			n := 0
			for n < len(pending) && n < len(out.bufs) && !pending[n].due.After(now) {
				out.bufs[n] = pending[n].b
				n++
			}
			p.out.writeBatch(out, n)
			for i := range n {
				pending[i].ack.sent()
				release(pending[i].b)
				pending[i], out.bufs[i] = frame{}, nil
			}
			pending = pending[n:]
			p.queued.Add(int64(-n))
		}
		if len(pending) > 0 {
			timer.Reset(pending[0].due.Sub(now))
		}
		select {
		case f, ok := <-p.queue:
			if !ok {
				// Stopping: what is not yet due is dropped.
				return
			}
			i := len(pending)
			for i > 0 && pending[i-1].due.After(f.due) {
				i--
			}
			pending = append(pending, frame{})
			copy(pending[i+1:], pending[i:])
			pending[i] = f
		case <-timer.C:
		}
		timer.Stop()
	}
}

// parse reads a TCP segment out of an Ethernet frame, and the
// acknowledgment it carries.
func (p *pipe) parse(now time.Time, b []byte) (Segment, ackMark, bool) {
	// NOTE: ignoring the error: a frame with a layer the parser does not
	// know stops there; what was decoded is what counts.
	_ = p.parser.DecodeLayers(b, &p.decoded)
	var s Segment
	var src, dst netip.Addr
	hasTCP := false
	for _, t := range p.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			src, _ = netip.AddrFromSlice(p.ip4.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(p.ip4.DstIP.To4())
		case layers.LayerTypeIPv6:
			src, _ = netip.AddrFromSlice(p.ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(p.ip6.DstIP)
		case layers.LayerTypeTCP:
			hasTCP = true
		}
	}
	if !hasTCP {
		return s, ackMark{}, false
	}
	t := &p.tcp
	s.Dir = p.dir
	s.Src = netip.AddrPortFrom(src, uint16(t.SrcPort))
	s.Dst = netip.AddrPortFrom(dst, uint16(t.DstPort))
	s.Seq, s.Ack, s.Len = t.Seq, t.Ack, len(t.Payload)
	for _, x := range []struct {
		on bool
		f  Flags
	}{{t.FIN, FlagFIN}, {t.SYN, FlagSYN}, {t.RST, FlagRST}, {t.PSH, FlagPSH}, {t.ACK, FlagACK}, {t.URG, FlagURG}} {
		if x.on {
			s.Flags |= x.f
		}
	}
	switch {
	case t.RST:
		s.Kind = RST
	case t.SYN && t.ACK:
		s.Kind = SYNACK
	case t.SYN:
		s.Kind = SYN
	case t.FIN:
		s.Kind = FIN
	case s.Len > 0:
		s.Kind = Data
	default:
		s.Kind = PureACK
	}
	p.l.relative(&s)
	key := [2]netip.AddrPort{s.Src, s.Dst}
	fl := p.flows[key]
	if fl == nil {
		fl = p.l.flow(s.Src, s.Dst)
		p.flows[key] = fl
	}
	var seen segSeen
	switch s.Kind {
	case PureACK:
		// Pure ACKs share sequence numbers: each counts.
		fl.counts[PureACK]++
		seen = segSeen{index: fl.counts[PureACK], count: 1}
	case Data:
		seen = fl.data.see(s.Seq, uint32(s.Len), &fl.counts[Data])
		fl.forget(now)
	default:
		k := segKey{s.Src, s.Dst, s.Kind, s.Seq}
		var ok bool
		if seen, ok = p.seen[k]; !ok {
			fl.counts[s.Kind]++
			seen.index = fl.counts[s.Kind]
			if s.Kind == SYN || s.Kind == SYNACK {
				fl.restart() // new sequence numbers
			}
		}
		seen.count++
		p.seen[k] = seen
	}
	s.Index, s.Transmission = seen.index, seen.count
	var ack ackMark
	if s.Flags&FlagACK != 0 {
		ack = ackMark{to: fl.rev, ack: s.Ack}
	}
	return s, ack, true
}

// relative fills in RelSeq and RelAck from the ISNs seen.
func (l *Link) relative(s *Segment) {
	l.isnMu.Lock()
	defer l.isnMu.Unlock()
	if l.isn == nil {
		l.isn = map[netip.AddrPort]uint32{}
	}
	if s.Flags&FlagSYN != 0 {
		l.isn[s.Src] = s.Seq
	}
	if isn, ok := l.isn[s.Src]; ok {
		s.RelSeq = s.Seq - isn
	}
	if isn, ok := l.isn[s.Dst]; ok && s.Flags&FlagACK != 0 {
		s.RelAck = s.Ack - isn
	}
}
