// Lesson 12 puts the client and the server on a link that loses chosen
// segments on purpose, and shows how TCP gets every byte across anyway:
// duplicate ACKs with SACK blocks and the fast retransmit they trigger,
// the tail loss probe, the retransmission timer and its backoff, a lost
// SYN and a lost SYN-ACK. Each loss is seen from both ends (the capture
// has the client's interface and the server's), with what each kernel
// counted and what TCP_INFO says.
//
// It answers the seed's promise that TCP is "reliable": the 'data'
// events deliver every byte, in order, whatever the network lost.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// The link's delay each way: a round trip of 20 ms, as to a server in
// the same country.
const oneWay = 10 * time.Millisecond

// mss is the most data one segment carries on the link: its MTU, 1500,
// less 20 bytes of IP header, 20 of TCP header and 12 of timestamps.
const mss = 1448

var info = lesson.Lesson{
	Number: "12",
	Title:  "Lost and sent again",
	Intro: "The client and the server on a link with a round trip of 20 ms that loses chosen segments on " +
		"purpose: the 5th of ten, the last of three (twice: once with the tail loss probe, once with the " +
		"retransmission timer alone), a SYN and a SYN-ACK. Every byte still arrives, in order; the packets " +
		"at both ends show how.",
	Steps: 7,
	Link:  &link.Config{DelayToServer: oneWay, DelayToClient: oneWay},
	HoldCommands: []string{
		"{client}nc -N 192.0.2.2 PORT",
		"{client}ss -tin dst 192.0.2.2",
	},
	Recap: []string{
		"A lost segment is noticed by the sender, never by the network: from the ACKs that come\n" +
			"back (duplicate ACKs carrying SACK blocks) or from the ACKs that do not (a timer).",
		"A receiver that gets segments after a gap ACKs at once, repeating the last byte it has\n" +
			"in order, with SACK blocks saying what it holds beyond the gap. Three of them, and the\n" +
			"sender resends the missing segment: fast retransmit, one round trip after the loss.",
		"A lost last segment has nothing after it to be SACKed: after about two round trips and\n" +
			"the peer's delayed-ACK allowance (sooner if the retransmission timer would fire first),\n" +
			"the sender probes by sending it again (tail loss probe, RFC 8985).",
		"Without the probe (net.ipv4.tcp_early_retrans = 0), the retransmission timer fires:\n" +
			"at least 200 ms on Linux, then doubling at each loss in a row (backoff). TCP_INFO's\n" +
			"total_rto counts them.",
		"A lost SYN or SYN-ACK waits for the initial timer, 1 s: a connect that takes just over\n" +
			"a second is often a lost handshake segment.",
		"The program sees none of it: Write returned at once, Read got every byte in order. Only\n" +
			"the time it took, TCP_INFO and the kernel's counters (nstat) tell.",
	},
	TryThis: []string{
		"go run ./lessons/12 --pcap loss.pcapng. The file has two interfaces, the client's and the\n" +
			"server's (tshark -r loss.pcapng -T fields -e frame.interface_name -e tcp.seq -e tcp.len),\n" +
			"and tshark's analysis would take each segment's arrival for a copy sent again: keep the\n" +
			"client's end (tshark -r loss.pcapng -Y 'frame.interface_name==\"client\"' -w client.pcapng),\n" +
			"then tshark -r client.pcapng -Y tcp.analysis.flags names the duplicate ACKs, the fast\n" +
			"retransmission and the retransmissions.",
		"In lessons/12/main.go, drop the 9th of the ten segments instead of the 5th (Index: 9 in\n" +
			"step 2's rule): only one segment comes after the gap, so only one duplicate ACK, and\n" +
			"the kernel recovers from the SACK block alone (RACK) a little later.",
		"Make step 4's rule drop five copies (Retransmits: 4): the timer doubles each time, and\n" +
			"the step takes about 7 s. TCP_INFO's total_rto says 5.",
		"go run ./lessons/12 --hold, then in another terminal the nc command it prints, ready to\n" +
			"paste: type lines, each comes back. The link loses the 5th line you type: about a\n" +
			"quarter of a second later the client's kernel sends it again, a tail loss probe, and\n" +
			"the 5th line comes back. Typed by hand, the 4th echo was acknowledged on its own (a\n" +
			"delayed ACK); a script that sends the 5th line at once makes it carry that ACK, so the\n" +
			"server's kernel probes too, and the trace calls its copy of the 4th echo spurious.\n" +
			"The ss command, pasted in a third terminal, shows nc's connection and its TCP_INFO.",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lesson 12 needs Linux: its link joins two network namespaces; this is %s", runtime.GOOS)
	}
	l.Step("A link with a round trip of 20 ms",
		"The server listens in its own network namespace, at 192.0.2.2; the client dials from its own, "+
			"192.0.2.1. Every frame between them crosses the link, which holds it 10 ms. The capture has "+
			"both ends: each segment shows as it leaves (at client: for the client's) and again, 10 ms later, "+
			"as it arrives (at server:). The client writes ten segments' worth of data (14,480 bytes) in one "+
			"Write. A new connection may send ten segments before the first ACK comes back (the initial "+
			"congestion window): all ten leave at once. The server reads them and answers \"ok\". Nothing is "+
			"lost yet: this is what the next steps change. One setting of both kernels differs from the "+
			"default: each ACKs every segment that arrives after a gap at once, where Linux would send the "+
			"first three at once and hold back the rest up to 1 ms, to send fewer.")
	if err := l.SetSysctl("net.ipv4.tcp_comp_sack_nr", "0",
		"No SACK compression: every segment after a gap gets its own duplicate ACK, the same on every run."); err != nil {
		return err
	}
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", net.JoinHostPort(link.ServerAddr.String(), "0"))
		return err
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	// The congestion control, named: each connection sets its own
	// (cubic, below), whatever this machine's default.
	var def, allowed []byte
	if err := l.Client(func() (err error) {
		if def, err = os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err != nil {
			return err
		}
		allowed, err = os.ReadFile("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
		return err
	}); err != nil {
		return err
	}
	why := "a network namespace other than the machine's own may make only an allowed one its default (net.ipv4.tcp_allowed_congestion_control: " + strings.TrimSpace(string(allowed)) + ")"
	if slices.Contains(strings.Fields(string(allowed)), "cubic") {
		why = "each socket may choose its own; the lesson chooses, so that its segments do not depend on the machine"
	}
	l.Note("client", "congestion control: cubic on each of the client's connections, set on the socket before it connects (TCP_CONGESTION, which takes any algorithm the kernel has from a program with CAP_NET_ADMIN over its network, as in the lab); this machine's default is "+
		strings.TrimSpace(string(def))+" (net.ipv4.tcp_congestion_control), and "+why)
	if _, err := exchange(l, ln, 10*mss); err != nil {
		return err
	}

	l.Step("The 5th segment lost: duplicate ACKs, SACK, fast retransmit",
		"The same again, on a new connection, but the link drops the 5th data segment from the client. "+
			"The server's kernel gets segments 1 to 4 and ACKs each, widening the window it offers each "+
			"time; then 6 to 10 arrive after a gap. For each it ACKs at once the last byte it has in order, "+
			"with the same window: a duplicate ACK, with a SACK block saying which bytes beyond the gap it "+
			"holds. (The 5th rather than the 3rd: an ACK whose window has changed is a window update to "+
			"Wireshark, not a duplicate, and the window grows with each of the first four segments.) Once "+
			"the SACK blocks show three segments beyond the gap, at the third duplicate ACK, the client's "+
			"kernel sends the 5th segment again (fast retransmit), about one round trip after it first "+
			"left. The server's kernel then has everything, and one ACK covers all ten.")
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 5, Action: link.Drop})
	ci, err := exchange(l, ln, 10*mss)
	if err != nil {
		return err
	}
	retransmitted(l, ci)

	l.Step("A lost tail: the tail loss probe",
		"Now the client writes three segments and the link drops the last. Nothing comes after it, so "+
			"the server's kernel has no reason to send a duplicate ACK: it ACKs segments 1 and 2, and "+
			"then the line is quiet. The client's kernel has a timer for this: when no ACK has come for two "+
			"round trips plus the 200 ms a receiver may delay its ACK, or when its retransmission timer would "+
			"fire, if that is sooner (here it is: a round trip plus about 200 ms), it sends the last segment "+
			"again, to provoke an ACK: a tail loss probe (RFC 8985). The connection stays open meanwhile, as "+
			"the client waits for the answer.")
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 3, Action: link.Drop})
	ci, err = exchange(l, ln, 3*mss)
	if err != nil {
		return err
	}
	retransmitted(l, ci)

	l.Step("The retransmission timer and its backoff",
		"Both kernels are told not to probe (net.ipv4.tcp_early_retrans = 0), and the link drops the last "+
			"of three segments and the first two times it is sent again. What is left is the retransmission "+
			"timer (RTO): on Linux the smoothed round trip plus at least 200 ms, more with a jittery round "+
			"trip. Each time it fires, the kernel sends the segment again and doubles the timer (backoff): "+
			"about 0.23, 0.45 and 0.9 s, and the third time it is sent again it gets through.")
	if err := l.SetSysctl("net.ipv4.tcp_early_retrans", "0",
		"Off: no tail loss probe, so that the retransmission timer alone resends the lost tail."); err != nil {
		return err
	}
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 3, Retransmits: 2, Action: link.Drop})
	ci, err = exchange(l, ln, 3*mss)
	if err != nil {
		return err
	}
	retransmitted(l, ci)

	l.Step("A lost SYN",
		"The link drops the client's first SYN. Nothing answers, and the client's kernel knows no round "+
			"trip yet: it waits the initial retransmission timeout, 1 s (RFC 6298), and sends the SYN "+
			"again. Dial returns a little over a second after it began.")
	if err := l.SetSysctl("net.ipv4.tcp_early_retrans", "3",
		"The default again: the tail loss probe is back for what follows."); err != nil {
		return err
	}
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.SYN, Index: 1, Action: link.Drop})
	if _, err := exchange(l, ln, len("I am Chuck Norris!")); err != nil {
		return err
	}

	l.Step("A lost SYN-ACK",
		"Now the SYN arrives and the server's SYN-ACK is lost. Both sides wait 1 s: the client for a "+
			"SYN-ACK, the server's kernel for the handshake's ACK. Their two timers would fire within a "+
			"millisecond of each other, and which one sent first would change from run to run; so the "+
			"link also holds the first SYN 50 ms longer, and the client's timer fires first. Its second SYN "+
			"reaches a server that remembers the first, and the server's kernel answers it with the SYN-ACK "+
			"again, which gets through.")
	l.SetRules(
		link.Rule{Dir: link.FromClient, Kind: link.SYN, Index: 1, Action: link.Delay, Extra: 50 * time.Millisecond},
		link.Rule{Dir: link.FromServer, Kind: link.SYNACK, Index: 1, Action: link.Drop},
	)
	if _, err := exchange(l, ln, len("I am Chuck Norris!")); err != nil {
		return err
	}

	l.Step("Out of order, and twice: nothing lost",
		"Not every duplicate ACK means a loss. On a last connection the link holds the 3rd of ten segments "+
			"back and sends it after the 4th, and sends the 8th twice. The server's kernel answers the 4th, "+
			"which comes before the 3rd, with an ACK that repeats the last byte it has in order and a SACK "+
			"block for the 4th (Wireshark calls it a window update: the window it offers still grows); a moment "+
			"later the 3rd fills the gap. One such ACK is not three: the client's kernel waits a fraction of a round trip before "+
			"it takes a segment for lost (RACK, RFC 8985), the ACK of the 3rd comes well within it, and "+
			"nothing is sent again. The client's kernel notes the reordering (TCP_INFO's reord_seen) and, from "+
			"then on, waits longer before it calls a segment lost. The second copy of the 8th is a duplicate: "+
			"the server's kernel says so with a D-SACK block (RFC 2883), and the client's kernel counts it "+
			"(dsack_dups).")
	l.SetRules(
		link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 3, Action: link.Hold},
		link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 8, Action: link.Duplicate},
	)
	ci, err = exchange(l, ln, 10*mss)
	if err != nil {
		return err
	}
	retransmitted(l, ci)

	if l.Holds() {
		// --hold: the server echoes each line of a client from another
		// terminal, on the link, which loses its 5th.
		l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 5, Action: link.Drop})
		stop := echo(ln)
		defer stop()
		l.Hold(ln.Addr())
	}
	return ln.Close()
}

