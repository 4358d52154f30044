// Lesson 15 leaves a connection idle, then cuts the link under it, and
// shows what a program learns of a peer that has gone silent: nothing,
// until the kernel gives up. An idle connection sends nothing and stays
// open forever; keepalive probes ask the peer whether it is still
// there; a cut link fails them with ETIMEDOUT, and fails data written
// into it the same way, once its retransmissions run out; a peer whose
// machine restarted answers the next segment with RST.
//
// It answers the seed's 'error' and 'close' events for a connection
// whose peer vanished: which error, after how long, and why.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// The link's delay each way: a round trip of 2 ms, so that the
// retransmission timeout is close to Linux's least, 200 ms.
const oneWay = time.Millisecond

// quiet is how long step 1 leaves the connection idle.
const quiet = time.Second

// keepAlive is the client's keepalive in steps 2 and 3: the first probe
// after 1 s without a segment from the peer, then one a second, and the
// connection given up when 2 in a row go unanswered. The kernel takes
// whole seconds: 1 s is the shortest idle time and interval there is.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 2}

// userTimeout is how long data the client wrote in step 4 may stay
// unacknowledged before its kernel gives the connection up
// (TCP_USER_TIMEOUT).
const userTimeout = 1500 * time.Millisecond

// message is what the client sends first on each connection: the
// seed's, echoed by the server.
var message = []byte("I am Chuck Norris!")

