// Lesson 17 runs out of ports. A connection is named by its four
// addresses and ports; the kernel picks the client's port for each, from
// a range. The side that closes first keeps the connection's name in
// TIME_WAIT for 60 s, and with a narrow range a client that opens and
// closes many short connections to one server finds no port left:
// Dial fails with EADDRNOTAVAIL. The lesson shows what tcp_tw_reuse
// changes, where TIME_WAIT lands when the server closes first, why a
// restarted Go server binds its port at once (SO_REUSEADDR) while a
// client that binds a fixed port cannot, and two listeners sharing a
// port (SO_REUSEPORT).
//
// It answers the seed's five-tuple,
// `<remoteAddress, remotePort, addressType, localAddress, localPort>`:
// the localPort is the kernel's choice, and it can run out.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// The lab's ephemeral ports: four, where Linux has 28232 by default
// (32768–60999).
const (
	narrowRange  = "40000 40003"
	defaultRange = "32768 60999"
)

// The server's ports: fixed, as a server's are, and outside the
// ephemeral range (the server's kernel has the same narrow range).
const (
	firstPort  = "8001"
	secondPort = "8002"
	closerPort = "8003"
	sharedPort = "8004"
)

// fixedPort is the local port the client binds in step 5, outside the
// ephemeral range, as a program does that sets net.Dialer's LocalAddr.
const fixedPort = 40100

// reuseDelay is how long step 3 waits, from its TIME_WAIT sockets'
// entry into that state, before tcp_tw_reuse lets a new connection take
// their four-tuple, when the kernel has no net.ipv4.tcp_tw_reuse_delay
// (before Linux 6.14): those kernels allow it once the second of the old
// connection's last timestamp has passed, between just over 0 and 1 s
// later. On newer kernels the lesson reads the setting (1000 ms by
// default), which counts from the entry into TIME_WAIT.
const reuseDelay = time.Second

// spread is how many connections step 6 makes to the two listeners.
const spread = 16

// message is what the client sends, and the server sends back.
const message = "I am Chuck Norris!\n"