// echo accepts connections and sends back each line they send, until
// the listener closes; stop closes it and waits for the connections.
func echo(ln net.Listener) (stop func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// NOTE: ignoring the error: the client hung up.
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// exchange dials the server from the client's namespace, writes size
// bytes in one Write, has the server read them all and answer "ok", and
// closes both ends, the client first. It returns the client's TCP_INFO
// as it was when the answer came.
func exchange(l *lesson.Run, ln net.Listener, size int) (*kernel.Info, error) {
	dialer := tracer.Dialer{Hooks: l.Hooks("client"), Net: net.Dialer{Control: cubic}}
	var client net.Conn
	err := l.Client(func() (err error) {
		client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		return err
	})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer server.Close()

	data := bytes.Repeat([]byte("TCP delivers every byte, in order. "), size/35+1)[:size]
	if _, err := client.Write(data); err != nil {
		return nil, err
	}
	// The server reads once every byte is acknowledged: a read frees
	// room in its receive buffer, which changes the window its next
	// ACK offers, at a time that differs from run to run.
	if err := acknowledged(l, client); err != nil {
		return nil, err
	}
	got := make([]byte, size)
	if _, err := io.ReadFull(server, got); err != nil {
		return nil, err
	}
	if !bytes.Equal(got, data) {
		return nil, fmt.Errorf("the server read %d bytes that differ from those written", size)
	}
	if _, err := server.Write([]byte("ok")); err != nil {
		return nil, err
	}
	answer := make([]byte, 2)
	if _, err := io.ReadFull(client, answer); err != nil {
		return nil, err
	}
	ci, err := kernel.TCPInfo(client)
	if err != nil {
		return nil, err
	}
	if err := client.Close(); err != nil {
		return nil, err
	}
	// The client's FIN arrives: Read returns io.EOF.
	if _, err := server.Read(answer); err != io.EOF {
		return nil, fmt.Errorf("the server's read after the client closed: %v, want io.EOF", err)
	}
	return ci, server.Close()
}

// acknowledged waits until the peer has acknowledged everything c sent,
// as c's TCP_INFO says (unacked 0), asking every millisecond.
func acknowledged(l *lesson.Run, c net.Conn) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		ci, err := kernel.TCPInfo(c)
		if err != nil {
			return err
		}
		if ci.Unacked == 0 {
			return nil
		}
		select {
		case <-l.Context().Done():
			return context.Cause(l.Context())
		case <-tick.C:
		}
	}
}

