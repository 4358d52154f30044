package wire

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/gopacket/layers"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/outfile"
)

// Capture modes, the values of the --capture flag.
const (
	ModeAuto = "auto" // capture when permitted, else say why once and go on
	ModeOn   = "on"   // capture or fail
	ModeOff  = "off"  // do not capture
)

// NoPermission is the one line a program prints when it may not
// capture; pkg is the program's package path, as in "go run ./lessons/03",
// and args the flags to run it with again that matter (--host).
func NoPermission(pkg string, args ...string) string {
	if pkg == "" {
		pkg = "."
	}
	run := "./" + Binary(pkg)
	for _, a := range args {
		run += " " + a
	}
	return "capture needs root or CAP_NET_RAW: build the program once, then run it with sudo or give it the capability (" +
		Build(pkg) + ", then sudo " + run + ", or sudo setcap cap_net_raw+ep " + Binary(pkg) + " and " + run + ")"
}

// Binary is the name a program's build command gives the binary, in the
// repository's root, where sudo or setcap use it: "lesson03" for
// ./lessons/03, "tcptour-server" for ./server (a name other than its
// folder's). .gitignore leaves them out.
func Binary(pkg string) string {
	base := path.Base(pkg)
	switch {
	case base == "." || base == "/" || base == "":
		return "prog"
	case strings.Trim(base, "0123456789") == "":
		return "lesson" + base
	}
	return "tcptour-" + base
}

// Build is the command that builds the program pkg into [Binary]'s
// name: "go build -o lesson03 ./lessons/03".
func Build(pkg string) string {
	if pkg == "" {
		pkg = "."
	}
	return "go build -o " + Binary(pkg) + " " + pkg
}

// Session captures the packets of the ports a traced program uses on
// loopback and adds them to its trace, each with a note, in true time
// order. It learns the ports from the program's own hooks: wrap them
// with [Session.Hooks] and every port the program listens on or
// connects to is added to the kernel filter before the first packet.
type Session struct {
	tr   *tracer.Trace
	caps []*capture.Capture // lo's, or one for each end of a link
	ends []End              // the ends captured, if not lo
	anns []*Annotator       // one for each capture: what it saw
	file *capture.FileWriter

	mu      sync.Mutex // guards the file and the counts
	fileErr error
	packets int

	portsMu  sync.Mutex // guards the ports and the filter
	tcp, udp []uint16
	portErr  error
}

// Config configures a Session.
type Config struct {
	// Mode is ModeAuto, ModeOn or ModeOff.
	Mode string
	// PCAP, when set, is the file to write the packets to, as pcapng,
	// written out after each batch of packets the capture hands over
	// and before a Sync returns (see capture.Config.Flush): complete
	// whenever the program waits. The session writes it; the caller
	// commits it after Close (or discards it, should the run fail).
	// When the capture does not start, Start discards it.
	PCAP *outfile.File
	// UDPPorts are captured from the start (a DNS server's port).
	UDPPorts []uint16
	// Program is the program's package path ("./lessons/03"), for the
	// line that says how to get permission to capture.
	Program string
	// ProgramArgs are the flags the program runs with that the line
	// repeats ("--host").
	ProgramArgs []string
	// Ends, when set, are captured instead of loopback: the two ends
	// of a link (package tracer/link), each in a network namespace of
	// its own, so that a segment shows as it leaves one end and as it
	// reaches the other, or does not.
	Ends []End
	// History is the trace's tracer.Options.History: 0 keeps every
	// event (lessons draw their ladders from them); a program that runs
	// for long and needs no ladder passes tracer.NoHistory.
	History int
	// SayApart, for a Timeline, says that the seed's lines (its say
	// writer) go to another file than the trace's events (see
	// cli.SameFile), where their order among the events cannot show:
	// each flush then prints its events in one batch and writes their
	// lines after them in one write, where it would write each line
	// in its place between the events, and each run of events between
	// two lines with a write of its own.
	SayApart bool
}

