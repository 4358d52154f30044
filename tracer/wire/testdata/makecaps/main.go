//go:build linux

// Command makecaps makes the captures of tracer/wire/testdata: real
// connections between a client and a server in namespaces of their own,
// joined by the lab's link (tracer/link), each captured at the client's
// interface, or at both ends (a pcapng file with two interfaces, client
// and server). Run it from the module's root, as root or as any user
// (like a lesson, it runs itself again in a lab of its own):
//
//	go run ./tracer/wire/testdata/makecaps               # all, into tracer/wire/testdata
//	go run ./tracer/wire/testdata/makecaps -dir /tmp reuse
//
// The scenarios, and what tshark finds in them, are in
// tracer/wire/testdata/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/gopacket/layers"

	"tcptour/tracer/capture"
	"tcptour/tracer/lab"
	"tcptour/tracer/link"
)

// scenario is one capture.
type scenario struct {
	name, file string
	cfg        link.Config
	// both captures the server's interface too; else the client's
	// alone.
	both bool
	// client and server are sysctls set in each end's namespace
	// (names under /proc/sys/, as "net/ipv4/tcp_fastopen").
	client, server map[string]string
	// run runs the connections; the captures are running. It returns
	// how many connections must have ended (the last FIN acknowledged
	// at both ends, or RST) in each capture before it stops.
	run func(r *runner) (int, error)
	// cut, if set, edits the frames captured before they are written
	// (a capture that missed some).
	cut func([]capture.Packet) []capture.Packet
	// large: made only when named (too large for testdata: for
	// comparing with tshark by hand, with -dir elsewhere).
	large bool
}

const (
	serverPort = 7000
	// timeout bounds a scenario that goes wrong.
	timeout = 30 * time.Second
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("makecaps: ")
	dir := flag.String("dir", "tracer/wire/testdata", "the `directory` the captures are written to")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: makecaps [-dir directory] [scenario ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	chosen, err := choose(flag.Args())
	if err != nil {
		log.Print(err)
		flag.Usage()
		os.Exit(2)
	}
	if !lab.Inside() {
		if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
			log.Fatalf("no directory %s (run from the module's root, or give -dir)", *dir)
		}
	}
	lab.Enter()
	for _, s := range chosen {
		path := filepath.Join(*dir, s.file)
		n, err := s.make(path)
		if err != nil {
			log.Fatalf("%s: %v", s.name, err)
		}
		log.Printf("%s: %d frames in %s", s.name, n, path)
	}
}

// choose picks the scenarios named, all of them for none.
func choose(names []string) ([]scenario, error) {
	if len(names) == 0 {
		var all []scenario
		for _, s := range scenarios {
			if !s.large {
				all = append(all, s)
			}
		}
		return all, nil
	}
	var chosen []scenario
	for _, name := range names {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("no scenario %q", name)
		}
		chosen = append(chosen, scenarios[i])
	}
	return chosen, nil
}

// runner is a scenario's link and captures while it runs.
type runner struct {
	l        *link.Link
	caps     []*endCapture
	deadline time.Time
}