var info = lesson.Lesson{
	Number: "17",
	Title:  "Ports, TIME_WAIT and reuse",
	Intro: "The client makes short connections to one server, closing each first, with only four " +
		"ephemeral ports, until Dial fails; then it tries tcp_tw_reuse, lets the server close first, " +
		"restarts the server on its port, binds a fixed local port twice, and dials two listeners " +
		"that share a port (SO_REUSEPORT). The kernel's tables (sock_diag, as ss shows them) and " +
		"counters at each end say whose socket waits in TIME_WAIT.",
	Steps: 6,
	Link:  &link.Config{},
	Recap: []string{
		"A connection is named by four numbers: local address and port, remote address and\n" +
			"port. The kernel picks the client's port from net.ipv4.ip_local_port_range\n" +
			"(32768–60999 by default) so that the four are new: one port can serve many peers.",
		"The side that closes first ends in TIME_WAIT: 60 s on Linux (TCP_TIMEWAIT_LEN,\n" +
			"fixed). For those 60 s its kernel does not pick that four-tuple for a connect that\n" +
			"leaves it the port: a client making many short connections to one server runs\n" +
			"out of ports, Dial fails with EADDRNOTAVAIL (cannot assign requested address), and\n" +
			"no SYN is sent. The four-tuple can serve again all the same: through tcp_tw_reuse\n" +
			"(step 3) or a port bound beforehand with SO_REUSEADDR (step 5), when the old\n" +
			"connection used timestamps; and when the peer sends a new SYN with a higher\n" +
			"sequence number or timestamp, which the TIME_WAIT socket accepts.",
		"net.ipv4.tcp_tw_reuse=1 lets a connect that leaves the kernel the port take a\n" +
			"TIME_WAIT four-tuple, with TCP timestamps on, once a delay has passed:\n" +
			"net.ipv4.tcp_tw_reuse_delay since Linux 6.14 (1000 ms by default, from the entry\n" +
			"into TIME_WAIT), up to 1 s before (TcpExtTWRecycled counts it). The default, 2,\n" +
			"allows it on loopback only. The new\n" +
			"connection's sequence numbers start 65537 past where the old one's ended.",
		"TIME_WAIT waits at the side that closed first. At a client each one keeps a port of\n" +
			"its range from serving that server again; at a server they all sit on the\n" +
			"listening port and take no port, but each takes memory, up to\n" +
			"net.ipv4.tcp_max_tw_buckets of them (past that, sockets skip TIME_WAIT).",
		"Go sets SO_REUSEADDR on listeners, and accepted connections inherit it: a restarted\n" +
			"server binds at once over its old connections in TIME_WAIT. A Dialer with a fixed\n" +
			"LocalAddr has no SO_REUSEADDR: while its first connection is in TIME_WAIT, a second\n" +
			"Dial from that port, to any server, fails at bind with EADDRINUSE (address already\n" +
			"in use).",
		"SO_REUSEPORT lets several sockets listen on one port; the kernel hashes each new\n" +
			"connection's four-tuple to pick the listener.",
	},
	TryThis: []string{
		"go run ./lessons/17 --pcap ports.pcapng, then\n" +
			"tshark -r ports.pcapng -Y 'frame.interface_name == \"client\" && tcp.flags.fin == 1'\n" +
			"-T fields -e tcp.srcport -e tcp.dstport: the FINs come in pairs, one pair a\n" +
			"connection; the first of each is the client's (to port 8001, 8002 or 8004), but\n" +
			"for the connection to 8003, where the server's comes first.",
		"Set narrowRange to \"40000 40000\": one port. Step 1 makes one connection before\n" +
			"Dial fails, and step 2's connection to the other listener still gets port 40000.",
		"At the pause before step 2, paste the printed command that joins the client in\n" +
			"front of ss -tano state time-wait: step 1's four sockets, ports 40000 to 40003,\n" +
			"all to 192.0.2.2:8001, their timers counting down from 60 s. With the command\n" +
			"that joins the server: none.",
		"go run ./lessons/17 --json | jq -r 'select(.phase == \"counter\") |\n" +
			"\"\\(.step) \\(.counter.at) \\(.counter.name) +\\(.counter.delta)\"': TcpExtTW, the\n" +
			"sockets entering TIME_WAIT, moves at the client in every step but 4, where it\n" +
			"moves at the server.",
		"tshark -r ports.pcapng -Y 'frame.interface_name == \"client\" && tcp.flags.syn == 1\n" +
			"&& tcp.flags.ack == 0' -T fields -e tcp.srcport -e tcp.dstport -e tcp.seq_raw: one\n" +
			"SYN a connection, with its initial sequence number. Two four-tuples have two\n" +
			"SYNs (step 3's, to 8001, and step 5's, from 40101): the second's number is the\n" +
			"first's + 65558, the old connection's SYN, 19 bytes and FIN (21) + 65537.",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lesson 17 needs Linux: its link joins two network namespaces; this is %s", runtime.GOOS)
	}
	ctx, cancel := context.WithTimeout(l.Context(), 30*time.Second)
	defer cancel()
	// What each end's kernel counted, shown at each step's end.
	var count tally
	if err := count.show(l); err != nil {
		return err
	}

	l.Step("Short connections, the client closes first: no port left",
		"The client's kernel picks the client's port for each connection from "+
			"net.ipv4.ip_local_port_range, 32768–60999 by default: 28232 ports. The lesson narrows it to "+
			"four. The server listens at 192.0.2.2 and answers one line per connection; the client "+
			"dials, sends a line, reads the answer and closes first, again and again. Each closed "+
			"connection stays in TIME_WAIT at the client, the side that closed first, for 60 s. "+
			"Once the four ports are used up towards this server, the next Dial fails.")
	if err := l.SetSysctl("net.ipv4.ip_local_port_range", narrowRange,
		"The client's kernel picks local ports from 40000 to 40003 only (the default is 32768–60999: 28232 ports), so that the lesson runs out of them with four connections instead of thousands."); err != nil {
		return err
	}
	first, err := startServer(l, net.ListenConfig{}, firstPort, false)
	if err != nil {
		return err
	}
	defer first.stop() // NOTE: ignoring the error; the lesson's is the one to report
	// When the connections were in TIME_WAIT, the first and the last.
	var closed []time.Time
	for n := 0; ; n++ {
		before, err := counters(l, "client")
		if err != nil {
			return err
		}
		c, err := dial(l, net.Dialer{}, first.addr())
		if err != nil {
			if err := noPortLeft(l, err, n, before); err != nil {
				return err
			}
			break
		}
		if n == 4 {
			c.Close()
			return errors.New("a fifth connection got a port: the range was not narrowed")
		}
		if err := exchange(c); err != nil {
			return err
		}
		if err := closeFirst(ctx, l, c); err != nil {
			return err
		}
		closed = append(closed, time.Now())
	}

	if err := count.show(l); err != nil {
		return err
	}
	l.Step("One local port, two peers",
		"A second listener, on another port of the server. The four ports are in TIME_WAIT towards "+
			"the first listener, but a four-tuple towards the second is new: the kernel gives this "+
			"connection one of the same four ports.")
	second, err := startServer(l, net.ListenConfig{}, secondPort, false)
	if err != nil {
		return err
	}
	defer second.stop() // NOTE: ignoring the error, as above
	c, err := dial(l, net.Dialer{}, second.addr())
	if err != nil {
		return err
	}
	if err := samePort(l, c); err != nil {
		return err
	}
	if err := exchange(c); err != nil {
		return err
	}
	if err := closeFirst(ctx, l, c); err != nil {
		return err
	}

	if err := count.show(l); err != nil {
		return err
	}
	delay, delayNote, err := reuseDelayOf(l)
	if err != nil {
		return err
	}
	l.Step("tcp_tw_reuse: take over a TIME_WAIT four-tuple",
		"net.ipv4.tcp_tw_reuse=1 lets a connect that leaves the kernel the port take a four-tuple "+
			"whose socket is in TIME_WAIT, when TCP timestamps were used on the old connection (they "+
			"tell the server's kernel old segments from new), once a delay has passed: "+delayNote+
			" Linux's default, 2, allows it only on loopback, and this link is not loopback. The "+
			"client dials the first listener at once, and again after that delay.")
	if err := l.SetSysctl("net.ipv4.tcp_tw_reuse", "1",
		"Allow a connect that leaves the kernel the port to take a TIME_WAIT four-tuple (0: never, 1: yes, 2: on loopback only, the default). "+
			"It matters for those only: a socket bound to its port beforehand (step 5) takes a TIME_WAIT over whatever it says, "+
			"provided the old connection used timestamps."); err != nil {
		return err
	}
	if err := reuse(ctx, l, first, closed[0], closed[len(closed)-1], delay); err != nil {
		return err
	}
	if err := l.SetSysctl("net.ipv4.tcp_tw_reuse", "2", "Back to the default: reuse on loopback only."); err != nil {
		return err
	}

	if err := count.show(l); err != nil {
		return err
	}
	l.Step("The server closes first: TIME_WAIT at the server",
		"A server that closes first, right after its answer. TIME_WAIT "+
			"lands on whichever side sends the first FIN: now it is the server's socket that waits "+
			"60 s, one for every client connection it closed, while the client's goes at once. "+
			"Then the server restarts: it closes its listener and listens again on the same port, "+
			"while its old connection is in TIME_WAIT.")
	third, err := startServer(l, net.ListenConfig{}, closerPort, true)
	if err != nil {
		return err
	}
	port := third.port()
	c, err = dial(l, net.Dialer{}, third.addr())
	if err != nil {
		return err
	}
	if err := exchange(c); err != nil {
		return err
	}
	if err := serverClosedFirst(ctx, l, c); err != nil {
		return err
	}
	if err := third.stop(); err != nil {
		return err
	}
	if err := restart(l, port); err != nil {
		return err
	}

	if err := count.show(l); err != nil {
		return err
	}
	l.Step("A client that binds a fixed local port",
		"Some clients choose their own local port, with net.Dialer's LocalAddr (Node: localPort). "+
			"Go sets no SO_REUSEADDR on a dialing socket, and its bind comes before connect: the "+
			"second Dial from the same port, while the first connection is in TIME_WAIT, fails at "+
			"bind. With SO_REUSEADDR set on both sockets before the bind, as Node's libuv does, bind "+
			"succeeds, and connect takes the TIME_WAIT four-tuple over.")
	if err := fixedLocalPort(ctx, l, second); err != nil {
		return err
	}

	if err := count.show(l); err != nil {
		return err
	}
	l.Step("SO_REUSEPORT: two listeners on one port",
		"Back to the default port range. Two listeners of the server's set SO_REUSEPORT before "+
			"binding (net.ListenConfig's Control), and bind the same address and port. The kernel "+
			"keeps them in a group and hashes each new connection's four-tuple to pick one: a way to "+
			"spread connections between processes, or between listeners of one, without a shared "+
			"Accept.")
	if err := l.SetSysctl("net.ipv4.ip_local_port_range", defaultRange, "Linux's default range again: 28232 ports."); err != nil {
		return err
	}
	if err := reusePortSpread(ctx, l); err != nil {
		return err
	}
	return count.show(l)
}

