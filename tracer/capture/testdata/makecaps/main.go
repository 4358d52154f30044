//go:build linux

// Command makecaps makes the captures of tracer/capture/testdata with
// tcpdump and dumpcap: real packets that Decode and FileReader must
// handle. Run it from the module's root, as root (it runs itself again
// in a network namespace of its own, whose loopback has an MTU of 1280
// bytes so that large datagrams are fragmented):
//
//	go run ./tracer/capture/testdata/makecaps
//	go run ./tracer/capture/testdata/makecaps -dir /tmp/caps
//
// The traffic, captured at once by several tcpdumps:
//
//   - an IPv4 TCP connection: the client sends 2,000 bytes, the server
//     answers 10, both close;
//   - an IPv6 TCP connection whose client sets a hop-by-hop header
//     (IPV6_HOPOPTS, a PadN option) on every segment it sends;
//   - DNS over UDP to a miekg/dns server on 127.0.0.1:53 and [::1]:53:
//     www.example.test A, answered with a CNAME to web.example.test and
//     its A record; big.example.test TXT, an answer of about 3,000 bytes,
//     over IPv4 and IPv6, so fragmented; tc.example.test A, answered
//     with the TC bit and no records over UDP, and asked again over TCP
//     (DNS over TCP) where the answer is whole; nothing.example.test A,
//     NXDOMAIN;
//   - UDP that is not DNS: a datagram to port 53 that does not parse, and
//     one to port 9999;
//   - a UDP datagram to port 9, "makecaps: end", after which each
//     tcpdump is stopped once its file holds it.
//
// Files:
//
//   - lo.pcap: all of it on lo, Ethernet framing, whole packets;
//   - snaplen60.pcap, snaplen96.pcap: the TCP connections with
//     tcpdump -s 60 and -s 96 (options and payload cut);
//   - any-sll.pcap, any-sll2.pcap: the IPv4 connection with tcpdump -i
//     any, Linux cooked headers v1 and v2 (-y LINUX_SLL, -y LINUX_SLL2);
//   - twoif.pcapng: dumpcap on lo and a veth d0 at once
//     (two interfaces), with a capture comment, and a packet comment
//     on its 2nd packet added by editcap -a; three UDP datagrams on each;
//   - sections.pcapng: twoif.pcapng followed by a second section, a
//     dumpcap capture of lo alone (a pcapng file may be such a
//     concatenation);
//   - F.tshark for each pcap file F: tshark's view of each frame
//     (ports, flags, numbers, options, DNS), which the tests compare
//     Decode with. -tables writes them alone, from the files there.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"tcptour/tracer/lab"
)

const timeout = 30 * time.Second