var info = lesson.Lesson{
	Number: "15",
	Title:  "Silence and dead peers",
	Intro: "A connection with nothing to say sends nothing: the client and the server, on a link with a " +
		"round trip of 2 ms, leave one idle. Then keepalive probes ask the peer whether it is still there, " +
		"and the link is cut under them; data is written into a cut link; and a server forgets a connection " +
		"its client still holds. Each time, the error the Go program gets, and when.",
	Steps: 5,
	Link:  &link.Config{DelayToServer: oneWay, DelayToClient: oneWay},
	Recap: []string{
		"An idle TCP connection sends nothing: a peer that vanished (a cable pulled, a machine\n" +
			"off, a NAT that forgot the mapping) is noticed only when something is sent.",
		"Keepalive sends a probe after a quiet time: a segment one byte below the next, with no\n" +
			"data, which the peer's kernel must answer with an ACK. Go turns it on for every\n" +
			"connection it dials or accepts (15 s idle, a probe every 15 s, 9 probes:\n" +
			"net.KeepAliveConfig); Node leaves it off until socket.setKeepAlive(true, delay),\n" +
			"but for the sockets of an http.Agent with keepAlive, as Node 20's globalAgent.",
		"Probes unanswered, Count of them, and the kernel gives up: Read fails with ETIMEDOUT,\n" +
			"\"connection timed out\" (errors.Is(err, syscall.ETIMEDOUT)); Node emits 'error'\n" +
			"with err.code 'ETIMEDOUT', then 'close' with hadError true.",
		"Data written to a peer that vanished: Write succeeds (the bytes wait in the send\n" +
			"buffer), the kernel sends them again with the timer doubling each time, and gives\n" +
			"up once they have gone unacknowledged, since the first retransmission, for\n" +
			"TCP_USER_TIMEOUT or, without it, for a time computed from net.ipv4.tcp_retries2:\n" +
			"924.6 s for the default, 15, more than 15 minutes (15 retransmissions with a\n" +
			"timeout just over 200 ms, fewer with a longer round trip).",
		"A peer whose machine restarted has no socket for the connection: its kernel answers\n" +
			"the next segment with RST, and the program gets ECONNRESET, \"connection reset by\n" +
			"peer\", then EPIPE, \"broken pipe\", if it writes again. (A server process that\n" +
			"exits or restarts does tell its clients: its kernel closes its sockets, and sends\n" +
			"a FIN or a RST.)",
	},
	TryThis: []string{
		"go run ./lessons/15 --pcap dead.pcapng, then\n" +
			"tshark -r dead.pcapng -Y 'frame.interface_name == \"client\" && (tcp.analysis.keep_alive\n" +
			"|| tcp.analysis.keep_alive_ack)': the keepalive probe of step 2 and its ACK, then\n" +
			"step 3's probes, unanswered.",
		"In lessons/15/main.go, set keepAlive's Count to 3: step 3's Read fails after 3\n" +
			"probes, unanswered, 4 s after the last ACK (1 s idle, then 3 × 1 s).",
		"Set userTimeout to 0 (no TCP_USER_TIMEOUT: the kernel's default) and, in step 4,\n" +
			"set net.ipv4.tcp_retries2 to 2 with l.SetSysctl, next to tcp_early_retrans: the\n" +
			"last note says about 1.4 s (0.2 + 0.4 + 0.8), a floor. The client gives up at\n" +
			"the first timer that fires once the data has waited that long since its first\n" +
			"retransmission: after 3 retransmissions, about 3 s after the write (after 2, if\n" +
			"the timeout has grown past 233 ms).",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lesson 15 needs Linux: its link joins two network namespaces; this is %s", runtime.GOOS)
	}
	l.Step("An idle connection sends nothing",
		"The server listens in its own network namespace, at 192.0.2.2; the client dials from its own, "+
			"through a link with a round trip of 2 ms. Go turns keepalive on for every connection it dials "+
			"or accepts; both ends turn it off here (SetKeepAlive(false)), as Node's sockets have it. The "+
			"client sends the seed's message, the server echoes it, and then neither writes for a second. "+
			"Nothing crosses the link: TCP sends a segment only when there is data, an ACK, a FIN or a "+
			"timer's retry to send, and an idle connection has none. The connection stays open, at both "+
			"ends, for as long as the programs keep it: a second, a day, a year.")
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", net.JoinHostPort(link.ServerAddr.String(), "0"))
		return err
	})
	if err != nil {
		return err
	}
	defer ln.Close()

	c, err := connect(l, ln, net.Dialer{})
	if err != nil {
		return err
	}
	if err := goDefaults(l, c); err != nil {
		return err
	}
	if err := c.hello(l); err != nil {
		return err
	}
	if err := c.idle(l); err != nil {
		return err
	}
	if err := c.close(); err != nil {
		return err
	}

	l.Step("Keepalive: a probe and its ACK",
		"A new connection, whose client turns keepalive on with short times: net.Dialer's "+
			"KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 2}. After a "+
			"second without a segment from the server, the client's kernel sends a probe: an ACK whose "+
			"sequence number is one below the next byte it would send, with no data (Linux sends none; some "+
			"stacks send one old byte). To the server's kernel it is a segment it has already had, and "+
			"a kernel answers such a segment with an ACK saying what it expects next. The ACK tells the "+
			"client's kernel that the server is there; neither program sees any of it. Go's defaults are "+
			"15 s, 15 s and 9: a dead peer noticed after 15 + 9 × 15 = 150 s. Node's sockets have no keepalive until "+
			"socket.setKeepAlive(true, 1000): then 1 s idle, and (Node 20) a probe a second, 10 at most.")
	if c, err = connect(l, ln, net.Dialer{KeepAliveConfig: keepAlive}); err != nil {
		return err
	}
	if err := keepAliveNote(l, "client", c.client, "net.Dialer's KeepAliveConfig, in whole seconds"); err != nil {
		return err
	}
	if err := c.hello(l); err != nil {
		return err
	}
	if err := c.probed(l); err != nil {
		return err
	}

	l.Step("The link cut: probes unanswered, then ETIMEDOUT",
		"Now the link drops every segment, both ways, as a pulled cable or a peer switched off would. The "+
			"client waits in Read for a reply. Its kernel goes on probing once a second; no ACK comes. "+
			"After Count probes unanswered (2), it gives the connection up: it sends a RST, which the link "+
			"drops too, and fails the Read with ETIMEDOUT. The server's kernel, with keepalive off and "+
			"nothing to send, never learns: its socket stays ESTABLISHED. In Node the socket emits 'error' "+
			"with err.code 'ETIMEDOUT', then 'close' with hadError true.")
	l.SetRules(link.Rule{Action: link.Drop, Retransmits: link.AllRetransmits})
	if err := c.timedOut(l); err != nil {
		return err
	}
	stale := []net.Conn{c.server}

	l.Step(stepFour())
	l.SetRules()
	if err := l.SetSysctl("net.ipv4.tcp_early_retrans", "0",
		"Off: no tail loss probe (lesson 12), so that the retransmission timer alone sends the data again."); err != nil {
		return err
	}
	if c, err = connect(l, ln, net.Dialer{KeepAlive: -1}); err != nil {
		return err
	}
	if err := c.hello(l); err != nil {
		return err
	}
	l.SetRules(link.Rule{Action: link.Drop, Retransmits: link.AllRetransmits})
	if err := c.unacknowledged(l); err != nil {
		return err
	}
	stale = append(stale, c.server)

	l.Step("A peer whose machine restarted: RST",
		"A last connection. This time the server's socket goes away without the client hearing of it: "+
			"the server sets SO_LINGER to 0 and closes, so its kernel drops the connection at once and "+
			"sends a RST, which the link drops (the server's first RST, and no other). So it is when the "+
			"server's machine restarted or crashed: its kernel has no socket for the connection, and "+
			"nothing told the client. (A server process that exits or restarts does tell: its kernel "+
			"closes its sockets, with a FIN, or a RST if data was left unread, and the client's Read "+
			"returns at once.) The client writes. The server's kernel answers the data with a RST; the client's kernel drops "+
			"the connection, and the Read that waits for the answer fails with ECONNRESET, \"connection "+
			"reset by peer\"; a Write after that fails with EPIPE, \"broken pipe\". In Node the socket emits "+
			"'error' with err.code 'ECONNRESET', then 'close' with hadError true.")
	l.SetRules(link.Rule{Dir: link.FromServer, Kind: link.RST, Index: 1, Action: link.Drop})
	if c, err = connect(l, ln, net.Dialer{KeepAlive: -1}); err != nil {
		return err
	}
	if err := c.hello(l); err != nil {
		return err
	}
	if err := c.restarted(l); err != nil {
		return err
	}
	if err := ln.Close(); err != nil {
		return err
	}
	l.SetRules()
	return forgotten(l, stale)
}