// server is a listener in the server's namespace and the goroutines
// that answer its connections.
type server struct {
	ln       net.Listener
	accepted atomic.Int32
	wg       sync.WaitGroup
}

// startServer listens on port of the server's address with lc and
// answers each connection: it reads a line and writes it back; then,
// when closeFirst is set, it closes the connection at once, and
// otherwise waits for the client to close first.
func startServer(l *lesson.Run, lc net.ListenConfig, port string, closeFirst bool) (*server, error) {
	ln, err := listen(l, lc, port)
	if err != nil {
		return nil, err
	}
	s := &server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener is closed
			}
			s.accepted.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				answer(c, closeFirst)
			}()
		}
	}()
	return s, nil
}

// listen opens a listener in the server's namespace with lc, and puts
// it in the trace.
func listen(l *lesson.Run, lc net.ListenConfig, port string) (net.Listener, error) {
	addr := net.JoinHostPort(link.ServerAddr.String(), port)
	h := l.Hooks("server")
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp4", addr)
		return err
	})
	li := tracer.ListenInfo{Time: time.Now(), Network: "tcp4", Addr: addr, Err: err}
	if err == nil {
		li.Local = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	h.Listen(li)
	if err != nil {
		return nil, err
	}
	return tracer.WrapListener(ln, h), nil
}