func main() {
	log.SetFlags(0)
	log.SetPrefix("makecaps: ")
	dir := flag.String("dir", "tracer/capture/testdata", "the `directory` the captures are written to")
	tablesOnly := flag.Bool("tables", false, "only write the tshark tables of the captures already there")
	flag.Parse()
	if *tablesOnly {
		if err := tables(*dir); err != nil {
			log.Fatal(err)
		}
		return
	}
	if !lab.Inside() {
		if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
			log.Fatalf("no directory %s (run from the module's root, or give -dir)", *dir)
		}
	}
	lab.Enter()
	if err := run(*dir); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	if err := sh("ip", "link", "set", "lo", "mtu", "1280", "up"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// Listeners first, so that no datagram meets a closed port.
	stop, err := servers()
	if err != nil {
		return err
	}
	defer stop()

	// The two-interface pcapng: dumpcap stops by itself after 6
	// packets, 3 UDP datagrams on lo and 3 out through d0.
	for _, args := range [][]string{
		{"link", "add", "d0", "type", "veth", "peer", "name", "d1"},
		{"addr", "add", "10.9.0.1/24", "dev", "d0"},
		{"link", "set", "d0", "up"},
		{"link", "set", "d1", "up"},
		// No ARP: the frames go out at once, and d1 drops them (not
		// its address).
		{"neigh", "add", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "d0", "nud", "permanent"},
	} {
		if err := sh("ip", args...); err != nil {
			return err
		}
	}
	twoifRaw := filepath.Join(dir, "twoif-raw.pcapng")
	dc, err := start(ctx, "dumpcap", "-q", "-f", "udp", "-i", "lo", "-i", "d0", "-c", "6",
		"--capture-comment", "makecaps: 3 datagrams on lo, 3 out through d0", "-w", twoifRaw)
	if err != nil {
		return err
	}
	for i := range 3 {
		if err := sendUDP("127.0.0.1:9999", fmt.Sprintf("lo %d", i)); err != nil {
			return err
		}
		if err := sendUDP("10.9.0.2:9999", fmt.Sprintf("d0 %d", i)); err != nil {
			return err
		}
	}
	if err := dc.Wait(); err != nil {
		return fmt.Errorf("dumpcap: %w", err)
	}
	twoif := filepath.Join(dir, "twoif.pcapng")
	if err := sh("editcap", "-a", "2:makecaps: the second packet", twoifRaw, twoif); err != nil {
		return err
	}
	os.Remove(twoifRaw)
	second := filepath.Join(dir, "second-section.pcapng")
	dc, err = start(ctx, "dumpcap", "-q", "-f", "udp", "-i", "lo", "-c", "2", "-w", second)
	if err != nil {
		return err
	}
	for i := range 2 {
		if err := sendUDP("127.0.0.1:9999", fmt.Sprintf("second section %d", i)); err != nil {
			return err
		}
	}
	if err := dc.Wait(); err != nil {
		return fmt.Errorf("dumpcap: %w", err)
	}
	if err := concat(filepath.Join(dir, "sections.pcapng"), twoif, second); err != nil {
		return err
	}
	os.Remove(second)

	// The tcpdumps, all at once on the same traffic.
	const tcpOrEnd = "tcp or udp port 9"
	dumps := []struct {
		file string
		args []string
	}{
		{"lo.pcap", []string{"-i", "lo"}},
		{"snaplen60.pcap", []string{"-i", "lo", "-s", "60", tcpOrEnd}},
		{"snaplen96.pcap", []string{"-i", "lo", "-s", "96", tcpOrEnd}},
		{"any-sll.pcap", []string{"-i", "any", "-y", "LINUX_SLL", "(tcp port 7000 and ip) or udp port 9"}},
		{"any-sll2.pcap", []string{"-i", "any", "-y", "LINUX_SLL2", "(tcp port 7000 and ip) or udp port 9"}},
	}
	var cmds []*exec.Cmd
	for _, d := range dumps {
		path := filepath.Join(dir, d.file)
		args := append([]string{"-U", "-w", path}, d.args...)
		c, err := startTcpdump(ctx, args...)
		if err != nil {
			return err
		}
		defer c.Process.Kill()
		cmds = append(cmds, c)
	}
	if err := traffic(); err != nil {
		return err
	}
	if err := sendUDP("127.0.0.1:9", "makecaps: end"); err != nil {
		return err
	}
	for i, d := range dumps {
		path := filepath.Join(dir, d.file)
		if err := waitFor(ctx, path, []byte("makecaps: end")); err != nil {
			return fmt.Errorf("%s: %w", d.file, err)
		}
		cmds[i].Process.Signal(os.Interrupt)
		if err := cmds[i].Wait(); err != nil {
			return fmt.Errorf("tcpdump for %s: %w", d.file, err)
		}
		log.Printf("wrote %s", path)
	}
	log.Printf("wrote %s and %s", twoif, filepath.Join(dir, "sections.pcapng"))
	return tables(dir)
}

// tableFields are the columns of the tshark tables the tests compare
// Decode with, one line per frame (-E occurrence=a: a field that
// occurs several times has its values joined with commas).
var tableFields = []string{
	"frame.number", "_ws.col.Protocol",
	"tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
	"tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.window_size_value", "tcp.len",
	"tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.timestamp.tsval",
	"dns.id", "dns.flags.response", "dns.flags.truncated", "dns.qry.name", "dns.count.answers", "dns.resp.type",
}

