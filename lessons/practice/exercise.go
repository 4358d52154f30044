package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
	"tcptour/tracer/link"
	"tcptour/tracer/wire"
)

// Exercise is one exercise: the program the learner writes, in its own
// folder under exercises/, and the check that runs it.
type Exercise struct {
	// Name is the exercise's folder under exercises/ and the name
	// `check` takes: "accept-loop".
	Name string
	// Lesson is the lesson the exercise follows ("02"); Order puts
	// the exercises of one lesson in order.
	Lesson string
	Order  int
	// Title says in a line what the program must do.
	Title string
	// Role is what the learner's program is: "server" (the check
	// plays the clients) or "client" (the check is the server).
	Role string
	// Hints are shown one at a time, the first after a check fails.
	Hints []string
	// Link, when set, puts the learner's program and the check at the
	// two ends of a link (package tracer/link) that delays or drops
	// what its rules say; nil means the lab's loopback.
	Link *link.Config
	// Sysctls are settings of the lab's network the exercise needs
	// (a smaller receive buffer), printed with their values and why:
	// the check then runs only in its lab.
	Sysctls []lab.Sysctl
	// Check runs the program (Check.Start) and judges what happened:
	// it returns nil when the exercise holds, or the error of
	// Check.Fail saying what did not. Each fact it verified on the way
	// is said with Check.Holds.
	Check func(c *Check) error
}

// exercises are all the exercises, registered by the files check_*.go
// and sorted by lesson.
var exercises []*Exercise

func register(e *Exercise) {
	exercises = append(exercises, e)
	slices.SortStableFunc(exercises, func(a, b *Exercise) int {
		if c := strings.Compare(a.Lesson, b.Lesson); c != 0 {
			return c
		}
		return a.Order - b.Order
	})
}

