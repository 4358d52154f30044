// Lesson 16 looks up one name that has two addresses, an IPv6 one and
// an IPv4 one, and dials it with Go's net.Dialer across a link: the
// lookup asks for both (AAAA and A), the dialer tries IPv6 first and
// falls back to IPv4 — at once when IPv6 is refused, after 300 ms
// (Dialer.FallbackDelay) when IPv6 is silently lost. Then the networks
// "tcp4" and "tcp6", and what a listener on "tcp" is: one IPv6 socket
// that takes IPv4 too.
//
// It answers the seed's five-tuple, <remoteAddress, remotePort,
// addressType, localAddress, localPort>: addressType 6.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// fallbackDelay is how long Go's dialer gives its first family before
// it starts the other: net.Dialer's FallbackDelay, 300 ms when zero
// (net/dial.go, fallbackDelay). Step 3 asks for it; the others leave
// FallbackDelay zero.
const fallbackDelay = 300 * time.Millisecond

// The names the lab DNS answers for on the link (lesson.LinkNames).
const (
	dual   = "dual.link.test" // 192.0.2.2 and 2001:db8::2
	v4only = "v4.link.test"   // 192.0.2.2 only
)

var info = lesson.Lesson{
	Number: "16",
	Title:  "One name, two addresses",
	Intro: "The server has two addresses, 192.0.2.2 and 2001:db8::2, and one name for both. The client " +
		"dials the name with Go's net.Dialer: the lookup asks for both families, the dialer tries IPv6 " +
		"first and falls back to IPv4, at once when the server refuses IPv6 and after 300 ms when the link " +
		"loses it. Then the networks tcp4 and tcp6, and a listener on \"tcp\": one socket for both families.",
	Steps: 4,
	Link:  &link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond},
	// Without its lab: the localhost case on this machine's loopback.
	OnLoopback: onLoopback,
	Recap: []string{
		"A name may have addresses of both families: the resolver asks for AAAA (IPv6)\n" +
			"and A (IPv4) records at once when the network is \"tcp\"; \"tcp4\" asks for A only,\n" +
			"\"tcp6\" for AAAA only, and fails when the name has none.",
		"The five-tuple's family: an IPv6 connection's addresses are 16 bytes\n" +
			"(net.TCPAddr's IP, AddrPort().Addr().Is6()); Node's socket.remoteFamily says 'IPv6'.",
		"Go's resolver sorts the addresses (RFC 6724: IPv6 before IPv4 here); the dialer tries\n" +
			"the first address's family, and starts the other family FallbackDelay later (300 ms by\n" +
			"default; RFC 6555 \"Happy Eyeballs\"), or at once if the first fails. The first\n" +
			"connection made wins; the other attempt is closed.",
		"A refused IPv6 (RST: nothing listens there) costs one round trip; a lost one costs\n" +
			"the fallback delay, on every connection. That is the case of localhost resolving\n" +
			"to ::1 first and a server listening on 127.0.0.1 only: the RST makes it cheap.",
		"Listen(\"tcp\", \":port\") is one IPv6 socket with IPV6_V6ONLY 0 (ss shows *:port):\n" +
			"it accepts IPv4 too, whose peers it sees as ::ffff:192.0.2.1 (Is4In6). \"tcp4\"\n" +
			"makes an IPv4 socket, \"tcp6\" an IPv6 one with IPV6_V6ONLY 1.",
	},
	TryThis: []string{
		"go run ./lessons/16 --pcap dual.pcapng, then\n" +
			"tshark -r dual.pcapng -Y 'frame.interface_name == \"client\" && tcp.flags.syn == 1\n" +
			"&& tcp.flags.ack == 0' -T fields -e frame.time_relative -e ipv6.dst -e ip.dst:\n" +
			"each SYN the client sent, with its family. In step 2 the IPv4 SYN follows the\n" +
			"IPv6 one by a round trip, in step 3 by 300 ms.",
		"Set fallbackDelay to 50 * time.Millisecond (step 3 gives it to the Dialer as its\n" +
			"FallbackDelay): step 3's IPv4 SYN leaves 50 ms after the IPv6 one. A negative\n" +
			"FallbackDelay turns the race off:\n" +
			"the dialer stays on the silent IPv6 address until its connect fails, which the\n" +
			"kernel takes about two minutes to decide (net.ipv4.tcp_syn_retries, 6:\n" +
			"127 s).",
		"Dial \"tcp4\" instead of \"tcp\" in step 3: the resolver asks for A records only,\n" +
			"and the one SYN is IPv4, answered at once.",
	},
}