// tables writes F.tshark beside each pcap file F: tshark's fields of
// each frame, tab separated (tshark reassembles IP fragments, as a
// Decoder does).
func tables(dir string) error {
	for _, name := range []string{"lo.pcap", "snaplen60.pcap", "snaplen96.pcap", "any-sll.pcap", "any-sll2.pcap"} {
		args := []string{"-r", filepath.Join(dir, name), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"}
		for _, f := range tableFields {
			args = append(args, "-e", f)
		}
		out, err := exec.Command("tshark", args...).Output()
		if err != nil {
			return fmt.Errorf("tshark %s: %w", name, err)
		}
		head := "# tshark " + strings.Join(tableFields, " ") + "\n"
		if err := os.WriteFile(filepath.Join(dir, name+".tshark"), append([]byte(head), out...), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// servers starts the TCP servers (port 7000 on 127.0.0.1 and ::1), the
// DNS server (UDP and TCP port 53, both families) and UDP sinks on
// ports 9 and 9999.
func servers() (stop func(), err error) {
	var closers []io.Closer
	stop = func() {
		for _, c := range closers {
			c.Close()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	for _, addr := range []string{"127.0.0.1:7000", "[::1]:7000"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		closers = append(closers, ln)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(io.Discard, c) // until the client's FIN
					c.Write([]byte("thank you\n"))
				}()
			}
		}()
	}
	for _, addr := range []string{"127.0.0.1:9", "127.0.0.1:9999", "0.0.0.0:9999"} {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil && addr == "0.0.0.0:9999" {
			continue // 127.0.0.1:9999 is enough on lo
		}
		if err != nil {
			return nil, err
		}
		closers = append(closers, pc)
		go func() {
			buf := make([]byte, 65536)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("example.test.", answer)
	for _, addr := range []string{"127.0.0.1:53", "[::1]:53"} {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			return nil, err
		}
		us := &dns.Server{PacketConn: pc, Handler: mux}
		ts := &dns.Server{Listener: ln, Handler: mux}
		go us.ActivateAndServe()
		go ts.ActivateAndServe()
		closers = append(closers, closeFunc(us.Shutdown), closeFunc(ts.Shutdown))
	}
	return stop, nil
}

type closeFunc func() error

func (f closeFunc) Close() error { return f() }

// answer is the DNS server's handler.
func answer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	name := q.Question[0].Name
	_, overTCP := w.RemoteAddr().(*net.TCPAddr)
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	switch name {
	case "www.example.test.":
		m.Answer = []dns.RR{rr("www.example.test. 300 IN CNAME web.example.test."), rr("web.example.test. 60 IN A 192.0.2.7")}
	case "big.example.test.":
		for i := range 12 {
			m.Answer = append(m.Answer, rr(fmt.Sprintf("big.example.test. 60 IN TXT %q", strings.Repeat(string(rune('a'+i)), 240))))
		}
	case "tc.example.test.":
		if !overTCP {
			m.Truncated = true
			break
		}
		m.Answer = []dns.RR{rr("tc.example.test. 60 IN A 192.0.2.8"), rr("tc.example.test. 60 IN A 192.0.2.9")}
	default:
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// traffic makes the packets the tcpdumps capture.
func traffic() error {
	// IPv4 TCP.
	if err := tcpClient("tcp4", "127.0.0.1:7000", nil); err != nil {
		return err
	}
	// IPv6 TCP with a hop-by-hop header: next header and length are
	// the kernel's to fill; a PadN option of 4 bytes fills the 8.
	hbh := []byte{0, 0, 1, 4, 0, 0, 0, 0}
	if err := tcpClient("tcp6", "[::1]:7000", hbh); err != nil {
		return err
	}
	// DNS.
	c := &dns.Client{Net: "udp", UDPSize: 4096, Timeout: 5 * time.Second}
	ask := func(c *dns.Client, server, name string, t uint16) (*dns.Msg, error) {
		q := new(dns.Msg)
		q.SetQuestion(name, t)
		q.SetEdns0(4096, false)
		m, _, err := c.Exchange(q, server)
		if err != nil {
			return nil, fmt.Errorf("dns %s %s: %w", name, server, err)
		}
		return m, nil
	}
	for _, q := range []struct {
		server, name string
		t            uint16
	}{
		{"127.0.0.1:53", "www.example.test.", dns.TypeA},
		{"127.0.0.1:53", "big.example.test.", dns.TypeTXT},
		{"[::1]:53", "big.example.test.", dns.TypeTXT},
		{"127.0.0.1:53", "nothing.example.test.", dns.TypeA},
	} {
		if _, err := ask(c, q.server, q.name, q.t); err != nil {
			return err
		}
	}
	m, err := ask(c, "127.0.0.1:53", "tc.example.test.", dns.TypeA)
	if err != nil {
		return err
	}
	if !m.Truncated {
		return errors.New("dns: tc.example.test: answer without TC")
	}
	tc := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	if _, err := ask(tc, "127.0.0.1:53", "tc.example.test.", dns.TypeA); err != nil {
		return err
	}
	// UDP that is not DNS. The server may answer the one to port 53
	// with an error; read nothing.
	if err := sendUDP("127.0.0.1:53", "hello, not DNS"); err != nil {
		return err
	}
	return sendUDP("127.0.0.1:9999", "hello, port 9999")
}

// tcpClient connects, sends 2,000 bytes, closes its side, reads the
// answer to the end. hbh, if not nil, is set as IPV6_HOPOPTS.
func tcpClient(network, addr string, hbh []byte) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if hbh != nil {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, unix.IPV6_HOPOPTS, string(hbh))
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial(network, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(bytes.Repeat([]byte("x"), 2000)); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(got) != "thank you\n" {
		return fmt.Errorf("%s: answer %q", addr, got)
	}
	return nil
}

func sendUDP(addr, payload string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(payload))
	return err
}

func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// start starts a dumpcap and waits until it captures: it says
// "Capturing on ..." before its filter is in place, "File: ..." after.
func start(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	return startWaiting(ctx, "File: ", name, args...)
}

// startTcpdump starts a tcpdump and waits until it says it is listening.
func startTcpdump(ctx context.Context, args ...string) (*exec.Cmd, error) {
	return startWaiting(ctx, "listening on", "tcpdump", args...)
}

func startWaiting(ctx context.Context, ready, name string, args ...string) (*exec.Cmd, error) {
	c := exec.CommandContext(ctx, name, args...)
	stderr, err := c.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	var said []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(said, []byte(ready)) {
		n, err := stderr.Read(buf)
		said = append(said, buf[:n]...)
		if err != nil {
			c.Process.Kill()
			c.Wait()
			return nil, fmt.Errorf("%s did not start: %s", name, said)
		}
	}
	go io.Copy(io.Discard, stderr)
	return c, nil
}

// waitFor polls path until it holds b: tcpdump -U writes each packet
// out as it captures it, and says nothing when it does.
func waitFor(ctx context.Context, path string, b []byte) error {
	for {
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, b) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the end marker never came: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func concat(out string, in ...string) error {
	var all []byte
	for _, p := range in {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		all = append(all, b...)
	}
	return os.WriteFile(out, all, 0o644)
}