// stepFour is step 4's title and text: with TCP_USER_TIMEOUT, the
// lesson's, or without (userTimeout 0, as in the third Try this).
func stepFour() (title, text string) {
	backoff := "The link is cut again and the client writes. Write returns at once, with no error: the bytes are in the kernel's send buffer, " +
		"which is all a Write promises. The kernel sends them, and again each time the retransmission timer fires, the timer doubling each " +
		"time (about 200, 400, 800 ms: exponential backoff), until "
	retries2 := "for a time it computes from net.ipv4.tcp_retries2: 924.6 s for the default, 15. How many retransmissions that makes depends " +
		"on the timeout: 15 with one just over 200 ms"
	if userTimeout == 0 {
		return "Data written into the cut link: retransmissions until tcp_retries2's time",
			"The link is whole again for a new connection, without keepalive, whose client leaves TCP_USER_TIMEOUT unset (0, the kernel's " +
				"default). " + backoff + "the data has gone unacknowledged, since its first retransmission, " + retries2 +
				", fewer with a longer round trip. Then the Read fails with ETIMEDOUT; the step's last note says when, for the tcp_retries2 this run has."
	}
	return "Data written into the cut link: retransmissions until TCP_USER_TIMEOUT",
		"The link is whole again for a new connection, without keepalive, whose client sets TCP_USER_TIMEOUT to " + seconds(userTimeout) +
			" (unix.SetsockoptInt on the socket, through SyscallConn): how long written data may stay unacknowledged. " + backoff +
			seconds(userTimeout) + " have passed since the first retransmission (Linux counts from there): then the Read fails with ETIMEDOUT. " +
			"Without TCP_USER_TIMEOUT the kernel gives up once the data has gone unacknowledged, since its first retransmission, " + retries2 +
			", as here, fewer with a longer round trip."
}