func main() {
	if os.Getenv(clientEnv) != "" {
		os.Exit(client()) // the lesson's client program: see dial
	}
	lesson.Main(info, run)
}

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lesson 16 needs Linux: its link joins two network namespaces; this is %s", runtime.GOOS)
	}
	dns, err := l.Lab()
	if err != nil {
		return err
	}
	l.Step("One name, two addresses: IPv6 first",
		"The server listens with net.Listen(\"tcp\", \":0\"), in its own network namespace: no address, "+
			"so every address of the machine, in both families. The client dials dual.link.test with "+
			"Go's net.Dialer on the network \"tcp\", its resolver pointed at the lab DNS server across the link. "+
			"The resolver asks for the name's IPv6 addresses (AAAA) and its IPv4 ones (A) at once, in two "+
			"datagrams; the resolver sorts the answers by RFC 6724's rules (both addresses have a source address of "+
			"their family here, and IPv6's precedence, 40, is above IPv4's, 35) and the dialer tries 2001:db8::2 first. It "+
			"answers: the connection is IPv6, its addresses 16 bytes long, its headers 20 bytes longer than IPv4's. "+
			"Then the client dials the same name on \"tcp4\": only the A record is asked for, and the same "+
			"listener takes the IPv4 connection. The client is a program of its own, started in the client's "+
			"namespace: Go's dialer works on goroutines of its own, and a namespace belongs to a thread.")
	dualLn, err := listen(l, "tcp", ":0")
	if err != nil {
		return err
	}
	defer dualLn.Close()
	port := fmt.Sprint(dualLn.Addr().(*net.TCPAddr).Port)
	for _, network := range []string{"tcp", "tcp4"} {
		c, err := dial(l, dns, 0, network, net.JoinHostPort(dual, port))
		if err != nil {
			return err
		}
		s, err := dualLn.Accept()
		if err != nil {
			return err
		}
		familyNote(l, c, s)
		if err := closeBoth(c, s); err != nil {
			return err
		}
	}

	l.Step("IPv6 refused: the fallback is at once",
		"A second server listens with net.Listen(\"tcp4\", \"0.0.0.0:0\"): IPv4 only, as a server does that "+
			"listens on 127.0.0.1 while its client dials localhost, which /etc/hosts often maps to ::1 too, "+
			"and Go's dialer then tries ::1 first (its RFC 6724 precedence is 50). The client "+
			"dials dual.link.test again. Its IPv6 SYN reaches the server's kernel, where no socket listens on "+
			"that port in IPv6: the kernel answers with RST, connect fails with ECONNREFUSED, and Go's dialer "+
			"starts the IPv4 attempt at once, without waiting for its fallback delay (300 ms).")
	v4Ln, err := listen(l, "tcp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer v4Ln.Close()
	rsts, err := serverCounter(l, "TcpOutRsts")
	if err != nil {
		return err
	}
	c, err := dial(l, dns, 0, "tcp", net.JoinHostPort(dual, fmt.Sprint(v4Ln.Addr().(*net.TCPAddr).Port)))
	if err != nil {
		return err
	}
	after, err := serverCounter(l, "TcpOutRsts")
	if err != nil {
		return err
	}
	s, err := v4Ln.Accept()
	if err != nil {
		return err
	}
	fallbackNote(l, c, fmt.Sprintf("The server's kernel sent %d RST meanwhile (TcpOutRsts +%d): the answer to the IPv6 SYN.", after-rsts, after-rsts))
	familyNote(l, c, s)
	if err := closeBoth(c, s); err != nil {
		return err
	}

	l.Step("IPv6 lost on the link: the fallback waits 300 ms",
		"The link now drops every IPv6 SYN of the client's, as a network does whose IPv6 is broken: "+
			"nothing comes back, no RST, no ICMP. The client dials dual.link.test on \"tcp\" with the "+
			"dialer's default FallbackDelay, 300 ms: the IPv6 attempt waits for an answer, and only after "+
			"300 ms does the dialer start the IPv4 attempt beside it. The IPv4 connection is made; the dialer "+
			"closes the IPv6 attempt before its kernel sends the SYN again (after its first retransmission "+
			"timeout, 1 s). Every connection to this name pays the 300 ms while IPv6 stays broken.")
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.SYN, Family: link.IPv6, Action: link.Drop, Retransmits: link.AllRetransmits})
	c, err = dial(l, dns, fallbackDelay, "tcp", net.JoinHostPort(dual, port))
	if err != nil {
		return err
	}
	if s, err = dualLn.Accept(); err != nil {
		return err
	}
	fallbackNote(l, c, "")
	familyNote(l, c, s)
	if err := closeBoth(c, s); err != nil {
		return err
	}
	l.SetRules()

	l.Step("tcp4, tcp6, and a listener for each",
		"The network names a family. The client dials v4.link.test, a name with an A record only, on "+
			"\"tcp6\": the resolver asks for AAAA only, gets none, and Dial fails before any SYN. Then the "+
			"server listens on \"tcp6\" too: an IPv6 socket that refuses IPv4 (IPV6_V6ONLY 1). The server's "+
			"kernel lists its three listeners (sock_diag, as ss -tln does).")
	if c, err = dial(l, dns, 0, "tcp6", net.JoinHostPort(v4only, port)); err != nil {
		return err
	}
	if c.Err == "" {
		return fmt.Errorf("dial tcp6 %s: want an error, got a connection", v4only)
	}
	l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote,
		Text: "Dial(\"tcp6\", \"" + v4only + ":…\"): " + c.Err,
		Note: "The name has no IPv6 address, and \"tcp6\" takes no other: the resolver asked for AAAA records only, " +
			"the answer had none, and no SYN left. The error is a *net.OpError wrapping a *net.DNSError (IsNotFound). " +
			"(Go's text names the DNS server of /etc/resolv.conf; this lesson's resolver sent the query to the lab's, " +
			"and the text above names that one.)"})
	v6Ln, err := listen(l, "tcp6", "[::]:0")
	if err != nil {
		return err
	}
	defer v6Ln.Close()
	if err := listeners(l, dualLn, v4Ln, v6Ln); err != nil {
		return err
	}
	for _, ln := range []net.Listener{v6Ln, v4Ln, dualLn} {
		if err := ln.Close(); err != nil {
			return err
		}
	}
	return nil
}