// find returns the exercise called name.
func find(name string) (*Exercise, error) {
	for _, e := range exercises {
		if e.Name == name {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no exercise called %q: go run ./lessons/practice list names them", name)
}

// Check is one run of a learner's program, handed to an exercise's
// Check function: it starts the program, plays the other side of the
// connections with traced sockets, and reads what happened on the wire
// (every packet of the program's port is captured) and in the kernel
// (socket diagnostics, as ss reads them).
type Check struct {
	// Addr is where the learner's program listens (a server) or
	// where the check's server listens for it (a client): the
	// program gets it as -addr.
	Addr netip.AddrPort

	ctx   context.Context
	ex    *Exercise
	bin   string
	tl    *wire.Timeline
	link  *link.Link
	progs []*Program
	facts []string
	shown [][2]netip.AddrPort
	// captured is false where the check runs without a capture.
	captured bool
	// failedAt is when Fail was called: the report shows what
	// happened until then, not the check's own closing.
	failedAt time.Time
}

// failure is what Check.Fail returns: the exercise does not hold.
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

// Fail returns the error a check returns when the exercise does not
// hold, saying what the check saw instead, in a sentence.
func (c *Check) Fail(format string, args ...any) error {
	if c.failedAt.IsZero() {
		c.failedAt = time.Now()
		for _, p := range c.progs {
			p.atFailure = p.out.Len()
		}
	}
	return &failure{msg: fmt.Sprintf(format, args...)}
}

// Holds records a fact the check verified, printed with a tick.
func (c *Check) Holds(format string, args ...any) {
	c.facts = append(c.facts, fmt.Sprintf(format, args...))
}

// Note adds a remark by the check to the trace.
func (c *Check) Note(text string) { c.tl.Trace().Note("check", text) }

// Link is the link between the program and the check, for an exercise
// with one (Exercise.Link): its rules can change as the check goes on
// (link.Link.SetRules). Nil on the lab's loopback.
func (c *Check) Link() *link.Link { return c.link }

// Context is the check's context: done when the check runs out of
// time or is interrupted.
func (c *Check) Context() context.Context { return c.ctx }

// Show marks conn's connection as one the report draws when the check
// fails: its trace lines and its ladder.
func (c *Check) Show(conn net.Conn) {
	if conn == nil {
		return
	}
	c.shown = append(c.shown, [2]netip.AddrPort{addrPort(conn.LocalAddr()), addrPort(conn.RemoteAddr())})
}

// ShowEnds is Show for a connection known by its two ends: one that
// never opened (a refused connect), found in the capture.
func (c *Check) ShowEnds(a, b netip.AddrPort) {
	c.shown = append(c.shown, [2]netip.AddrPort{a, b})
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// Captured reports whether the check sees the packets: in the lab
// always; on this machine's loopback only with the privilege to
// capture. A check that judges packets says it cannot without them.
func (c *Check) Captured() bool { return c.captured }

// NeedPackets returns the error a check returns when it must see the
// packets and cannot.
func (c *Check) NeedPackets() error {
	return errors.New("this exercise is checked on the wire, and this run has no capture: run it where the lab is allowed, or as root")
}

// Program is the learner's program, running.
type Program struct {
	cmd *exec.Cmd
	out syncBuffer
	// atFailure is how much the program had written when the check
	// failed, -1 before: what it wrote later came after the check
	// gave up (and closed its side).
	atFailure int
	done      chan struct{}
	err       error // cmd.Wait's, once done is closed
}

// Start starts the learner's program with -addr and args: in the lab's
// network, or at its end of the link.
func (c *Check) Start(args ...string) (*Program, error) {
	p := &Program{done: make(chan struct{}), atFailure: -1}
	p.cmd = exec.Command(c.bin, append([]string{"-addr", c.Addr.String()}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = procAttr()
	var err error
	if c.link != nil {
		in := c.link.InClient
		if c.ex.Role == "server" {
			in = c.link.InServer
		}
		// The program is started from a thread in its end's
		// namespace, and that thread stays until the program has
		// exited: the kernel sends Pdeathsig when the thread that
		// started a child ends, not its process, and the link ends
		// its threads as soon as their function returns.
		started := make(chan error, 1)
		go func() {
			// NOTE: the error is the one sent on started.
			_ = in(func() error {
				err := p.cmd.Start()
				started <- err
				if err == nil {
					<-p.done
				}
				return err
			})
		}()
		err = <-started
	} else {
		err = p.cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("starting your program: %w", err)
	}
	c.progs = append(c.progs, p)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the program has exited.
func (p *Program) Done() <-chan struct{} { return p.done }

// Wait waits up to d for the program to exit, and reports whether it
// did.
func (p *Program) Wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Exited describes how the program ended ("exit status 0"), "" while
// it runs.
func (p *Program) Exited() string {
	select {
	case <-p.done:
	default:
		return ""
	}
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// ExitCode is the program's exit status, -1 while it runs or when a
// signal ended it.
func (p *Program) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Signal sends sig to the program.
func (p *Program) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Output is what the program wrote to stdout and stderr so far.
func (p *Program) Output() string { return p.out.String() }

// stop kills the program if it still runs, and waits for it.
func (p *Program) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	// NOTE: ignoring the error: the program may have just exited.
	_ = p.cmd.Process.Kill()
	<-p.done
}

// syncBuffer keeps what the program writes, up to a limit: a program
// that prints without end does not fill the check's memory.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int
}

// outputLimit is how much of the program's output a check keeps.
const outputLimit = 256 << 10

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := min(len(p), outputLimit-s.b.Len())
	s.b.Write(p[:keep])
	s.dropped += len(p) - keep
	return len(p), nil
}

// Len is how many bytes were kept.
func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped > 0 {
		return s.b.String() + fmt.Sprintf("\n… and %d bytes more, not kept", s.dropped)
	}
	return s.b.String()
}

// WaitListening waits until the program's socket listens on Addr, as
// the kernel reports it, for up to 10 s (a first build may be slow to
// start). It fails, saying why, when the program exits first or never
// listens.
func (c *Check) WaitListening(p *Program) error {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		socks, err := c.Sockets(kernel.Listen)
		if err != nil {
			return err
		}
		var at []string
		for _, s := range socks {
			if s.Local.Port() == c.Addr.Port() {
				at = append(at, s.Local.String())
			}
		}
		if len(at) > 0 {
			c.Holds("your program listens at port %d: the kernel lists its listening socket at %s", c.Addr.Port(), strings.Join(at, " and "))
			return nil
		}
		select {
		case <-p.Done():
			return c.Fail("your program ended (%s) before it listened on %s", p.Exited(), c.Addr)
		case <-ctx.Done():
			return c.Fail("your program did not listen on %s within 10 s (it should listen on the address its -addr flag gives)", c.Addr)
		case <-tick.C:
		}
	}
}

// Sockets lists the TCP sockets in the program's network in the given
// states (all when none), as ss -tan would.
func (c *Check) Sockets(states ...kernel.State) ([]kernel.Socket, error) {
	var socks []kernel.Socket
	ask := func() error {
		var err error
		socks, err = kernel.Sockets(states...)
		return err
	}
	var err error
	switch {
	case c.link != nil && c.ex.Role == "server":
		err = c.link.InServer(ask)
	case c.link != nil:
		err = c.link.InClient(ask)
	default:
		err = ask()
	}
	if err != nil {
		return nil, fmt.Errorf("asking the kernel for sockets: %w", err)
	}
	return socks, nil
}

// Dial connects to the learner's server at Addr, as a traced client:
// its calls and packets are in the trace as the actor "client". On a
// link it dials from the client's end.
func (c *Check) Dial() (net.Conn, error) { return c.DialTo(c.Addr) }

// DialTo is Dial to another address than Addr: the program's port at
// another of its addresses (::1).
func (c *Check) DialTo(addr netip.AddrPort) (net.Conn, error) {
	d := tracer.Dialer{Hooks: c.tl.ActorHooks("client"), Net: net.Dialer{Timeout: 5 * time.Second}}
	var conn net.Conn
	dial := func() error {
		var err error
		conn, err = d.DialContext(c.ctx, "tcp", addr.String())
		return err
	}
	var err error
	if c.link != nil {
		err = c.link.InClient(dial)
	} else {
		err = dial()
	}
	return conn, err
}

// Listen listens at Addr for the learner's client, as a traced server
// (the actor "server"). On a link it listens at the server's end.
func (c *Check) Listen() (net.Listener, error) {
	var ln net.Listener
	listen := func() error {
		var err error
		ln, err = tracer.Listen(c.ctx, c.tl.ActorHooks("server"), "tcp", c.Addr.String())
		return err
	}
	var err error
	if c.link != nil {
		err = c.link.InServer(listen)
	} else {
		err = listen()
	}
	return ln, err
}

// Events returns the trace so far, every packet sent until now
// included, in time order, with the connection ids the report shows.
func (c *Check) Events() []tracer.Event {
	// NOTE: an error here leaves the last packets out; the report's
	// close of the capture says what failed.
	_ = c.tl.Session().Sync(c.ctx)
	return c.tl.Events()
}

// Segments returns the TCP segments captured on the connection whose
// ends are a and b (either way round), in time order; on a link, each
// as it left its sender.
func (c *Check) Segments(a, b netip.AddrPort) []*tracer.Packet {
	var out []*tracer.Packet
	for _, e := range c.SegmentEvents(a, b) {
		out = append(out, e.Packet)
	}
	return out
}

// SegmentEvents is Segments with each segment's event: its time too.
func (c *Check) SegmentEvents(a, b netip.AddrPort) []tracer.Event {
	var out []tracer.Event
	for _, e := range c.Events() {
		p := e.Packet
		if e.Phase != tracer.PhasePacket || p == nil || p.Proto != "tcp" {
			continue
		}
		if !(p.Src == a && p.Dst == b || p.Src == b && p.Dst == a) {
			continue
		}
		if p.At != "" && p.At != sender(p) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// sender is the end of the link a packet left from.
func sender(p *tracer.Packet) string { return p.From }

// Ends returns the two addresses of conn, local first.
func Ends(conn net.Conn) (local, remote netip.AddrPort) {
	return addrPort(conn.LocalAddr()), addrPort(conn.RemoteAddr())
}

// Sent returns the segments of segs that src sent.
func Sent(segs []*tracer.Packet, src netip.AddrPort) []*tracer.Packet {
	var out []*tracer.Packet
	for _, p := range segs {
		if p.Src == src {
			out = append(out, p)
		}
	}
	return out
}

// HasFlag reports whether the segment's flags include f ("FIN", "RST").
func HasFlag(p *tracer.Packet, f string) bool {
	return slices.Contains(strings.Fields(p.Flags), f)
}

// Describe is the segment as a ladder labels it, with its time since
// the check started: "SYN seq 0 win 65495".
func Describe(p *tracer.Packet) string { return wire.SegmentLabel(p) }

// plural is "1 client", "2 clients".
func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + one + "s"
}

// seconds formats d for a sentence: "2 s", "0.5 s", "300 ms".
func seconds(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// PeerSocket returns the kernel's socket at the other end of conn, in
// the program's network: the learner's end of the check's connection.
func (c *Check) PeerSocket(conn net.Conn) (kernel.Socket, bool) {
	local, remote := Ends(conn)
	socks, err := c.Sockets()
	if err != nil {
		return kernel.Socket{}, false
	}
	for _, s := range socks {
		if s.Local == remote && s.Remote == local {
			return s, true
		}
	}
	return kernel.Socket{}, false
}

// Unserved says, when the kernel shows it, why the learner's server did
// not answer on conn: it never accepted the connection (its socket has
// no file descriptor and waits in the listener's queue), or it accepted
// it and left the bytes unread (Recv-Q). It starts with ". " to end a
// sentence, or is "" when the kernel shows neither.
func (c *Check) Unserved(conn net.Conn) string {
	s, ok := c.PeerSocket(conn)
	if !ok || s.State != kernel.Established {
		return ""
	}
	if s.Inode == 0 {
		queued := 0
		if socks, err := c.Sockets(kernel.Listen); err == nil {
			for _, l := range socks {
				if l.Local.Port() == s.Local.Port() {
					queued = int(l.RecvQ)
				}
			}
		}
		verb := "waits"
		if queued != 1 {
			verb = "wait"
		}
		return fmt.Sprintf(". The kernel says your program never accepted that connection: its socket has no file descriptor (inode 0), and %s %s in the listener's queue (its Recv-Q). The handshake and the ACK of the bytes were the kernel's work; an answer needs your program", plural(queued, "connection"), verb)
	}
	if s.RecvQ > 0 {
		return fmt.Sprintf(". The kernel says your program accepted that connection but has not read from it: %s wait unread in its socket's receive queue (Recv-Q)", plural(int(s.RecvQ), "byte"))
	}
	return ""
}