// forgotten closes the server's ends of connections whose clients gave
// up, each with SO_LINGER 0, and says what the server's kernel held.
func forgotten(l *lesson.Run, stale []net.Conn) error {
	var states []string
	for _, c := range stale {
		si, err := kernel.TCPInfo(c)
		if err != nil {
			return err
		}
		states = append(states, si.State.String())
	}
	note(l, "server", stale[0], fmt.Sprintf("the server's ends of the connections of steps 3 and 4: %s", strings.Join(states, ", ")),
		"Their clients gave up in steps 3 and 4; the server's kernel never heard of it, and holds them yet, with their buffers: a server "+
			"without keepalive or timeouts of its own piles up such connections. It closes them now, each with SO_LINGER 0: "+
			"a RST each, which the client's kernel, with no socket for them, ignores.")
	for _, c := range stale {
		if err := tcpConn(c).SetLinger(0); err != nil {
			return err
		}
		if err := c.Close(); err != nil {
			return err
		}
	}
	return nil
}

// conn is a connection of the lesson: the client's end and the
// server's, and the keepalive options Accept gave the server's.
type conn struct {
	client, server net.Conn
	accepted       keepAliveOpts
}

// connect dials the server from the client's namespace with d and
// accepts the connection. The server's end has keepalive off: only the
// client probes.
func connect(l *lesson.Run, ln net.Listener, d net.Dialer) (*conn, error) {
	dialer := tracer.Dialer{Hooks: l.Hooks("client"), Net: d}
	var client net.Conn
	err := l.Client(func() (err error) {
		client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		return err
	})
	if err != nil {
		return nil, err
	}
	server, err := ln.Accept()
	if err != nil {
		client.Close()
		return nil, err
	}
	c := &conn{client: client, server: server}
	if c.accepted, err = keepAliveOf(server); err != nil {
		c.client.Close()
		c.server.Close()
		return nil, err
	}
	if err := tcpConn(server).SetKeepAlive(false); err != nil {
		c.client.Close()
		c.server.Close()
		return nil, err
	}
	return c, nil
}

// tcpConn is the *net.TCPConn behind a traced connection.
func tcpConn(c net.Conn) *net.TCPConn {
	return c.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn)
}

// hello has the client send the message and the server echo it, and
// waits until the client's ACK of the echo has reached the server:
// then nothing is in flight either way.
func (c *conn) hello(l *lesson.Run) error {
	if _, err := c.client.Write(message); err != nil {
		return err
	}
	got := make([]byte, len(message))
	if _, err := io.ReadFull(c.server, got); err != nil {
		return err
	}
	if _, err := c.server.Write(got); err != nil {
		return err
	}
	if _, err := io.ReadFull(c.client, got); err != nil {
		return err
	}
	return acknowledged(l, c.server)
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

// close closes the client's end, then the server's once it has read
// the FIN.
func (c *conn) close() error {
	if err := c.client.Close(); err != nil {
		return err
	}
	if _, err := c.server.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("the server's read after the client closed: %v, want io.EOF", err)
	}
	return c.server.Close()
}

// goDefaults says what keepalive Go gave both ends, as their sockets
// say, and turns the client's off (the server's is off already).
func goDefaults(l *lesson.Run, c *conn) error {
	k, err := keepAliveOf(c.client)
	if err != nil {
		return err
	}
	a := c.accepted
	both := "at both ends"
	if a != k {
		both = fmt.Sprintf("at the client's end (at the server's, from Accept: %d, %d s, %d s, %d)", a.on, a.idle, a.interval, a.count)
	}
	note(l, "client", c.client, fmt.Sprintf("Go's keepalive %s: SO_KEEPALIVE %d, TCP_KEEPIDLE %d s, TCP_KEEPINTVL %d s, TCP_KEEPCNT %d", both, k.on, k.idle, k.interval, k.count),
		"The options of the sockets net.Dialer and Accept made, read back with getsockopt: Go turns keepalive on for every TCP connection it dials or accepts, "+
			"with a first probe after 15 s of silence, one every 15 s after that, and the connection given up after 9 unanswered "+
			"(net.KeepAliveConfig's defaults; Dialer.KeepAlive or ListenConfig.KeepAlive -1 turns it off). The Linux default, "+
			"which Node keeps, is off (and 7200 s, 75 s and 9 for a program that turns it on and sets nothing more).")
	if err := tcpConn(c.client).SetKeepAlive(false); err != nil {
		return err
	}
	if k, err = keepAliveOf(c.client); err != nil {
		return err
	}
	s, err := keepAliveOf(c.server)
	if err != nil {
		return err
	}
	note(l, "client", c.client, fmt.Sprintf("SetKeepAlive(false) at both ends: SO_KEEPALIVE %d and %d", k.on, s.on),
		"Keepalive off, at the client's end and the server's (as the server does for every connection it accepts in this lesson): neither kernel sends anything on an idle connection.")
	return nil
}