// answer reads a line and writes it back; then it closes at once, or
// reads until the client has closed and closes after it.
func answer(c net.Conn, closeFirst bool) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	if _, err := io.WriteString(c, line); err != nil || closeFirst {
		return
	}
	// NOTE: ignoring the error; all that matters is that the client
	// closed.
	io.Copy(io.Discard, c)
}

func (s *server) addr() string { return s.ln.Addr().String() }
func (s *server) port() string {
	_, port, _ := net.SplitHostPort(s.addr())
	return port
}

// stop closes the listener and waits for the connections' goroutines.
func (s *server) stop() error {
	err := s.ln.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// dial connects from the client's namespace with d.
func dial(l *lesson.Run, d net.Dialer, addr string) (net.Conn, error) {
	dialer := tracer.Dialer{Hooks: l.Hooks("client"), Net: d}
	var c net.Conn
	err := l.Client(func() (err error) {
		c, err = dialer.DialContext(l.Context(), "tcp4", addr)
		return err
	})
	return c, err
}

// exchange sends the message and reads it back.
func exchange(c net.Conn) error {
	if _, err := io.WriteString(c, message); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

// closeFirst closes the client's end first, and waits until the
// client's kernel holds the connection in TIME_WAIT and the server's
// holds nothing of it.
func closeFirst(ctx context.Context, l *lesson.Run, c net.Conn) error {
	if err := c.Close(); err != nil {
		return err
	}
	return settled(ctx, l, c, "client")
}

// settled waits until the kernel of end (the side that closed first)
// holds connection c in TIME_WAIT and the other end's holds nothing.
func settled(ctx context.Context, l *lesson.Run, c net.Conn, closer string) error {
	ft := tuple(c)
	peer := kernel.FiveTuple{Proto: "tcp", Local: ft.Remote, Remote: ft.Local}
	waiter, gone := ft, peer
	inWait, inGone := l.Client, l.Server
	if closer == "server" {
		waiter, gone = peer, ft
		inWait, inGone = l.Server, l.Client
	}
	// NOTE: TIME_WAIT, or no socket at all: a RST can end the closer's
	// TIME_WAIT early (the kernel honours it, tcp_rfc1337 = 0), as when
	// the peer's last ACK and FIN reach it out of order and its answer
	// finds the peer's socket gone; the trace then shows the RST.
	if err := inWait(func() error { return timeWaitOrGone(ctx, waiter) }); err != nil {
		return err
	}
	return inGone(func() error { return kernel.WaitGone(ctx, gone) })
}

// timeWaitOrGone polls the kernel, every millisecond, until the socket
// ft is in TIME_WAIT or gone.
func timeWaitOrGone(ctx context.Context, ft kernel.FiveTuple) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s, err := kernel.Lookup(ft)
		switch {
		case errors.Is(err, kernel.ErrNotFound), err == nil && s.State == kernel.TimeWait:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kernel: %s: waiting for TIME_WAIT, still %s: %w", ft, s.State, ctx.Err())
		case <-tick.C:
		}
	}
}

// tuple is the client's connection's five-tuple, seen from the client.
func tuple(c net.Conn) kernel.FiveTuple {
	return kernel.FiveTuple{Proto: "tcp",
		Local:  c.LocalAddr().(*net.TCPAddr).AddrPort(),
		Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort()}
}