// retransmitted says what the client's TCP_INFO counted, and what that
// tells: how often its kernel sent data again, and how often the
// retransmission timer did it.
func retransmitted(l *lesson.Run, ci *kernel.Info) {
	resent := "nothing was sent again"
	switch {
	case ci.TotalRetrans == 0:
	case ci.TotalRTO == 0:
		resent = fmt.Sprintf("%s sent again, none at the retransmission timeout: on the evidence of the ACKs (fast retransmit) or to provoke one (a tail loss probe)", times(int(ci.TotalRetrans), "segment"))
	case uint32(ci.TotalRTO) == ci.TotalRetrans:
		resent = fmt.Sprintf("%s sent again, each at the retransmission timeout", times(int(ci.TotalRetrans), "segment"))
	default:
		resent = fmt.Sprintf("%s sent again, %d at the retransmission timeout", times(int(ci.TotalRetrans), "segment"), ci.TotalRTO)
	}
	var also []string
	if ci.ReordSeen > 0 {
		also = append(also, fmt.Sprintf("it saw the peer's ACKs show segments out of order %s (reord_seen)", times(int(ci.ReordSeen), "")))
	}
	if ci.DSACKDups > 0 {
		also = append(also, fmt.Sprintf("the server reported %s received twice (dsack_dups, from D-SACK blocks)", times(int(ci.DSACKDups), "segment")))
	}
	switch {
	case ci.SsthreshInfinite():
		also = append(also, "slow start has not ended (ssthresh unset)")
	case ci.TotalRetrans > 0:
		also = append(also, fmt.Sprintf("slow start ended at the loss, with a threshold of %d segments (ssthresh)", ci.SndSsthresh))
	default:
		also = append(also, fmt.Sprintf("slow start has ended, with a threshold of %d segments (ssthresh)", ci.SndSsthresh))
	}
	l.Note("client", fmt.Sprintf("TCP_INFO: total_retrans %d, total_rto %d, reord_seen %d, dsack_dups %d, cwnd %d, ssthresh %s: %s; %s.",
		ci.TotalRetrans, ci.TotalRTO, ci.ReordSeen, ci.DSACKDups, ci.SndCwnd, ssthresh(ci), resent, strings.Join(also, "; ")))
}

// times is "1 segment", "3 segments", or with no noun "once", "3 times".
func times(n int, noun string) string {
	switch {
	case noun == "" && n == 1:
		return "once"
	case noun == "":
		return fmt.Sprintf("%d times", n)
	case n == 1:
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ssthresh is the slow-start threshold as ss prints it: a number, or
// "unset" before the first loss.
func ssthresh(ci *kernel.Info) string {
	if ci.SsthreshInfinite() {
		return "unset"
	}
	return strconv.Itoa(int(ci.SndSsthresh))
}