// idle leaves the connection alone for a while, and says what each
// end's TCP_INFO counted meanwhile.
func (c *conn) idle(l *lesson.Run) error {
	cb, sb, err := c.infos()
	if err != nil {
		return err
	}
	time.Sleep(quiet) // the lesson's point: nothing happens
	ca, sa, err := c.infos()
	if err != nil {
		return err
	}
	sent := (ca.SegsOut - cb.SegsOut) + (sa.SegsOut - sb.SegsOut)
	got := (ca.SegsIn - cb.SegsIn) + (sa.SegsIn - sb.SegsIn)
	text := fmt.Sprintf("%s idle: %d segments sent or received at either end; %s at the client, %s at the server",
		tracer.FormatDuration(quiet), sent+got, ca.State, sa.State)
	why := "TCP_INFO at both ends, before and after: segs_out and segs_in did not move, and both sockets are still ESTABLISHED. Nothing is sent while nobody writes, and nothing tells either end whether the other is still there."
	if sent+got > 0 {
		why = "TCP_INFO at both ends, before and after, counted segments: something was sent."
	}
	note(l, "client", c.client, text, why)
	return nil
}

// infos reads both ends' TCP_INFO.
func (c *conn) infos() (client, server *kernel.Info, err error) {
	if client, err = kernel.TCPInfo(c.client); err != nil {
		return nil, nil, err
	}
	server, err = kernel.TCPInfo(c.server)
	return client, server, err
}

// keepAliveNote says the keepalive options of c's socket.
func keepAliveNote(l *lesson.Run, actor string, c net.Conn, how string) error {
	k, err := keepAliveOf(c)
	if err != nil {
		return err
	}
	note(l, actor, c, fmt.Sprintf("SO_KEEPALIVE %d, TCP_KEEPIDLE %d s, TCP_KEEPINTVL %d s, TCP_KEEPCNT %d", k.on, k.idle, k.interval, k.count),
		"The socket's options, read back with getsockopt: set by "+how+". A probe after "+fmt.Sprint(k.idle)+" s without a segment from the peer, "+
			"then one every "+fmt.Sprint(k.interval)+" s while none comes, and the connection given up after "+fmt.Sprint(k.count)+" unanswered.")
	return nil
}

// probed waits until the client's kernel has sent a keepalive probe and
// received the answer, and says so, with the counts that show it.
func (c *conn) probed(l *lesson.Run) error {
	first, err := kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	probes0, err := counter(l, "client", "TcpExtTCPKeepAlive")
	if err != nil {
		return err
	}
	start := time.Now()
	var probes int64
	var ci *kernel.Info
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if probes, err = counter(l, "client", "TcpExtTCPKeepAlive"); err != nil {
			return err
		}
		if ci, err = kernel.TCPInfo(c.client); err != nil {
			return err
		}
		if probes > probes0 && ci.SegsIn > first.SegsIn {
			break
		}
		select {
		case <-l.Context().Done():
			return context.Cause(l.Context())
		case <-tick.C:
		}
	}
	note(l, "client", c.client, fmt.Sprintf("a keepalive probe sent and answered, %s after the echo", secs(time.Since(start))),
		fmt.Sprintf("The client's kernel counted %s (TcpExtTCPKeepAlive +%d) and its socket one segment more in (TCP_INFO segs_in +%d, data_segs_in +%d): "+
			"the server's ACK, with no data. Neither program read or wrote anything.", plural(int(probes-probes0), "keepalive probe"), probes-probes0, ci.SegsIn-first.SegsIn, ci.DataSegsIn-first.DataSegsIn))
	return nil
}