// noPortLeft says why Dial failed after n connections: err as Go gave
// it, and what the client's kernel held and counted at that moment.
func noPortLeft(l *lesson.Run, err error, n int, before kernel.Counters) error {
	tw, terr := timeWait(l, "client")
	if terr != nil {
		return terr
	}
	serverTW, terr := timeWait(l, "server")
	if terr != nil {
		return terr
	}
	after, cerr := counters(l, "client")
	if cerr != nil {
		return cerr
	}
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("after %d connections Dial failed, but not for want of a port: %w", n, err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Addr == nil {
		return fmt.Errorf("Dial failed with no *net.OpError naming the server: %w", err)
	}
	var ports []string
	for _, s := range tw {
		if s.Remote.String() != opErr.Addr.String() {
			return fmt.Errorf("a TIME_WAIT socket towards %s, not the server: %v", s.Remote, s)
		}
		ports = append(ports, fmt.Sprint(s.Local.Port()))
	}
	slices.Sort(ports)
	form := fmt.Sprintf("a %T (Op %q, Addr %s)", opErr, opErr.Op, opErr.Addr)
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		form += fmt.Sprintf(" around an %T from %s(2)", sysErr, sysErr.Syscall)
	}
	sent := "no SYN left: TcpActiveOpens did not move"
	if d := after["TcpActiveOpens"] - before["TcpActiveOpens"]; d != 0 {
		sent = fmt.Sprintf("TcpActiveOpens +%d", d)
	}
	l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote,
		Text: fmt.Sprintf("Dial failed after %s: EADDRNOTAVAIL, with %s in TIME_WAIT here", plural(n, "connection"), plural(len(tw), "socket")),
		Note: fmt.Sprintf("Go returned %s: %q; errors.Is(err, syscall.EADDRNOTAVAIL) is true. "+
			"At that moment the client's kernel held %s in TIME_WAIT (sock_diag, as ss -tan state time-wait shows them), on ports %s, "+
			"every one towards %s, and the server's kernel %d. "+
			"For a connect that leaves it the port, the kernel does not pick a four-tuple held in TIME_WAIT, for its 60 s (unless tcp_tw_reuse allows it: step 3), so connect found no port to use, and failed before sending anything (%s).",
			form, err.Error(), plural(len(tw), "socket"), strings.Join(ports, ", "), opErr.Addr, len(serverTW), sent)})
	return nil
}

// samePort shows the sockets of the client's kernel on c's local port.
func samePort(l *lesson.Run, c net.Conn) error {
	ft := tuple(c)
	all, err := sockets(l, "client")
	if err != nil {
		return err
	}
	var rows []string
	tw := false
	for _, s := range all {
		if s.Local.Port() != ft.Local.Port() {
			continue
		}
		rows = append(rows, fmt.Sprintf("%s to %s", s.State, s.Remote))
		tw = tw || s.State == kernel.TimeWait
	}
	slices.Sort(rows) // "ESTABLISHED …" before "TIME_WAIT …"
	text := fmt.Sprintf("port %d: %s", ft.Local.Port(), strings.Join(rows, "; "))
	why := "The client's kernel (sock_diag) holds only this connection on its port: the kernel found a port with no socket at all."
	if tw && len(rows) > 1 {
		why = fmt.Sprintf("The client's kernel (sock_diag) holds %d sockets on port %d: the new connection, and the TIME_WAIT of one to the first listener. "+
			"They differ in the remote port, so their four-tuples differ, and the kernel needs no more: one local port can serve any number of peers, "+
			"one connection to each remote address and port.", len(rows), ft.Local.Port())
	}
	note(l, c, text, why)
	return nil
}

// reuseDelayOf reads net.ipv4.tcp_tw_reuse_delay in the client's
// namespace, and says what it means on this kernel: the delay to wait,
// and a sentence for step 3's text.
func reuseDelayOf(l *lesson.Run) (time.Duration, string, error) {
	var b []byte
	err := l.Client(func() (err error) {
		b, err = os.ReadFile("/proc/sys/net/ipv4/tcp_tw_reuse_delay")
		return err
	})
	if errors.Is(err, os.ErrNotExist) {
		return reuseDelay, "this kernel has no net.ipv4.tcp_tw_reuse_delay (it came with Linux 6.14), and allows it " +
			"once the clock's second has moved on from the one in which the old connection last took a timestamp: " +
			"between just over 0 and 1 s after it.", nil
	}
	if err != nil {
		return 0, "", err
	}
	ms, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, "", fmt.Errorf("net.ipv4.tcp_tw_reuse_delay: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, fmt.Sprintf("net.ipv4.tcp_tw_reuse_delay, %d ms here (1000 by default), "+
		"counted from the old socket's entry into TIME_WAIT. Kernels before Linux 6.14 have no such setting: "+
		"there the delay ran to the next second of the clock after the old connection's last timestamp, "+
		"between just over 0 and 1 s.", ms), nil
}

// reuse dials the first server with tcp_tw_reuse on: at once, then
// when the TIME_WAIT sockets are older than delay.
func reuse(ctx context.Context, l *lesson.Run, s *server, firstClosed, lastClosed time.Time, delay time.Duration) error {
	before, err := counters(l, "client")
	if err != nil {
		return err
	}
	c, err := dial(l, net.Dialer{}, s.addr())
	if err == nil {
		// The machine took longer than the delay since step 1.
		return reused(ctx, l, c, before)
	}
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return err
	}
	l.Note("client", fmt.Sprintf("too soon: EADDRNOTAVAIL again; step 1's connections entered TIME_WAIT from %s to %s ago, under %s",
		tracer.FormatDuration(time.Since(firstClosed)), tracer.FormatDuration(time.Since(lastClosed)), tracer.FormatDuration(delay)))
	// NOTE: waiting out a time the kernel counts, not an event: the
	// reuse delay runs from the old socket's entry into TIME_WAIT (or,
	// before Linux 6.14, from the second of its last timestamp), which
	// came before lastClosed.
	time.Sleep(time.Until(lastClosed.Add(delay + 10*time.Millisecond)))
	if before, err = counters(l, "client"); err != nil {
		return err
	}
	c, err = dial(l, net.Dialer{}, s.addr())
	if err != nil {
		return err
	}
	return reused(ctx, l, c, before)
}

