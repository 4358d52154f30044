// Command makecaps made the link-*.pcap captures of this directory: see
// ../README.md. Run as root: SCEN=tlp|rto0|fast OUT=file.pcap go run .

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func must(err error, what string) {
	if err != nil {
		fmt.Println("FAIL", what, err)
		os.Exit(1)
	}
}

// inNS runs f on a locked thread in ns.
func inNS(ns netns.NsHandle, f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// never unlock: the thread is tainted and exits with the goroutine
		must(netns.Set(ns), "setns")
		f()
		close(done)
	}()
	<-done
}

func main() {
	if os.Getenv("INLAB") == "" {
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), "INLAB=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if os.Getuid() != 0 {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{0, os.Getuid(), 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{0, os.Getgid(), 1}}
		}
		cmd.SysProcAttr = attr
		fmt.Println("run:", cmd.Run())
		return
	}
	t0 := time.Now()
	runtime.LockOSThread()
	home, _ := netns.Get()
	mk := func() netns.NsHandle {
		ns, err := netns.New() // creates and switches this thread
		must(err, "new ns")
		netns.Set(home)
		return ns
	}
	cns, sns := mk(), mk()
	// veth pairs: in the middle (home ns): mc <-> c0 (moved to cns), ms <-> s0 (sns)
	for _, p := range []struct {
		a, b string
		ns   netns.NsHandle
	}{{"mc", "c0", cns}, {"ms", "s0", sns}} {
		must(netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.a, MTU: 1500}, PeerName: p.b}), "veth")
		peer, _ := netlink.LinkByName(p.b)
		must(netlink.LinkSetNsFd(peer, int(p.ns)), "setns link")
		a, _ := netlink.LinkByName(p.a)
		must(netlink.LinkSetUp(a), "up")
	}
	conf := func(ns netns.NsHandle, ifname, addr string) {
		inNS(ns, func() {
			l, err := netlink.LinkByName(ifname)
			must(err, "link "+ifname)
			ad, _ := netlink.ParseAddr(addr)
			must(netlink.AddrAdd(l, ad), "addr")
			must(netlink.LinkSetUp(l), "up")
			lo, _ := netlink.LinkByName("lo")
			netlink.LinkSetUp(lo)
			offloadsOff(ifname)
		})
	}
	conf(cns, "c0", "192.0.2.1/24")
	conf(sns, "s0", "192.0.2.2/24")
	fmt.Println("setup", time.Since(t0))
	// bridge with AF_PACKET in the middle
	open := func(ifname string) int {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		must(err, "packet socket")
		l, _ := netlink.LinkByName(ifname)
		must(unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Attrs().Index}), "bind")
		return fd
	}
	fc, fs := open("mc"), open("ms")
	scen := os.Getenv("SCEN")
	out := os.Getenv("OUT")
	if scen == "rto0" {
		inNS(cns, func() {
			must(os.WriteFile("/proc/sys/net/ipv4/tcp_early_retrans", []byte("0"), 0), "early_retrans")
		})
	}
	dump := exec.Command("tcpdump", "-i", "mc", "-U", "-w", out, "tcp")
	dump.Stderr = os.Stderr
	must(dump.Start(), "tcpdump")
	time.Sleep(time.Second)
	dropN, dropK := 3, 0 // the 3rd data segment, no copy
	if scen != "fast" {
		dropN, dropK = 1, 3
	}
	seen := map[uint32]int{}
	idx := 0
	dropIt := func(b []byte) bool {
		if len(b) < 34 || b[12] != 8 || b[13] != 0 || b[23] != 6 {
			return false
		}
		ihl := int(b[14]&15) * 4
		tot := int(b[16])<<8 | int(b[17])
		tcp := b[14+ihl:]
		doff := int(tcp[12]>>4) * 4
		plen := tot - ihl - doff
		if plen <= 0 {
			return false
		}
		seq := uint32(tcp[4])<<24 | uint32(tcp[5])<<16 | uint32(tcp[6])<<8 | uint32(tcp[7])
		if _, ok := seen[seq]; !ok {
			idx++
			seen[seq] = idx << 8
		}
		seen[seq]++
		return seen[seq]>>8 == dropN && seen[seq]&255 <= dropK+1
	}
	type pkt struct {
		due time.Time
		b   []byte
	}
	fwd := func(from, to int, name string, drop func([]byte) bool) {
		q := make(chan pkt, 4096)
		go func() {
			for p := range q {
				time.Sleep(time.Until(p.due))
				unix.Write(to, p.b)
			}
		}()
		buf := make([]byte, 65536)
		for {
			n, sa, err := unix.Recvfrom(from, buf, 0)
			if err != nil {
				return
			}
			if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if drop != nil && drop(buf[:n]) {
				continue
			}
			q <- pkt{time.Now().Add(10 * time.Millisecond), append([]byte(nil), buf[:n]...)}
		}
	}
	go fwd(fc, fs, "c->s", dropIt)
	go fwd(fs, fc, "s->c", nil)
	var ln net.Listener
	inNS(sns, func() {
		var err error
		ln, err = net.Listen("tcp4", "192.0.2.2:7000")
		must(err, "listen")
	})
	done := make(chan int)
	go func() {
		c, err := ln.Accept()
		must(err, "accept")
		b, _ := io.ReadAll(c)
		done <- len(b)
		c.Close()
	}()
	var conn net.Conn
	inNS(cns, func() {
		var err error
		conn, err = net.DialTimeout("tcp4", "192.0.2.2:7000", 3*time.Second)
		must(err, "dial")
	})
	size := 100
	if scen == "fast" {
		size = 10 * 1448
	}
	conn.Write(make([]byte, size))
	hold := 2500 * time.Millisecond // the connection held open: the timers resend the tail
	if scen == "fast" {
		hold = 500 * time.Millisecond
	}
	time.Sleep(hold)
	conn.Close()
	fmt.Println("server read", <-done)
	time.Sleep(500 * time.Millisecond)
	dump.Process.Signal(os.Interrupt)
	dump.Wait()
}

func htons(v int) uint16 { return uint16(v<<8&0xff00 | v>>8&0xff) }

type ethtoolValue struct{ cmd, data uint32 }

type ifreq struct {
	name [16]byte
	data uintptr
	_    [16]byte
}

func offloadsOff(ifname string) {
	fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	defer unix.Close(fd)
	for _, cmd := range []uint32{0x17 /*STXCSUM*/, 0x1f /*STSO*/, 0x24 /*SGSO*/, 0x2c /*SGRO*/} {
		v := ethtoolValue{cmd: cmd, data: 0}
		var r ifreq
		copy(r.name[:], ifname)
		r.data = uintptr(unsafe.Pointer(&v))
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&r)))
		if e != 0 {
			fmt.Println("ethtool", ifname, cmd, e)
		}
	}
}