// timedOut waits in the client's Read until its kernel gives the
// connection up, and says what the Read returned, what the kernel
// counted, and what the server knows; then the server lets go of its
// socket.
func (c *conn) timedOut(l *lesson.Run) error {
	probes0, err := counter(l, "client", "TcpExtTCPKeepAlive")
	if err != nil {
		return err
	}
	start := time.Now()
	_, rerr := c.client.Read(make([]byte, 100))
	waited := time.Since(start)
	probes, err := counter(l, "client", "TcpExtTCPKeepAlive")
	if err != nil {
		return err
	}
	goError(l, c.client, rerr, fmt.Sprintf("the Read returned %s after the link was cut, after %s unanswered (TcpExtTCPKeepAlive +%d)",
		secs(waited), plural(int(probes-probes0), "keepalive probe"), probes-probes0))
	si, err := kernel.TCPInfo(c.server)
	if err != nil {
		return err
	}
	note(l, "server", c.server, fmt.Sprintf("the server's socket: %s, %s unacknowledged", si.State, plural(int(si.Unacked), "segment")),
		"The server's kernel had nothing to send and keepalive off: it has not noticed that the client is gone, and would not, ever. "+
			"With Go's default keepalive it would have after 150 s; a server that writes would have when its retransmissions ran out. "+
			"The server keeps its end open until the lesson's end.")
	return c.client.Close()
}

// unacknowledged sets the client's TCP_USER_TIMEOUT, writes into the
// cut link and waits in Read until the kernel gives up, then says what
// the Write and the Read returned, and what the kernel did meanwhile.
func (c *conn) unacknowledged(l *lesson.Run) error {
	if err := setUserTimeout(c.client, userTimeout); err != nil {
		return err
	}
	ut, err := userTimeoutOf(c.client)
	if err != nil {
		return err
	}
	ci, err := kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	rto := ci.RTO.Round(time.Millisecond)
	bound := fmt.Sprintf("written data may stay unacknowledged up to %s after its first retransmission, about %s (the timeout, %s, + %s) after it was sent; "+
		"then the kernel gives the connection up.", tracer.FormatDuration(ut), tracer.FormatDuration(rto+ut), tracer.FormatDuration(rto), tracer.FormatDuration(ut))
	if ut == 0 {
		bound = "0, unset: net.ipv4.tcp_retries2 decides when the kernel gives the connection up (the step's last note)."
	}
	note(l, "client", c.client, fmt.Sprintf("TCP_USER_TIMEOUT %d ms; retransmission timeout %s", ut.Milliseconds(), tracer.FormatDuration(rto)),
		fmt.Sprintf("The socket's TCP_USER_TIMEOUT, read back: %s "+
			"TCP_INFO's rto: the first retransmission comes that long after a segment is sent (about the smoothed round trip, TCP_INFO's rtt, %s, an average of the round trips the kernel measured, plus Linux's least margin, 200 ms, in whole ticks of the kernel's clock).",
			bound, tracer.FormatDuration(ci.RTT.Round(time.Microsecond))))
	timeouts0, err := counter(l, "client", "TcpExtTCPTimeouts")
	if err != nil {
		return err
	}
	start := time.Now()
	n, werr := c.client.Write([]byte("are you there?"))
	wrote := time.Since(start)
	if werr != nil {
		return werr
	}
	if ci, err = kernel.TCPInfo(c.client); err != nil {
		return err
	}
	note(l, "client", c.client, fmt.Sprintf("Write returned %d, nil, after %s", n, tracer.FormatDuration(wrote.Round(time.Microsecond))),
		fmt.Sprintf("A Write returns when the kernel has the bytes, not when the peer has them: TCP_INFO says %s sent and unacknowledged (unacked %d), the link cut under it. "+
			"The client now waits in Read for an answer.", plural(int(ci.Unacked), "segment"), ci.Unacked))
	_, rerr := c.client.Read(make([]byte, 100))
	waited := time.Since(start)
	ci, err = kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	timeouts, err := counter(l, "client", "TcpExtTCPTimeouts")
	if err != nil {
		return err
	}
	fired := fmt.Sprintf("the retransmission timer fired %s (TcpExtTCPTimeouts +%d)", times(int(timeouts-timeouts0)), timeouts-timeouts0)
	if timeouts-timeouts0 == int64(ci.TotalRetrans)+1 {
		fired += fmt.Sprintf(": %s to send the data again, the first time one timeout after the data was sent, then each time after twice the timeout before "+
			"(the gaps on the wire come longer than the timeouts: the timer fires late), and once more to give up", times(int(ci.TotalRetrans)))
	}
	goError(l, c.client, rerr, fmt.Sprintf("the Read returned %s after the Write; the data was sent again %s (TCP_INFO total_retrans %d); %s",
		secs(waited), times(int(ci.TotalRetrans)), ci.TotalRetrans, fired))
	var retries int
	if err := l.Client(func() (err error) {
		retries, err = sysctlInt("net.ipv4.tcp_retries2")
		return err
	}); err != nil {
		return err
	}
	doubling, capped, total := giveUp(retries, minRTO)
	minutes := ""
	if total >= time.Minute {
		minutes = " (" + strconv.FormatFloat(total.Minutes(), 'f', 1, 64) + " minutes)"
	}
	waits := fmt.Sprintf("%s that double (%s in all)", plural(doubling, "wait"), seconds(time.Duration((1<<doubling)-1)*minRTO))
	if capped > 0 {
		waits += fmt.Sprintf(", then %d of %s", capped, seconds(rtoMax))
	}
	n, after := retransmissions(total, rto)
	here := ""
	if ut == 0 {
		here = " This connection has no TCP_USER_TIMEOUT: this is what gave it up above."
	}
	note(l, "client", c.client, fmt.Sprintf("without TCP_USER_TIMEOUT: net.ipv4.tcp_retries2 = %d here, about %s%s", retries, seconds(total), minutes),
		fmt.Sprintf("Without TCP_USER_TIMEOUT the kernel gives up once the data has waited, since it was first sent again, as long as %d retransmissions would take "+
			"with the least timeout, %s, doubling up to its most, %s (TCP_RTO_MAX): %s. So counts retransmits_timed_out in "+
			"net/ipv4/tcp_timer.c; Documentation/networking/ip-sysctl.rst gives 924.6 s for the default, 15. It gives up at the first timer that fires past that: "+
			"with this connection's timeout, %s, doubling, after %s, %s after the first of them (timers that fire late can make it one fewer). "+
			"A longer round trip, and so a longer timeout, means fewer retransmissions, over at least as long.%s",
			retries, fmt.Sprintf("%d ms", minRTO.Milliseconds()), seconds(rtoMax), waits, tracer.FormatDuration(rto), plural(n, "retransmission"), seconds(after.Round(100*time.Millisecond)), here))
	return c.client.Close()
}