// reused says whether connection c took over a TIME_WAIT four-tuple,
// from the client kernel's count, and closes it.
func reused(ctx context.Context, l *lesson.Run, c net.Conn, before kernel.Counters) error {
	after, err := counters(l, "client")
	if err != nil {
		return err
	}
	recycled := after["TcpExtTWRecycled"] - before["TcpExtTWRecycled"]
	text := fmt.Sprintf("port %d again, towards the first listener: TcpExtTWRecycled +%d", tuple(c).Local.Port(), recycled)
	why := "The client's kernel counted no TIME_WAIT socket recycled (TcpExtTWRecycled did not move): it found this four-tuple free."
	if recycled > 0 {
		why = fmt.Sprintf("The client's kernel took over the TIME_WAIT socket of an old connection with this very four-tuple (TcpExtTWRecycled +%d), "+
			"which it may do because the old connection used TCP timestamps (ts in its SYN's options): they let the server's kernel tell an old segment, "+
			"should one still arrive, from the new connection's (PAWS, RFC 7323). The kernel also starts the new connection's sequence numbers "+
			"65537 past where the old one's ended (its initial sequence number is the old connection's next one, after its FIN, plus 65535 + 2; "+
			"the last Try this shows both SYNs' numbers in the capture), so that an old segment's numbers fall outside the new window. "+
			"The server's side of the old connection was already gone: it closed second, and its socket went when the client's last ACK came.", recycled)
	}
	note(l, c, text, why)
	if err := exchange(c); err != nil {
		return err
	}
	return closeFirst(ctx, l, c)
}

// serverClosedFirst reads until the server has closed, closes after
// it, and shows where TIME_WAIT is.
func serverClosedFirst(ctx context.Context, l *lesson.Run, c net.Conn) error {
	// NOTE: ignoring the error: Copy returns at the server's FIN.
	io.Copy(io.Discard, c)
	if err := c.Close(); err != nil {
		return err
	}
	if err := settled(ctx, l, c, "server"); err != nil {
		return err
	}
	ft := tuple(c)
	at := map[string]string{}
	var left time.Duration // on the TIME_WAIT socket's timer
	for _, end := range []string{"server", "client"} {
		all, err := sockets(l, end)
		if err != nil {
			return err
		}
		at[end] = "nothing"
		for _, s := range all {
			if s.Local.Port() == ft.Remote.Port() && s.Remote == ft.Local || s.Local == ft.Local && s.Remote == ft.Remote {
				at[end] = s.State.String()
				if s.State == kernel.TimeWait {
					left = s.Expires
				}
			}
		}
	}
	note(l, c, fmt.Sprintf("the server closed first: %s at the server, %s at the client", at["server"], at["client"]),
		fmt.Sprintf("The server's kernel holds this connection in %s (sock_diag in the server's namespace), with %d s left on its timer, and the client's %s. "+
			"The side that sends the first FIN waits in TIME_WAIT after the last ACK, 60 s on Linux (TCP_TIMEWAIT_LEN, fixed: Linux has no MSL setting, "+
			"where RFC 9293's 2 MSL would be 4 min), "+
			"so that a late segment of this connection cannot be taken for one of a new connection with the same four-tuple, "+
			"and so that it can ACK again the other side's FIN if its last ACK was lost. "+
			"A server that closes first holds one such socket for every connection it closed, all on its listening port: they take no port, "+
			"and a client may even connect again on the same four-tuple (a new SYN with a higher sequence number or timestamp ends the TIME_WAIT), "+
			"but each takes memory, up to net.ipv4.tcp_max_tw_buckets of them. A client that closes first holds them instead, one on each of its ports "+
			"towards this server.", at["server"], left.Round(time.Second)/time.Second, at["client"]))
	return nil
}

