package lesson

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/lab"
	"tcptour/tracer/link"
	"tcptour/tracer/wire"
)

// makeLink makes the lesson's link (Lesson.Link) in its lab.
func (r *Run) makeLink() error {
	if r.opts.Host {
		return errors.New("this lesson runs on a link between two network namespaces, in its lab: run it without --host")
	}
	cfg := *r.lesson.Link
	cfg.OnEvent = r.linkEvent
	l, err := link.New(cfg)
	if err != nil {
		return err
	}
	r.link = l
	return nil
}

// ends are the link's two ends, for the capture.
func (r *Run) ends() []wire.End {
	return []wire.End{
		{Name: "client", Interface: link.ClientInterface, MarkerTo: link.MarkerAddr, Addr: link.ClientAddr, Addr6: link.ClientAddr6, In: r.link.InClient},
		{Name: "server", Interface: link.ServerInterface, MarkerTo: link.MarkerAddr, Addr: link.ServerAddr, Addr6: link.ServerAddr6, In: r.link.InServer},
	}
}

// linkEvent puts what the link did to a segment in the trace, as the
// actor link.
func (r *Run) linkEvent(e link.Event) {
	tr := r.linkTrace.Load()
	if tr == nil {
		return
	}
	tr.Add(tracer.Event{Time: e.Time, Actor: "link", Phase: tracer.PhaseNote,
		Proto: "tcp", Local: e.Segment.Src, Remote: e.Segment.Dst,
		Text: e.Text, Note: e.Note()})
}

// Link returns the link between the lesson's client and server (see
// Lesson.Link), nil for a lesson without one.
func (r *Run) Link() *link.Link { return r.link }

// Server runs f in the server's network namespace, on the link: a
// socket f makes, a listener, belongs there.
func (r *Run) Server(f func() error) error { return r.link.InServer(f) }

// Client runs f in the client's network namespace, on the link: the
// connection f dials goes through the link.
func (r *Run) Client(f func() error) error { return r.link.InClient(f) }

// SetRules replaces the link's rules, and says so in the trace, one
// note a rule ("none" for no rule). A segment either end sent before the
// call meets the rules in force before it (link.Link.SetRules).
func (r *Run) SetRules(rules ...link.Rule) {
	r.unsynced(r.link.SetRules(rules...))
	if len(rules) == 0 {
		r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote, Text: "rules: none",
			Note: "From here on the link loses nothing on purpose: each segment takes the link's delay, no more."})
		return
	}
	for _, rule := range rules {
		r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote, Text: "rule: " + rule.String(),
			Note: "From here on the link does this to the segment it picks, and to no other; the same rule picks the same segment on every run."})
	}
}

// SyncLink returns once the link has read every segment either end sent
// before the call (link.Link.Sync, with its assumptions), so that what
// the link did to them is decided, and in the trace, before the lesson
// goes on. The link notes a segment when it reads it, and a kernel may
// send one as it wakes the program (the RST of a connection it gives
// up), which a busy machine's link reads only later. Step and the
// lesson's end call it, so that such a note stays in its step; a lesson
// calls it where a rule must see segments in the order they were sent
// (a rule that picks the 1st RST). It does nothing for a lesson without
// a link. If the link could not make sure within link.SyncTimeout, the
// trace says so.
func (r *Run) SyncLink() {
	if r.link == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, link.SyncTimeout)
	defer cancel()
	if err := r.link.Sync(ctx); err != nil && r.ctx.Err() == nil {
		r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote, Text: "a segment sent just before may show later",
			Note: "The link could not make sure it had read every segment sent so far (" + err.Error() + "): what it did to one sent just before may show after what follows."})
	}
}

// unsynced says in the trace that the link could not make sure it had
// read every segment sent before a change of its rules or rate (err
// from SetRules or SetRate), if it could not.
func (r *Run) unsynced(err error) {
	if err != nil {
		r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote, Text: "a segment sent just before this change may meet it",
			Note: "The link could not make sure it had read every segment sent before (" + err.Error() + "): one sent just before may meet the new rules or rate."})
	}
}

// SetRate limits the link's directions to so many bytes a second, with
// a queue of so many frames (see link.Config's RateToServer,
// RateToClient and Queue), from the next frame either end sends, and
// says so in the trace, with why. A rate of 0 is no limit that way.
func (r *Run) SetRate(toServer, toClient int64, queue int, why string) {
	r.unsynced(r.link.SetRate(toServer, toClient, queue))
	if queue <= 0 {
		queue = link.DefaultQueue
	}
	rate := func(dir string, v int64) string {
		if v <= 0 {
			return "no limit " + dir
		}
		return fmt.Sprintf("%s a second %s", byteCount(v), dir)
	}
	r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote,
		Text: fmt.Sprintf("rate: %s, %s; a queue of %d frames", rate("to the server", toServer), rate("to the client", toClient), queue),
		Note: why})
}

// byteCount says n bytes in round units: "2 MB", "500 kB", "900 bytes".
func byteCount(n int64) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + " MB"
	case n >= 1000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + " kB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// SetSysctl sets a setting of both ends' networks (the client's and the
// server's kernels), and says so in the trace with why.
func (r *Run) SetSysctl(name, value, why string) error {
	old, err := r.link.SetSysctl(name, value)
	if err != nil {
		return err
	}
	if name == "net.ipv4.tcp_early_retrans" {
		// The packets cannot tell a probe from the timer: the
		// annotators are told.
		r.wire.NoTailLossProbes(value == "0")
	}
	r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
		Text: fmt.Sprintf("at both ends: %s = %s (it was %s)", name, value, old), Note: why})
	return nil
}