// closeBoth closes the client's end, then the server's once it has
// read the client's FIN.
func closeBoth(c *dialed, s net.Conn) error {
	if err := c.close(); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, s); err != nil {
		return err
	}
	return s.Close()
}

// familyNote says what family the connection is, at both ends: the
// client's c and the server's s.
func familyNote(l *lesson.Run, c *dialed, s net.Conn) {
	cr := c.Remote.Addr()
	sr := s.RemoteAddr().(*net.TCPAddr)
	text := "IPv4 at both ends"
	note := fmt.Sprintf("The client's end: RemoteAddr %s, a net.TCPAddr whose IP is %d bytes long; AddrPort().Addr().Is4() is %t. "+
		"Node's socket.remoteFamily would say 'IPv4'. ", c.Remote, c.IPLen, cr.Is4())
	if cr.Is6() {
		text = "IPv6 at both ends: the five-tuple's family is 6"
		note = fmt.Sprintf("The client's end: RemoteAddr %s, a net.TCPAddr whose IP is %d bytes long; AddrPort().Addr().Is6() is %t. "+
			"Node's socket.remoteFamily says 'IPv6', the seed's addressType 6. ", c.Remote, c.IPLen, cr.Is6())
	}
	sa := sr.AddrPort().Addr()
	if i, err := kernel.TCPInfo(s); err == nil {
		header, ip := 20, "IPv4"
		if !sa.Unmap().Is4() {
			header, ip = 40, "IPv6"
		}
		mss := 1500 - header - 20
		note += fmt.Sprintf("The server's kernel sends at most %d bytes a segment here (TCP_INFO snd_mss): the MTU, 1500, less the %d-byte %s header and the 20-byte TCP header is %d, the MSS of the SYNs", i.SndMSS, header, ip, mss)
		if int(i.SndMSS) == mss-12 {
			note += ", less 12 bytes of timestamps on every segment. "
		} else {
			note += ". "
		}
	}
	switch {
	case sa.Is4In6():
		text = "IPv4 on the wire; the server's IPv6 socket sees " + sa.String()
		note += fmt.Sprintf("The server's end: its listener is an IPv6 socket, so the kernel gives it the IPv4 client as an "+
			"IPv4-mapped IPv6 address, %s (AddrPort().Addr().Is4In6() is true); net.TCPAddr prints it as %s. "+
			"Node's socket.remoteAddress says '%s', its remoteFamily 'IPv6'.", sa, sr, sa)
	default:
		note += fmt.Sprintf("The server's end: RemoteAddr %s, %d bytes.", sr, len(sr.IP))
	}
	l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote, Proto: "tcp",
		Local: c.Local, Remote: c.Remote, Text: text, Note: note})
}