// Linux's least and most retransmission timeouts (TCP_RTO_MIN,
// TCP_RTO_MAX).
const (
	minRTO = 200 * time.Millisecond
	rtoMax = 120 * time.Second
)

// giveUp is how long Linux retransmits before it gives a connection up
// after retries retransmissions (net.ipv4.tcp_retries2), as the
// kernel's retransmits_timed_out counts it: as if every timeout had
// started at rto and doubled, up to rtoMax. doubling is how many
// waits double, capped how many wait rtoMax.
func giveUp(retries int, rto time.Duration) (doubling, capped int, total time.Duration) {
	thresh := 0 // ilog2(rtoMax / rto)
	for (rtoMax/rto)>>(thresh+1) > 0 {
		thresh++
	}
	if retries <= thresh {
		return retries + 1, 0, ((2 << retries) - 1) * rto
	}
	return thresh + 1, retries - thresh, ((2<<thresh)-1)*rto + time.Duration(retries-thresh)*rtoMax
}

// retransmissions is how many times the kernel sends data again before
// it gives up after limit (from giveUp), for a connection whose timeout
// starts at rto and doubles, up to rtoMax, with timers on time; and when
// it gives up, after the first retransmission.
func retransmissions(limit, rto time.Duration) (n int, after time.Duration) {
	n = 1
	for {
		if rto = min(2*rto, rtoMax); after+rto >= limit {
			return n, after + rto
		}
		after += rto
		n++
	}
}