// linkNotes says, at the start, what the link is.
func (r *Run) linkNotes() {
	if r.link == nil {
		return
	}
	c := r.lesson.Link
	delay := "no delay"
	if c.DelayToServer > 0 || c.DelayToClient > 0 {
		delay = fmt.Sprintf("%s on the way to the server, %s on the way back", tracer.FormatDuration(c.DelayToServer), tracer.FormatDuration(c.DelayToClient))
		if c.DelayToServer == c.DelayToClient {
			delay = fmt.Sprintf("%s each way: a round trip of %s", tracer.FormatDuration(c.DelayToServer), tracer.FormatDuration(2*c.DelayToServer))
		}
	}
	r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote,
		Text: fmt.Sprintf("a link: client %s ↔ server %s, %s", link.ClientAddr, link.ServerAddr, delay),
		Note: "The client and the server each have a network namespace of their own, with an interface (" + link.ClientInterface + ", " + link.ServerInterface + ") at MTU 1500 and two addresses, IPv4 (" + link.ClientAddr.String() + ", " + link.ServerAddr.String() + ") and IPv6 (" + link.ClientAddr6.String() + ", " + link.ServerAddr6.String() + "), so segments carry at most 1448 bytes over IPv4 and 1428 over IPv6 (with timestamps; an IPv6 header is 20 bytes longer). Between them, this program forwards every frame, after the delay, and drops or delays the segments its rules pick. The packets are captured at both ends: each segment shows as it leaves one (at client:) and as it reaches the other (at server:), unless the link lost it."})
	for _, rule := range c.Rules {
		r.trace.Add(tracer.Event{Actor: "link", Phase: tracer.PhaseNote, Text: "rule: " + rule.String(),
			Note: "The link does this to the segment it picks, and to no other; the same rule picks the same segment on every run."})
	}
	r.countEnds() // what each end's kernel has counted so far
}

// countEnds adds what each end's kernel counted since the last count.
func (r *Run) countEnds() {
	now := time.Now()
	for i, e := range r.ends() {
		var c kernel.Counters
		err := e.In(func() (err error) {
			c, err = kernel.ReadCounters()
			return err
		})
		if err != nil {
			continue
		}
		if r.countedEnds[i] != nil {
			for _, ch := range c.Since(r.countedEnds[i], shown) {
				ch.At = e.Name
				r.trace.Add(tracer.Event{Time: now, Actor: "kernel", Phase: tracer.PhaseCounter, Counter: &ch})
			}
		}
		r.countedEnds[i] = c
	}
}

// timeWaitEnds counts the sockets in TIME_WAIT at both ends.
func (r *Run) timeWaitEnds() int {
	n := 0
	for _, e := range r.ends() {
		_ = e.In(func() error {
			tw, err := kernel.Sockets(kernel.TimeWait)
			n += len(tw)
			return err
		})
	}
	return n
}

// joinEnd is the command that joins the namespace of the lesson's
// thread tid, parked in an end of the link, from another terminal.
func (r *Run) joinEnd(tid int) string {
	in := *r.opts.Lab
	in.PID = tid
	return in.Join()
}

// joinNotes say how another terminal joins each end of the link.
func (r *Run) joinNotes() {
	for _, e := range []struct {
		name string
		tid  int
		addr string
	}{{"client", r.link.ClientTID(), link.ClientAddr.String()}, {"server", r.link.ServerTID(), link.ServerAddr.String()}} {
		join := r.joinEnd(e.tid)
		r.trace.Add(tracer.Event{Actor: "lab", Phase: tracer.PhaseNote,
			Text: "join the " + e.name + ": " + join,
			Note: "Put this in front of a command to run it in the " + e.name + "'s network (" + e.addr + ") from another terminal, while the lesson runs (at a step's pause): " +
				join + " ss -tin shows the " + e.name + "'s sockets with their TCP_INFO, " + join + " " + shell() + " opens a shell there. " +
				"The number is a thread of the lesson's that waits in that network; it goes when the lesson ends."})
	}
}

// LinkNames are the names the lab DNS answers for on a link: one with
// both of the server's addresses, and one for each family alone.
var LinkNames = map[string][]netip.Addr{
	"dual.link.test": {link.ServerAddr, link.ServerAddr6},
	"v4.link.test":   {link.ServerAddr},
	"v6.link.test":   {link.ServerAddr6},
}

// linkLab starts the lab DNS server in the server's namespace, at
// link.ServerAddr port 53: a DNS server across the link.
func (r *Run) linkLab() (netip.AddrPort, error) {
	var s *lab.Server
	err := r.Server(func() (err error) {
		s, err = lab.Start(netip.AddrPortFrom(link.ServerAddr, 53).String(), LinkNames)
		return err
	})
	if err != nil {
		return netip.AddrPort{}, err
	}
	r.useLab(s, "A small DNS server at the server's end of the link, on the DNS port, 53. It answers for dual.link.test ("+
		link.ServerAddr.String()+" and "+link.ServerAddr6.String()+"), v4.link.test ("+link.ServerAddr.String()+
		" only) and v6.link.test ("+link.ServerAddr6.String()+" only), and says NXDOMAIN to everything else. "+
		"The client's resolver is pointed at it, so each lookup is a real UDP exchange across the link.")
	return s.Addr(), nil
}