// End is one end of a link to capture: an interface in a network
// namespace of its own.
type End struct {
	// Name is "client" or "server": its packets say they were seen
	// there (tracer.Packet.At), and the pcapng file names its
	// interface so.
	Name string
	// Interface is the end's interface, MarkerTo where its capture's
	// Sync sends markers (capture.Config).
	Interface string
	MarkerTo  netip.Addr
	// Addr is the end's address, Addr6 its IPv6 address if it has
	// one: the kernel is asked about the sockets with either in the
	// end's namespace.
	Addr, Addr6 netip.Addr
	// In runs f in the end's network namespace: the capture's
	// sockets, made there, stay there.
	In func(f func() error) error
}

// Start opens a capture on loopback for tr, or on the ends cfg names. With ModeOff it returns a
// nil Session (whose methods do nothing). With ModeAuto, when capture
// is not permitted or not supported here, it returns a nil Session and
// the reason in one line, to print; with ModeOn that is an error.
func Start(tr *tracer.Trace, cfg Config) (s *Session, skipped string, err error) {
	switch cfg.Mode {
	case ModeOff:
		return nil, "", nil
	case ModeAuto, ModeOn, "":
	default:
		return nil, "", fmt.Errorf("--capture=%s: want auto, on or off", cfg.Mode)
	}
	s = &Session{tr: tr, ends: cfg.Ends, udp: slices.Clone(cfg.UDPPorts)}
	// The file is ready before the capture starts delivering, so that it
	// holds every packet the trace shows.
	if cfg.PCAP != nil {
		f, err := capture.NewWriter(cfg.PCAP, cfg.PCAP.Name(), layers.LinkTypeEthernet)
		if err != nil {
			return nil, "", err
		}
		s.file = f
	}
	caps, err := s.open()
	if err != nil {
		// No packets: what was at the path stays as it was.
		cfg.PCAP.Discard()
		reason := err.Error()
		if errors.Is(err, capture.ErrPermission) {
			reason = NoPermission(cfg.Program, cfg.ProgramArgs...)
		}
		if cfg.Mode == ModeOn || !(errors.Is(err, capture.ErrPermission) || errors.Is(err, capture.ErrUnsupported)) {
			return nil, "", errors.New(reason)
		}
		reason += "; going on without packets"
		if cfg.PCAP != nil {
			reason += ", and without " + cfg.PCAP.Name()
		}
		return nil, reason, nil
	}
	s.portsMu.Lock()
	s.caps = caps
	s.portsMu.Unlock()
	return s, "", nil
}

// open opens the captures: on lo, or one on each end, in its namespace,
// each with an annotator of its own (what one end sees is a stream of
// its own: a segment lost on the way is missing at the other end only).
func (s *Session) open() ([]*capture.Capture, error) {
	if len(s.ends) == 0 {
		s.anns = []*Annotator{NewAnnotator()}
		c, err := capture.Open(capture.Config{UDPPorts: s.udp, Handler: s.handler(0), Flush: s.flush})
		if err != nil {
			return nil, err
		}
		return []*capture.Capture{c}, nil
	}
	var caps []*capture.Capture
	for i, e := range s.ends {
		a := NewAnnotator()
		a.AtEnd(e.Name)
		s.anns = append(s.anns, a)
		err := e.In(func() error {
			c, err := capture.Open(capture.Config{Interface: e.Interface, MarkerTo: e.MarkerTo, UDPPorts: s.udp, Handler: s.handler(i), Flush: s.flush})
			if err == nil {
				caps = append(caps, c)
			}
			return err
		})
		if err != nil {
			for _, c := range caps {
				_, _ = c.Close()
			}
			return nil, err
		}
	}
	return caps, nil
}

// handler is the handler of capture i.
func (s *Session) handler(i int) func(capture.Packet) {
	return func(p capture.Packet) { s.packet(i, p) }
}

// packet is capture i's handler: decode, annotate, record, save.
func (s *Session) packet(i int, p capture.Packet) {
	var at string
	if len(s.ends) > 0 {
		at = s.ends[i].Name
		p.Interface = at
	}
	d, err := capture.Decode(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets++
	if s.file != nil && s.fileErr == nil {
		s.fileErr = s.file.Write(p)
	}
	if err != nil && d.TCP == nil && d.UDP == nil {
		s.tr.Add(tracer.Event{Time: p.Time, Actor: "wire", Phase: tracer.PhaseError, Op: "decode", Err: err.Error(),
			Note: "A captured packet could not be decoded."})
		return
	}
	e, ref := s.anns[i].EventFor(d)
	if e.Packet != nil {
		e.Packet.Frame = s.packets
		if at != "" {
			e.Packet.At, e.Packet.IPID = at, d.IPID
		}
	}
	s.tr.RecordFor(&e, ref)
}

// flush writes the pcap file out: a capture's Flush, after each batch
// of packets it hands over and before a Sync returns.
func (s *Session) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil && s.fileErr == nil {
		s.fileErr = s.file.Flush()
	}
}