// make runs the scenario and writes its capture to path. It returns the
// number of frames written.
func (s scenario) make(path string) (int, error) {
	cfg := s.cfg
	cfg.OnEvent = func(e link.Event) {
		if e.Action != link.Delay {
			log.Printf("%s: %s", s.name, e)
		}
	}
	l, err := link.New(cfg)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	for _, end := range []struct {
		in      func(func() error) error
		sysctls map[string]string
	}{{l.InClient, s.client}, {l.InServer, s.server}} {
		for k, v := range end.sysctls {
			// /proc/sys/net is the namespace of the thread that opens it.
			if err := end.in(func() error { return os.WriteFile("/proc/sys/"+k, []byte(v), 0) }); err != nil {
				return 0, err
			}
		}
	}
	r := &runner{l: l, deadline: time.Now().Add(timeout)}
	ends := []struct {
		name, ifname string
		in           func(func() error) error
	}{{"client", link.ClientInterface, l.InClient}, {"server", link.ServerInterface, l.InServer}}
	if !s.both {
		ends = ends[:1]
	}
	for _, end := range ends {
		ec := newEndCapture(end.name)
		if err := end.in(func() (err error) {
			ec.c, err = capture.Open(capture.Config{Interface: end.ifname, MarkerTo: link.MarkerAddr,
				TCPPorts: []uint16{serverPort}, Handler: ec.handle})
			return err
		}); err != nil {
			return 0, err
		}
		defer ec.c.Close()
		r.caps = append(r.caps, ec)
	}
	ended, err := s.run(r)
	if err != nil {
		return 0, err
	}
	var pkts []capture.Packet
	for _, ec := range r.caps {
		if err := ec.waitEnded(ended, r.deadline); err != nil {
			return 0, fmt.Errorf("%s: %w", ec.name, err)
		}
		ctx, cancel := context.WithDeadline(context.Background(), r.deadline)
		err := ec.c.Sync(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
		st, err := ec.c.Close()
		if err != nil {
			return 0, err
		}
		if st.KernelDrops > 0 {
			return 0, fmt.Errorf("%s: the capture lost %d frames", ec.name, st.KernelDrops)
		}
		ec.mu.Lock()
		for _, p := range ec.pkts {
			if s.both {
				p.Interface = ec.name
			}
			pkts = append(pkts, p)
		}
		ec.mu.Unlock()
	}
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].Time.Before(pkts[j].Time) })
	if s.cut != nil {
		pkts = s.cut(pkts)
	}
	return len(pkts), write(path, pkts)
}

// write writes the packets to path, a pcapng file: with one interface
// description per end captured, named, when both ends were.
func write(path string, pkts []capture.Packet) error {
	w, err := capture.NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		if err := w.Write(p); err != nil {
			w.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// endCapture is the capture at one end, and what it saw of the
// connections' ends.
type endCapture struct {
	name  string
	c     *capture.Capture
	mu    sync.Mutex
	pkts  []capture.Packet
	conns map[[2]uint16]*connEnd // by the ports, client's first
	ended int                    // connections ended so far
	// changed is closed, and replaced, at each connection's end.
	changed chan struct{}
	// watch, if set, is called with each TCP segment (mu held).
	watch func(capture.Decoded)
}

// connEnd is what a capture saw of a connection's FINs.
type connEnd struct {
	finEnd   [2]uint32 // the sequence number after each side's FIN, [0] the client's
	fin      [2]bool
	finAcked [2]bool
	done     bool
}

func newEndCapture(name string) *endCapture {
	return &endCapture{name: name, conns: map[[2]uint16]*connEnd{}, changed: make(chan struct{})}
}

// handle keeps a captured frame, and follows its connection to its end.
func (ec *endCapture) handle(p capture.Packet) {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	ec.pkts = append(ec.pkts, p)
	d, err := capture.Decode(p)
	if err != nil || d.TCP == nil {
		return
	}
	if ec.watch != nil {
		ec.watch(d)
	}
	t := d.TCP
	fromClient := d.Dst.Port() == serverPort
	key, i := [2]uint16{d.Src.Port(), d.Dst.Port()}, 0
	if !fromClient {
		key, i = [2]uint16{d.Dst.Port(), d.Src.Port()}, 1
	}
	c := ec.conns[key]
	if c == nil || (t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.ACK) && c.done) {
		c = &connEnd{}
		ec.conns[key] = c
	}
	if c.done {
		return
	}
	if t.Flags.Has(capture.FIN) {
		c.fin[i], c.finEnd[i] = true, t.Seq+uint32(t.PayloadLen)+1
	}
	if t.Flags.Has(capture.ACK) && c.fin[1-i] && t.Ack == c.finEnd[1-i] {
		c.finAcked[1-i] = true
	}
	if t.Flags.Has(capture.RST) || (c.finAcked[0] && c.finAcked[1]) {
		c.done = true
		ec.ended++
		close(ec.changed)
		ec.changed = make(chan struct{})
	}
}

// waitEnded waits until n connections have ended in this capture.
func (ec *endCapture) waitEnded(n int, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		ec.mu.Lock()
		ended, ch := ec.ended, ec.changed
		ec.mu.Unlock()
		if ended >= n {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("%d of %d connections ended before the deadline", ended, n)
		}
	}
}

var errDeadline = errors.New("the scenario took too long")