// restart listens again on the server's port while its old connection
// is in TIME_WAIT: first without SO_REUSEADDR, then as Go does.
func restart(l *lesson.Run, port string) error {
	_, err := listen(l, net.ListenConfig{Control: noReuseAddr}, port)
	if err == nil {
		return errors.New("a listener without SO_REUSEADDR bound over TIME_WAIT")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	l.Note("server", fmt.Sprintf("without SO_REUSEADDR: %v", err))
	ln, err := listen(l, net.ListenConfig{}, port)
	if err != nil {
		return err
	}
	tw, err := timeWait(l, "server")
	if err != nil {
		return err
	}
	n := 0
	for _, s := range tw {
		if fmt.Sprint(s.Local.Port()) == port {
			n++
		}
	}
	l.Trace().Add(tracer.Event{Actor: "server", Phase: tracer.PhaseNote,
		Text: fmt.Sprintf("restarted on port %s, with %d socket in TIME_WAIT on it", port, n),
		Note: "Go's net.ListenConfig sets SO_REUSEADDR on every listener before it binds, and the connections a listener accepts inherit it: " +
			"bind lets a socket share a port with TIME_WAIT sockets when both have SO_REUSEADDR, so the new listener binds over the old connections' TIME_WAIT. " +
			"The same listener with SO_REUSEADDR cleared (a Control function, as a C server that forgot it) failed with EADDRINUSE: " +
			"while any connection of the port is in TIME_WAIT, for up to 60 s, a server without it cannot restart. " +
			"Had the old server cleared it, its connections' TIME_WAIT sockets would lack it too, and even Go's listener would fail (the lesson's test checks it)."})
	return ln.Close()
}

// fixedLocalPort dials the server twice from fixedPort, the second
// time while the first connection is in TIME_WAIT at the client; then
// twice from the next port with SO_REUSEADDR, as Node does.
func fixedLocalPort(ctx context.Context, l *lesson.Run, s *server) error {
	local := &net.TCPAddr{IP: link.ClientAddr.AsSlice(), Port: fixedPort}
	if err := dialTwice(ctx, l, net.Dialer{LocalAddr: local}, s); err != nil {
		return err
	}
	// As Node's libuv does: SO_REUSEADDR on each socket it binds.
	local = &net.TCPAddr{IP: link.ClientAddr.AsSlice(), Port: fixedPort + 1}
	return dialTwice(ctx, l, net.Dialer{LocalAddr: local, Control: reuseAddr}, s)
}

// dialTwice dials s with d, which binds a fixed local port, closes
// first, and dials again while the first connection is in TIME_WAIT.
func dialTwice(ctx context.Context, l *lesson.Run, d net.Dialer, s *server) error {
	port := d.LocalAddr.(*net.TCPAddr).Port
	opt := "without SO_REUSEADDR"
	if d.Control != nil {
		opt = "with SO_REUSEADDR"
	}
	c, err := dial(l, d, s.addr())
	if err != nil {
		return err
	}
	if err := exchange(c); err != nil {
		return err
	}
	if err := closeFirst(ctx, l, c); err != nil {
		return err
	}
	before, err := counters(l, "client")
	if err != nil {
		return err
	}
	c, err = dial(l, d, s.addr())
	var sysErr *os.SyscallError
	switch {
	case errors.Is(err, syscall.EADDRINUSE) && errors.As(err, &sysErr):
		l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote,
			Text: fmt.Sprintf("%s, the second Dial from port %d failed at %s(2): EADDRINUSE", opt, port, sysErr.Syscall),
			Note: fmt.Sprintf("Go returned %q; errors.Is(err, syscall.EADDRINUSE) is true. "+
				"A Dialer with a LocalAddr binds that address and port before connect, and the port is taken: "+
				"the first connection from it is in TIME_WAIT, for 60 s. bind(2) looks at the local address and port, not at the four-tuple, "+
				"so it fails whatever server the Dial is for: it lets a socket share them with one in TIME_WAIT only when both set SO_REUSEADDR, "+
				"or both SO_REUSEPORT, and Go sets SO_REUSEADDR on listeners only.", err.Error())})
		return nil
	case err != nil:
		return err
	}
	after, err := counters(l, "client")
	if err != nil {
		return err
	}
	recycled := after["TcpExtTWRecycled"] - before["TcpExtTWRecycled"]
	why := "The client's kernel counted no TIME_WAIT socket recycled (TcpExtTWRecycled did not move)."
	if recycled > 0 {
		why = fmt.Sprintf("Both sockets set SO_REUSEADDR before binding, so bind let the new one share the port; then connect, "+
			"to the same server, took the TIME_WAIT four-tuple over at once (TcpExtTWRecycled +%d), "+
			"whatever tcp_tw_reuse says (2 here) and without its delay, because the port was bound in advance and "+
			"the old connection used TCP timestamps. Node's net.connect with localPort binds this way: "+
			"libuv sets SO_REUSEADDR on every TCP socket it binds.", recycled)
	}
	note(l, c, fmt.Sprintf("%s, the second Dial from port %d succeeded: TcpExtTWRecycled +%d", opt, port, recycled), why)
	if err := exchange(c); err != nil {
		return err
	}
	return closeFirst(ctx, l, c)
}