// seconds is "924.6 s", "120 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// secs is a measured time to the hundredth of a second: "3.06 s".
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// restarted has the server drop its socket without the client knowing,
// then the client write and read, and says what each call returned.
func (c *conn) restarted(l *lesson.Run) error {
	if err := tcpConn(c.server).SetLinger(0); err != nil {
		return err
	}
	serverTuple := kernel.FiveTuple{Proto: "tcp", Local: c.server.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: c.server.RemoteAddr().(*net.TCPAddr).AddrPort()}
	if err := c.server.Close(); err != nil {
		return err
	}
	// NOTE: the rule drops the server's 1st RST in the order the link
	// reads them. Wait until it has read the one Close sent, before the
	// client sends data, which the server's kernel answers with a 2nd.
	l.SyncLink()
	var lookup error
	if err := l.Server(func() error {
		_, lookup = kernel.Lookup(serverTuple)
		return nil
	}); err != nil {
		return err
	}
	ci, err := kernel.TCPInfo(c.client)
	if err != nil {
		return err
	}
	gone := "the server's kernel still holds the socket"
	if errors.Is(lookup, kernel.ErrNotFound) {
		gone = "the server's kernel holds no socket for it"
	}
	note(l, "server", c.server, fmt.Sprintf("closed with SO_LINGER 0: %s; the client's is %s", gone, ci.State),
		"Asked by five-tuple (sock_diag), the server's kernel has no socket for the connection any more; the RST that says so, the link drops. "+
			"The client's socket is still ESTABLISHED, and nothing tells it otherwise until it sends.")
	rsts0, err := counter(l, "server", "TcpOutRsts")
	if err != nil {
		return err
	}
	resets0, err := counter(l, "client", "TcpEstabResets")
	if err != nil {
		return err
	}
	n, werr := c.client.Write([]byte("still there?"))
	if werr != nil {
		return werr
	}
	_, rerr := c.client.Read(make([]byte, 100))
	rsts, err := counter(l, "server", "TcpOutRsts")
	if err != nil {
		return err
	}
	resets, err := counter(l, "client", "TcpEstabResets")
	if err != nil {
		return err
	}
	goError(l, c.client, rerr, fmt.Sprintf("the Write returned %d, nil; the Read that followed got the server's answer: the server's kernel sent %s (TcpOutRsts +%d), "+
		"the client's dropped the connection on it (TcpEstabResets +%d)", n, plural(int(rsts-rsts0), "RST"), rsts-rsts0, resets-resets0))
	_, werr = c.client.Write([]byte("hello?"))
	goError(l, c.client, werr, "a Write after the reset: the socket is closed for sending, and no segment leaves")
	return c.client.Close()
}

// goError says what a call of the client's returned: the error's text,
// the syscall error it wraps, and the fields of its *net.OpError, with
// why it came.
func goError(l *lesson.Run, c net.Conn, err error, why string) {
	if err == nil {
		note(l, "client", c, "no error", why)
		return
	}
	var errno syscall.Errno
	name := "no syscall.Errno"
	if errors.As(err, &errno) {
		name = fmt.Sprintf("errors.Is(err, syscall.%s) is true", errnoName(errno))
	}
	fields := ""
	var op *net.OpError
	if errors.As(err, &op) {
		inner := fmt.Sprintf("%T", op.Err)
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			inner = fmt.Sprintf("&os.SyscallError{Syscall: %q, Err: syscall.%s}", se.Syscall, errnoName(errno))
		}
		fields = fmt.Sprintf(" It is a *net.OpError{Op: %q, Net: %q, Err: %s}.", op.Op, op.Net, inner)
	}
	note(l, "client", c, fmt.Sprintf("%v: %s", err, name), "Why: "+why+"."+fields)
}

// errnoName is the constant's name in package syscall.
func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.EPIPE:
		return "EPIPE"
	}
	return fmt.Sprintf("Errno(%d)", int(e))
}

// counter reads a counter of one end's kernel ("client", "server").
func counter(l *lesson.Run, end, name string) (int64, error) {
	in := l.Client
	if end == "server" {
		in = l.Server
	}
	var n int64
	err := in(func() error {
		c, err := kernel.ReadCounters()
		n = c[name]
		return err
	})
	return n, err
}

// note adds a note of actor's about connection c to the trace: text
// on the event's line, why below it.
func note(l *lesson.Run, actor string, c net.Conn, text, why string) {
	l.Trace().Add(tracer.Event{Actor: actor, Phase: tracer.PhaseNote, Proto: "tcp",
		Local:  c.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
		Text:   text, Note: why})
}

// plural says n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// times is "once", "3 times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