// NoTailLossProbes tells the session's annotators that the senders send
// no tail loss probes (see Annotator.NoTailLossProbes).
func (s *Session) NoTailLossProbes(on bool) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.anns {
		a.NoTailLossProbes(on)
	}
}

// Ends returns the ends captured, none on loopback.
func (s *Session) Ends() []End {
	if s == nil {
		return nil
	}
	return s.ends
}

// Hooks returns h with its Listen and ConnectStart hooks wrapped so that
// the session captures each port the program listens on or connects to,
// from before the first packet. h may be nil.
func (s *Session) Hooks(h *tracer.Hooks) *tracer.Hooks {
	if s == nil {
		return h
	}
	var w tracer.Hooks
	if h != nil {
		w = *h
	}
	listen, connect := w.Listen, w.ConnectStart
	w.Listen = func(i tracer.ListenInfo) {
		if i.Err == nil {
			s.AddTCPPort(i.Local.Port())
		}
		if listen != nil {
			listen(i)
		}
	}
	w.ConnectStart = func(i tracer.ConnectStartInfo) {
		s.AddTCPPort(i.Remote.Port())
		if connect != nil {
			connect(i)
		}
	}
	return &w
}

// AddTCPPort captures TCP traffic to and from port from now on.
func (s *Session) AddTCPPort(port uint16) {
	if s != nil {
		s.addPort(&s.tcp, port)
	}
}

// AddUDPPort captures UDP traffic to and from port from now on.
func (s *Session) AddUDPPort(port uint16) {
	if s != nil {
		s.addPort(&s.udp, port)
	}
}

func (s *Session) addPort(set *[]uint16, port uint16) {
	if port == 0 {
		return
	}
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	if slices.Contains(*set, port) || len(*set) >= capture.MaxPorts {
		return
	}
	*set = append(*set, port)
	for _, c := range s.caps {
		if err := c.SetPorts(s.tcp, s.udp); err != nil && s.portErr == nil {
			s.portErr = fmt.Errorf("capture: %w", err)
		}
	}
}

// Sync returns once every packet sent before it was called is in the
// trace.
func (s *Session) Sync(ctx context.Context) error {
	if s == nil {
		return nil
	}
	for _, c := range s.caps {
		if err := c.Sync(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the capture once every packet is in the trace, writes the
// pcap file out (complete, for the caller to commit), and returns the
// kernel's counts and the number of packets added to the trace.
func (s *Session) Close() (capture.Stats, int, error) {
	if s == nil {
		return capture.Stats{}, 0, nil
	}
	var st capture.Stats
	var errs []error
	for _, c := range s.caps {
		cs, err := c.Close()
		errs = append(errs, err)
		st.Add(cs)
	}
	err := errors.Join(errs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = s.fileErr
	}
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	if err == nil {
		err = s.portErr
	}
	return st, s.packets, err
}

// CheckFlags checks the capture flags of a program, alone and together:
// the mode, a pcap file (which needs a capture), a Mermaid file and an
// HTML page (no two of the three the same file). Its errors are one
// line each.
func CheckFlags(mode, pcap, mermaid, html string) error {
	switch mode {
	case ModeAuto, ModeOn:
	case ModeOff:
		if pcap != "" {
			return errors.New("-pcap needs a capture: drop -capture=off")
		}
	default:
		return fmt.Errorf("-capture %q: want auto, on or off", mode)
	}
	named := []struct{ flag, path string }{{"-pcap", pcap}, {"-mermaid", mermaid}, {"-html", html}}
	for i, a := range named {
		for _, b := range named[i+1:] {
			if a.path != "" && samePath(a.path, b.path) {
				return fmt.Errorf("%s and %s both name %s: give each its own file", a.flag, b.flag, a.path)
			}
		}
	}
	return nil
}

// samePath reports whether a and b name the same file, however written
// ("x.md", "./x.md").
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}