// reusePortSpread opens two listeners on one port with SO_REUSEPORT
// and dials them spread times.
func reusePortSpread(ctx context.Context, l *lesson.Run) error {
	lc := net.ListenConfig{Control: reusePort}
	a, err := startServer(l, lc, sharedPort, false)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startServer(l, lc, sharedPort, false)
	if err != nil {
		return err
	}
	defer b.stop()
	listening, err := sockets(l, "server")
	if err != nil {
		return err
	}
	n := 0
	for _, s := range listening {
		if s.State == kernel.Listen && fmt.Sprint(s.Local.Port()) == a.port() {
			n++
		}
	}
	l.Note("server", fmt.Sprintf("%d sockets in LISTEN on port %s (sock_diag)", n, a.port()))
	for range spread {
		c, err := dial(l, net.Dialer{}, a.addr())
		if err != nil {
			return err
		}
		if err := closeFirst(ctx, l, c); err != nil {
			return err
		}
	}
	na, nb := a.accepted.Load(), b.accepted.Load()
	text := fmt.Sprintf("of %d connections, the first listener accepted %d, the second %d", spread, na, nb)
	why := "The kernel hashes each connection's four-tuple, with a secret of its own, to choose among the listeners of the group; " +
		"the client's port differs from one connection to the next, so the choice does too. Each listener's Accept returned only the connections the kernel gave it."
	if na == 0 || nb == 0 {
		why = "One listener got every connection: the hash of each four-tuple happened to pick the same one. " + why
	}
	l.Trace().Add(tracer.Event{Actor: "server", Phase: tracer.PhaseNote, Text: text, Note: why})
	return nil
}

// note adds a note of the client's about connection c to the trace:
// text on the event's line, why below it.
func note(l *lesson.Run, c net.Conn, text, why string) {
	ft := tuple(c)
	l.Trace().Add(tracer.Event{Actor: "client", Phase: tracer.PhaseNote, Proto: "tcp",
		Local: ft.Local, Remote: ft.Remote, Text: text, Note: why})
}

// in runs f in the namespace of end, "client" or "server".
func in(l *lesson.Run, end string, f func() error) error {
	if end == "server" {
		return l.Server(f)
	}
	return l.Client(f)
}

// sockets lists every TCP socket of end's kernel (sock_diag).
func sockets(l *lesson.Run, end string) ([]kernel.Socket, error) {
	var all []kernel.Socket
	err := in(l, end, func() (err error) {
		all, err = kernel.Sockets()
		return err
	})
	return all, err
}

// timeWait lists the sockets end's kernel holds in TIME_WAIT.
func timeWait(l *lesson.Run, end string) ([]kernel.Socket, error) {
	var tw []kernel.Socket
	err := in(l, end, func() (err error) {
		tw, err = kernel.Sockets(kernel.TimeWait)
		return err
	})
	return tw, err
}

// counters reads end's kernel's counters (nstat's).
func counters(l *lesson.Run, end string) (kernel.Counters, error) {
	var c kernel.Counters
	err := in(l, end, func() (err error) {
		c, err = kernel.ReadCounters()
		return err
	})
	return c, err
}

// watched are the counters the lesson shows, at each end, when they
// move: connections opened by connect and by listeners, TIME_WAIT
// sockets taken over by a new connection, and sockets entering
// TIME_WAIT.
var watched = []string{"TcpActiveOpens", "TcpPassiveOpens", "TcpExtTWRecycled", "TcpExtTW"}

// counted says what each watched counter counts.
var counted = map[string]string{
	"TcpActiveOpens":   "connections opened with connect (a SYN sent)",
	"TcpPassiveOpens":  "connections its listeners completed (counted as the handshake's last ACK arrives)",
	"TcpExtTWRecycled": "TIME_WAIT sockets that a new connection with the same four-tuple took over",
	"TcpExtTW":         "sockets handed to its TIME_WAIT code, once each as it first sets their timer (on entering TIME_WAIT, or earlier: a closed socket in FIN_WAIT2, left there to wait for the peer's FIN)",
}

// tally is what each end's kernel had counted when last shown.
type tally map[string]kernel.Counters

// show adds what each end's kernel counted since the last show, as
// events of the actor kernel.
func (t *tally) show(l *lesson.Run) error {
	if *t == nil {
		*t = tally{}
	}
	for _, end := range []string{"client", "server"} {
		c, err := counters(l, end)
		if err != nil {
			return err
		}
		if before := (*t)[end]; before != nil {
			for _, ch := range c.Since(before, watched) {
				ch.At = end
				l.Trace().Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseCounter, Counter: &ch,
					Note: fmt.Sprintf("The %s's kernel counts %s: %d more during this step (nstat -az %s, after the command that joins the %s).",
						end, counted[ch.Name], ch.Delta, ch.Name, end)})
			}
		}
		(*t)[end] = c
	}
	return nil
}

// plural says n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
