package lesson

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"tcptour/tracer"
)

// Bulk marks c's connection as a bulk transfer, thousands of segments:
// the pretty output shows of its packets only those that tell something
// (the handshake, a segment sent again or out of order, the first after
// a gap, and everything from the first FIN on), and
// says at the end of each step how many it left out; the JSON output and
// --pcap keep every one. Of the frames a full queue on the link drops
// (see SetRate), it shows the first few of each step and counts the
// rest. No ladder is drawn for the connection.
func (r *Run) Bulk(c net.Conn) {
	if r.bulk == nil {
		return // JSON: nothing is left out
	}
	local, lok := addrPort(c.LocalAddr())
	remote, rok := addrPort(c.RemoteAddr())
	if !lok || !rok {
		return
	}
	r.bulk.add(local, remote)
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := t.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// shownTailDrops is how many tail drops a step shows in the pretty
// output; the rest are counted.
const shownTailDrops = 3

// bulkPrinter is the pretty printer of a lesson with bulk connections:
// it leaves out their ordinary packets and counts them.
type bulkPrinter struct {
	tracer.Printer
	mu    sync.Mutex
	conns [][2]netip.AddrPort
	// Per step, what was left out: packets by connection id as shown,
	// tail drops.
	left      map[int]int
	kept      map[int]int
	closing   map[int]bool // by index in conns: a FIN was seen
	tailDrops int
	last      tracer.Event // the last event left out, for the summary's time
}

func (p *bulkPrinter) add(a, b netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, [2]netip.AddrPort{a, b})
}

// isBulk reports whether a and b are the two ends of a bulk connection,
// and which (its index in p.conns). p.mu is held.
func (p *bulkPrinter) isBulk(a, b netip.AddrPort) (int, bool) {
	for i, c := range p.conns {
		if c[0] == a && c[1] == b || c[0] == b && c[1] == a {
			return i, true
		}
	}
	return 0, false
}

// telling are the analysis tags of the segments a bulk connection's
// pretty output keeps.
var telling = []string{"retransmission", "fast-retransmission", "spurious-retransmission", "rto",
	"tail-loss-probe", "previous-segment-not-captured", "out-of-order"}

// keep reports whether the pretty output shows e. p.mu is held.
func (p *bulkPrinter) keep(e *tracer.Event) bool {
	if e.Phase == tracer.PhaseNote && e.Actor == "link" && strings.HasPrefix(e.Text, "dropped: the queue") {
		p.tailDrops++
		if p.tailDrops > shownTailDrops {
			p.last = *e
			return false
		}
		return true
	}
	pk := e.Packet
	if e.Phase != tracer.PhasePacket || pk == nil || pk.Proto != "tcp" {
		return true
	}
	i, ok := p.isBulk(pk.Src, pk.Dst)
	if !ok {
		return true
	}
	if strings.Contains(pk.Flags, "FIN") {
		// The close is shown whole, its last ACKs too.
		p.closing[i] = true
	}
	if p.closing[i] || strings.Contains(pk.Flags, "SYN") || strings.Contains(pk.Flags, "RST") {
		p.kept[e.Conn]++
		return true
	}
	for _, a := range pk.Analysis {
		if slices.Contains(telling, a) {
			p.kept[e.Conn]++
			return true
		}
	}
	p.left[e.Conn]++
	p.last = *e
	return false
}

// summary returns the notes that say what the step left out, and
// starts counting anew. p.mu is held.
func (p *bulkPrinter) summary() []tracer.Event {
	var out []tracer.Event
	ids := make([]int, 0, len(p.left))
	for id := range p.left {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := p.left[id]
		out = append(out, tracer.Event{Time: p.last.Time, Elapsed: p.last.Elapsed, Step: p.last.Step, Actor: "lesson", Phase: tracer.PhaseNote,
			Text: fmt.Sprintf("%s more packets of connection #%d not shown", thousands(n), id),
			Note: fmt.Sprintf("Of connection #%d's %s packets seen at the two ends in this step, this output shows the %s that tell something: the handshake, a segment sent again or out of order, the first after a gap, the close. The others are data segments sent once and their ACKs: --json lists every one, and --pcap FILE saves them for tshark or Wireshark.",
				id, thousands(n+p.kept[id]), thousands(p.kept[id])),
		})
	}
	if more := p.tailDrops - shownTailDrops; more > 0 {
		out = append(out, tracer.Event{Time: p.last.Time, Elapsed: p.last.Elapsed, Step: p.last.Step, Actor: "link", Phase: tracer.PhaseNote,
			Text: fmt.Sprintf("%d more frames dropped by the full queue", more),
			Note: fmt.Sprintf("The link dropped %d frames in this step because its queue was full; this output shows the first %d. --json lists every one.", p.tailDrops, shownTailDrops)})
	}
	clear(p.left)
	clear(p.kept)
	p.tailDrops = 0
	return out
}

func (p *bulkPrinter) Print(e tracer.Event) error { return p.PrintBatch([]tracer.Event{e}) }

// PrintBatch prints the events the pretty output keeps, and before a
// step's heading what the step before left out.
func (p *bulkPrinter) PrintBatch(events []tracer.Event) error {
	p.mu.Lock()
	var out []tracer.Event
	for i := range events {
		e := &events[i]
		if e.Phase == tracer.PhaseStep {
			out = append(out, p.summary()...)
		}
		if p.keep(e) {
			out = append(out, *e)
		}
	}
	p.mu.Unlock()
	return tracer.PrintBatch(p.Printer, out)
}

// flush prints what the last step left out.
func (p *bulkPrinter) flush() error {
	p.mu.Lock()
	out := p.summary()
	p.mu.Unlock()
	return tracer.PrintBatch(p.Printer, out)
}

// bulkConns returns the ids of the bulk connections among events.
func (p *bulkPrinter) bulkConns(events []tracer.Event) map[int]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := map[int]bool{}
	for _, e := range events {
		if _, ok := p.isBulk(e.Local, e.Remote); ok && e.Conn != 0 && e.Local.IsValid() {
			ids[e.Conn] = true
		}
	}
	return ids
}

// thousands writes n with commas: 12,345.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