// fallbackNote says which addresses Go's dialer tried, and when, and
// why the second came when it did; more says what else the run showed.
func fallbackNote(l *lesson.Run, c *dialed, more string) {
	tried := c.tried
	var parts []string
	for _, a := range tried {
		parts = append(parts, fmt.Sprintf("%s %s at +%s", a.Network, a.Remote, tracer.FormatDuration(a.At.Sub(tried[0].At))))
	}
	text := "the dialer tried " + strings.Join(parts, ", then ")
	note := "Go's dialer made one attempt: the first address answered."
	if len(tried) > 1 {
		gap := tried[1].At.Sub(tried[0].At)
		// Well short of the delay: the first attempt failed. Near it:
		// the timer ran out (it starts as the dialer begins its first
		// attempt, a moment before that attempt's socket is made, so
		// the gap between the sockets may be a little less).
		if gap < fallbackDelay/2 {
			note = fmt.Sprintf("The IPv4 attempt began %s after the IPv6 one, less than the fallback delay (%s): the dialer "+
				"starts its fallback early only when the first family's attempt fails.", tracer.FormatDuration(gap), tracer.FormatDuration(fallbackDelay))
		} else {
			note = fmt.Sprintf("The IPv4 attempt began %s after the IPv6 one: the dialer waited its fallback delay (%s), "+
				"counted from when it began the IPv6 attempt, for an answer that never came, then raced the two; the IPv4 "+
				"one connected first, and the dialer closed the other.", tracer.FormatDuration(gap), tracer.FormatDuration(fallbackDelay))
		}
	}
	if more != "" {
		note += " " + more
	}
	l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote, Proto: "tcp",
		Local: c.Local, Remote: c.Remote, Text: text, Note: note})
}

// listen listens on network and address in the server's namespace,
// and says what socket net.Listen made: its family and, for IPv6,
// whether it takes IPv4 too (read before bind, in Control).
func listen(l *lesson.Run, network, address string) (net.Listener, error) {
	var (
		domain string
		v6only int
	)
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) (err error) {
		domain, v6only, err = family(c)
		return err
	}}
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = lc.Listen(l.Context(), network, address)
		return err
	})
	h := l.Hooks("server")
	info := tracer.ListenInfo{Time: time.Now(), Network: network, Addr: address, Err: err}
	if err == nil {
		info.Local = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	h.Listen(info)
	if err != nil {
		return nil, err
	}
	var text, note string
	switch {
	case domain == "AF_INET":
		text = fmt.Sprintf("%q: an IPv4 socket (AF_INET)", network)
		note = "SO_DOMAIN says AF_INET: the socket takes IPv4 connections only. A SYN to this port over IPv6 finds no listener, and the kernel answers it with RST."
	case v6only == 0:
		text = fmt.Sprintf("%q: an IPv6 socket (AF_INET6) with IPV6_V6ONLY 0", network)
		note = "SO_DOMAIN says AF_INET6, and IPV6_V6ONLY is 0: one socket takes both families, IPv4 peers showing as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d). " +
			"Go makes such a socket for \"tcp\" with no address, or an unspecified one, where the system allows it. ss shows its local address as *:port."
	default:
		text = fmt.Sprintf("%q: an IPv6 socket (AF_INET6) with IPV6_V6ONLY 1", network)
		note = "SO_DOMAIN says AF_INET6 and IPV6_V6ONLY is 1: the socket takes IPv6 connections only; Go sets the option for \"tcp6\". ss shows its local address as [::]:port."
	}
	l.Trace().Add(tracer.Event{Actor: "server", Phase: tracer.PhaseNote, Proto: "tcp",
		Local: info.Local, Text: text, Note: note})
	return tracer.WrapListener(ln, h), nil
}

// listeners says what the server's kernel reports of the three
// listeners (sock_diag).
func listeners(l *lesson.Run, lns ...net.Listener) error {
	var socks []kernel.Socket
	err := l.Server(func() (err error) {
		socks, err = kernel.Sockets(kernel.Listen)
		return err
	})
	if err != nil {
		return err
	}
	var lines []string
	for _, ln := range lns {
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		for _, s := range socks {
			if s.Local.Port() == port {
				lines = append(lines, s.Local.String())
			}
		}
	}
	l.Trace().Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseNote,
		Text: "the server's listeners: " + strings.Join(lines, ", "),
		Note: "What the server's kernel lists (sock_diag, as ss -tln does): the \"tcp\" listener and the \"tcp6\" one " +
			"both at [::], IPv6 sockets; the \"tcp4\" one at 0.0.0.0. ss tells the first two apart by IPV6_V6ONLY: *:port for " +
			"the socket that takes both families, [::]:port for the IPv6-only one."})
	return nil
}

// serverCounter reads one of the server's kernel's counters.
func serverCounter(l *lesson.Run, name string) (int64, error) {
	var n int64
	err := l.Server(func() error {
		c, err := kernel.ReadCounters()
		n = c[name]
		return err
	})
	return n, err
}
