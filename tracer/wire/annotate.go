// Package wire turns captured packets into timeline events with a
// plain-language note each, and draws a connection's events as a ladder
// diagram, in text or as Mermaid.
//
//	a := wire.NewAnnotator()
//	for _, p := range packets {
//		d, err := capture.Decode(p)
//		…
//		tr.Add(a.Event(d))
//	}
//	wire.Ladder(os.Stdout, tr.Events(), 1)
package wire

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// Annotator follows each TCP connection seen in a stream of packets, so
// that it can number sequences relative to each side's initial sequence
// number, tell client from server, and explain each segment in its
// context (the ACK that completes a handshake, the ACK of a FIN). It is
// not safe for concurrent use: feed it packets in the order captured.
type Annotator struct {
	conns map[flowKey]*conn
	// ended are the connections that ended (the last FIN acknowledged,
	// or RST): each is let go once maxEnded more have ended, so that a
	// late segment (a FIN sent again because the last ACK was lost,
	// data that crossed the RST) is still numbered and explained as
	// part of its connection.
	ended []endedConn // a ring once full, its oldest at next
	next  int
	tick  uint64 // counts the TCP segments seen, to age connections
}

// endedConn is a connection that ended, under its key.
type endedConn struct {
	k flowKey
	c *conn
}

const (
	// maxAnnotated bounds the connections an Annotator follows at once:
	// past it, the quarter that saw no segment for longest are let go
	// (connections whose end the capture missed, SYNs never answered).
	maxAnnotated = 1 << 16
	// maxEnded is how many ended connections are kept, for their late
	// segments.
	maxEnded = 1 << 13
)

// NewAnnotator returns an Annotator that has seen no packet yet.
func NewAnnotator() *Annotator {
	return &Annotator{conns: make(map[flowKey]*conn)}
}

type flowKey struct{ a, b netip.AddrPort }

func keyOf(src, dst netip.AddrPort) flowKey {
	if src.Compare(dst) > 0 {
		src, dst = dst, src
	}
	return flowKey{src, dst}
}

// conn is what the annotator knows of one TCP connection.
type conn struct {
	client, server netip.AddrPort
	// sides are the two directions: sides[0] sent from the lower
	// address (as keyOf orders them), sides[1] from the other.
	sides       [2]side
	lower       netip.AddrPort
	established bool   // the handshake's last ACK was seen
	scaled      bool   // both SYNs offered window scaling
	synOnly     bool   // only the client's SYN has been seen
	sawSynAck   bool   // the server's SYN-ACK was captured
	sawSYNs     bool   // both sides' SYNs were captured: windows are in bytes
	ended       bool   // its last FIN was acknowledged, or RST came
	seen        uint64 // the Annotator's tick at its last segment
}

// side is one direction of a connection: what its sender has done.
type side struct {
	isn      uint32
	haveISN  bool
	wscale   uint8
	offersWS bool
	finSeq   uint32 // relative sequence number of its FIN
	sentFIN  bool
	finAcked bool // the peer has acknowledged this side's FIN
	firstFIN bool // this side sent the connection's first FIN
	sentSYN  bool // it has sent its SYN (or SYN-ACK)

	// What it last told the peer, for the window's story: the sequence
	// number after its last byte, its last acknowledgement, and the
	// last window it advertised (in bytes when the scale is known).
	next     uint32
	haveNext bool
	ack      uint32
	haveAck  bool
	win      int
	haveWin  bool
	synWin   bool // that window was in its SYN or SYN-ACK
	probed   bool // its last segment was a zero-window probe
}

// sideOf returns the direction whose sender is src, one of the
// connection's two addresses.
func (c *conn) sideOf(src netip.AddrPort) *side {
	if src == c.lower {
		return &c.sides[0]
	}
	return &c.sides[1]
}

// after reports whether sequence number a comes after b, modulo 2^32.
func after(a, b uint32) bool { return int32(a-b) > 0 }

// Event returns the timeline event for a decoded packet: Phase
// PhasePacket, Actor "wire", the kernel's timestamp, the packet's
// five-tuple (TCP only, so that the trace gives it the connection's id),
// a Packet summary and a note.
func (a *Annotator) Event(d capture.Decoded) tracer.Event {
	e := tracer.Event{Time: d.Time, Actor: "wire", Phase: tracer.PhasePacket}
	p := &tracer.Packet{Src: d.Src, Dst: d.Dst, Size: d.Length}
	e.Packet = p
	switch {
	case d.TCP != nil:
		p.Proto = "tcp"
		e.Proto, e.Local, e.Remote = "tcp", d.Src, d.Dst
		e.Note = a.tcp(d, p)
	case d.UDP != nil:
		p.Proto, p.Len = "udp", d.UDP.PayloadLen
		e.Note = a.udp(d, p, &e)
	default:
		p.Proto = d.Proto.String()
		e.Note = "A packet that is neither TCP nor UDP."
	}
	return e
}

func (a *Annotator) tcp(d capture.Decoded, p *tracer.Packet) string {
	t := d.TCP
	k := keyOf(d.Src, d.Dst)
	c := a.conns[k]
	isSYN := t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.ACK)
	// A SYN starts a new connection on a five-tuple used before: after
	// an established one, or after an attempt with another initial
	// sequence number (a refused or abandoned connect).
	if c == nil || (isSYN && (c.established || (c.sideOf(d.Src).sentSYN && c.sideOf(d.Src).isn != t.Seq))) {
		// A new connection. Its client is the side that sent the SYN;
		// when the capture began later than that, guess: the side with
		// the higher (ephemeral) port.
		c = &conn{lower: k.a}
		switch {
		case isSYN:
			c.client, c.server = d.Src, d.Dst
		case t.Flags.Has(capture.SYN | capture.ACK):
			c.client, c.server = d.Dst, d.Src
		case d.Src.Port() > d.Dst.Port():
			c.client, c.server = d.Src, d.Dst
		default:
			c.client, c.server = d.Dst, d.Src
		}
		if len(a.conns) >= maxAnnotated {
			a.evict()
		}
		a.conns[k] = c
	}
	a.tick++
	c.seen = a.tick
	me, peer := c.sideOf(d.Src), c.sideOf(d.Dst)
	if t.Flags.Has(capture.SYN) {
		me.isn, me.haveISN = t.Seq, true
		// RFC 7323 §2.3: a shift above 14 is taken as 14.
		me.offersWS, me.wscale = t.Options.HasWindowScale, min(t.Options.WindowScale, 14)
	} else if !me.haveISN {
		// Mid-connection: number from the first segment seen, as
		// Wireshark does.
		me.isn, me.haveISN = t.Seq-1, true
	}
	if t.Flags.Has(capture.ACK) && !peer.haveISN {
		peer.isn, peer.haveISN = t.Ack-1, true
	}
	if t.Flags.Has(capture.SYN|capture.ACK) && me.offersWS && peer.offersWS {
		c.scaled = true
	}

	from, to := "client", "server"
	if d.Src == c.server {
		from, to = "server", "client"
	}
	p.From, p.To = from, to
	p.Flags = t.Flags.String()
	p.RawSeq, p.RawAck = t.Seq, t.Ack
	p.Seq = t.Seq - me.isn
	if t.Flags.Has(capture.ACK) {
		p.Ack = t.Ack - peer.isn
	}
	p.Len = t.PayloadLen
	p.Window = int(t.Window)
	if c.scaled && !t.Flags.Has(capture.SYN) {
		p.Window = int(t.Window) << me.wscale
	}
	if t.Flags.Has(capture.SYN) {
		p.Options = options(t.Options)
	}

	// What this segment does to the window's story. A zero-window
	// probe: the peer's window is 0, and instead of new data the sender
	// sends a segment numbered one below its next byte (Linux), or the
	// single byte at the window's edge (other systems).
	ctl := t.Flags.Has(capture.SYN) || t.Flags.Has(capture.FIN) || t.Flags.Has(capture.RST)
	plainACK := t.Flags.Has(capture.ACK) && !ctl
	pureACK := plainACK && p.Len == 0
	probe := plainACK && me.haveNext && peer.haveWin && peer.haveAck && peer.win == 0 &&
		((p.Len == 0 && p.Seq == me.next-1) || (p.Len == 1 && p.Seq == peer.ack))
	// The answer to the peer's probe is the next segment this side sends.
	answer := pureACK && peer.probed
	// A window update acknowledges nothing new, only opens the window
	// (compared with a window after the handshake: a SYN's is unscaled).
	update := pureACK && me.haveAck && me.haveWin && !me.synWin && p.Ack == me.ack && p.Window > me.win
	shrink := pureACK && me.haveWin && p.Window < me.win && p.Window > 0
	// Data that reaches the last byte of the peer's window; only when
	// both SYNs were seen, so that windows are in bytes.
	full := p.Len > 0 && !probe && !t.Flags.Has(capture.SYN) && c.sawSYNs && peer.haveWin && peer.haveAck && peer.win > 0 &&
		p.Seq+uint32(p.Len) == peer.ack+uint32(peer.win)
	retrySYN := isSYN && me.sentSYN && t.Seq == me.isn && !c.established

	var notes []string
	add := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	switch {
	case t.Flags.Has(capture.RST):
		if c.synOnly && from == "server" {
			add("The server's kernel answers the SYN with RST: nothing listens on port %d, so the connection is refused (ECONNREFUSED).", d.Src.Port())
		} else {
			add("The %s's kernel sends RST: the connection is torn down at once, without the FIN exchange. "+
				"Whatever the %s had not yet sent, or had received but not read, is thrown away. "+
				"The %s's kernel drops the connection too: its program's next Read or Write fails with ECONNRESET (a Read first returns any data that had already arrived).", from, from, to)
		}
	case retrySYN:
		add("The client's kernel sends SYN again, with the same initial sequence number: no SYN-ACK came back, so it retransmits. " +
			"Linux resends an unanswered SYN after 1 s, then again at intervals that grow (recent kernels repeat 1 s a few times first: net.ipv4.tcp_syn_linear_timeouts); " +
			"if the program set no deadline, connect gives up after about two minutes (net.ipv4.tcp_syn_retries) with ETIMEDOUT.")
	case isSYN:
		c.synOnly = true
		add("The client's kernel sends SYN: it asks to open a connection and proposes its initial sequence number (shown as 0: numbers here are relative, as Wireshark shows them).")
		if p.Options != "" {
			add("Its options: %s.", describeOptions(t.Options))
		}
	case t.Flags.Has(capture.SYN | capture.ACK):
		c.synOnly, c.sawSynAck = false, true
		add("The server's kernel answers SYN-ACK: it acknowledges the SYN (ack 1) and sends its own initial sequence number. No program took part: the listening socket's kernel answers by itself.")
		if p.Options != "" {
			add("Its options: %s.", describeOptions(t.Options))
		}
	}
	if t.Flags.Has(capture.FIN) && me.sentFIN && p.Seq+uint32(p.Len) == me.finSeq {
		if !me.finAcked {
			add("The %s's kernel sends its FIN again, with the same sequence number: no ACK came for it, and its retransmission timer fired (at least 200 ms on Linux, doubling each time).", from)
		} else {
			add("The %s's kernel sends its FIN again, with the same sequence number, though the %s's ACK of it was on the wire: that ACK did not reach it (lost, or it crossed this FIN), and its retransmission timer fired.", from, to)
		}
	}
	if t.Flags.Has(capture.FIN) && !me.sentFIN {
		me.firstFIN = !peer.sentFIN
		me.finSeq = p.Seq + uint32(p.Len)
		if peer.sentFIN {
			add("The %s's kernel sends its FIN too: it has nothing more to send either.", from)
		} else {
			add("The %s's kernel sends FIN: the %s will send no more data (its program called Close or CloseWrite, or exited). The FIN takes one sequence number.", from, from)
		}
		me.sentFIN = true
	}
	switch {
	case probe && p.Len == 1:
		add("The %s's kernel sends a zero-window probe: the %s's window is 0, so it sends just its next byte (byte %d of its stream), which the %s's kernel must answer with an ACK that carries its current window.",
			from, to, p.Seq, to)
	case p.Len == 1 && !t.Flags.Has(capture.SYN):
		s := fmt.Sprintf("The %s's kernel sends 1 byte of data (byte %d of its stream)", from, p.Seq)
		if t.Flags.Has(capture.PSH) {
			s += "; PSH asks the receiver to hand it to the program without waiting for more"
		}
		add("%s.", s)
	case p.Len > 0 && !t.Flags.Has(capture.SYN):
		s := fmt.Sprintf("The %s's kernel sends %d bytes of data (bytes %d to %d of its stream)", from, p.Len, p.Seq, p.Seq+uint32(p.Len)-1)
		if t.Flags.Has(capture.PSH) {
			s += "; PSH asks the receiver to hand them to the program without waiting for more"
		}
		add("%s.", s)
	}
	if full {
		add("This fills the %s's window to its last byte: the %s may send no more until an ACK from the %s opens the window further.", to, from, to)
	}
	if t.Flags.Has(capture.ACK) && !t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.RST) {
		switch {
		case !c.established && c.sawSynAck && p.Ack == 1 && p.Seq == 1 && from == "client":
			c.established = true
			if p.Len == 0 && !t.Flags.Has(capture.FIN) {
				add("The client's ACK of the SYN-ACK completes the three-way handshake: both kernels now hold an established connection, whether or not the server program has called Accept.")
			}
		case peer.sentFIN && !peer.finAcked && p.Ack == peer.finSeq+1:
			peer.finAcked = true
			if len(notes) == 0 {
				add("The %s's kernel acknowledges the %s's FIN (ack %d).", from, to, p.Ack)
			} else {
				add("It also acknowledges the %s's FIN (ack %d).", to, p.Ack)
			}
			if me.sentFIN && me.firstFIN {
				add("Both FINs are now acknowledged. The %s sent the first FIN, so its socket stays in TIME_WAIT for a while (60 s on Linux), so that a late segment of this connection cannot be taken for part of a new one with the same five-tuple.", from)
			}
		case probe && p.Len == 0:
			add("The %s's kernel sends a zero-window probe: the %s's window is 0, so instead of data it sends a segment numbered one below its next byte (seq %d), "+
				"which the %s's kernel must answer with an ACK that carries its current window. "+
				"Probes go out on a timer that starts at the retransmission timeout (at least 200 ms on Linux) and doubles each time, for as long as the window stays shut. "+
				"Wireshark calls this segment a Keep-Alive, since a keepalive looks the same.", from, to, p.Seq, to)
		case answer:
			add("The %s's kernel answers the %s's zero-window probe with an ACK (ack %d) that carries its window.", from, to, p.Ack)
		case p.Len == 0 && !t.Flags.Has(capture.FIN):
			add("The %s's kernel acknowledges everything up to byte %d of the %s's stream (ack %d); no data in this segment.", from, p.Ack-1, to, p.Ack)
		}
	}
	switch {
	case p.Window == 0 && !t.Flags.Has(capture.RST):
		add("Window 0: the %s's receive buffer is full, so the %s must stop sending until the window opens.", from, to)
	case update && me.win == 0:
		add("A window update: the window opens again (%d bytes) because the %s's program read from its receive buffer and made room, so the %s may send again.", p.Window, from, to)
	case update:
		add("A window update: the window grows from %d to %d bytes because the %s's program read from its receive buffer and made room.", me.win, p.Window, from)
	case shrink:
		add("The %s's window is smaller than in its last segment (%d bytes, down from %d): data it received is waiting in its receive buffer for its program to read.", from, p.Window, me.win)
	}
	remember(c, me, peer, t.Flags, p, probe)
	if !c.ended && (t.Flags.Has(capture.RST) || (me.finAcked && peer.finAcked)) {
		// Its end. A new SYN on the same five-tuple starts a new
		// connection; the old one is kept a while for late segments.
		c.ended = true
		if len(a.ended) < maxEnded {
			a.ended = append(a.ended, endedConn{k, c})
		} else {
			// A ring: the oldest is at a.next.
			old := a.ended[a.next]
			if a.conns[old.k] == old.c {
				delete(a.conns, old.k)
			}
			a.ended[a.next] = endedConn{k, c}
			a.next = (a.next + 1) % maxEnded
		}
	}
	return strings.Join(notes, " ")
}

// evict lets go of the quarter of the connections that saw no segment
// for longest.
func (a *Annotator) evict() {
	seen := make([]uint64, 0, len(a.conns))
	for _, c := range a.conns {
		seen = append(seen, c.seen)
	}
	slices.Sort(seen)
	oldest := seen[len(seen)/4]
	for k, c := range a.conns {
		if c.seen <= oldest {
			delete(a.conns, k)
		}
	}
}

// remember records what a segment from me told the peer, for the notes
// of the segments that follow.
func remember(c *conn, me, peer *side, f capture.TCPFlags, p *tracer.Packet, probe bool) {
	end := p.Seq + uint32(p.Len)
	if f.Has(capture.SYN) {
		me.sentSYN = true
		c.sawSYNs = peer.sentSYN
		end++
	}
	if f.Has(capture.FIN) {
		end++
	}
	if !me.haveNext || after(end, me.next) {
		me.next, me.haveNext = end, true
	}
	if !f.Has(capture.RST) {
		me.win, me.haveWin, me.synWin = p.Window, true, f.Has(capture.SYN)
		if f.Has(capture.ACK) {
			me.ack, me.haveAck = p.Ack, true
		}
	}
	// A probe waits for its answer: the next segment from the peer.
	me.probed = probe
	peer.probed = false
}

func (a *Annotator) udp(d capture.Decoded, p *tracer.Packet, e *tracer.Event) string {
	if d.DNS == nil {
		p.From, p.To = "udp", "udp"
		return fmt.Sprintf("A UDP datagram with %d bytes of payload.", d.UDP.PayloadLen)
	}
	m := d.DNS
	var name, qtype string
	if len(m.Questions) > 0 {
		name, qtype = strings.TrimSuffix(m.Questions[0].Name, "."), m.Questions[0].Type
	}
	e.Name = name
	if !m.Response {
		p.From, p.To = "resolver", "dns"
		p.DNS = fmt.Sprintf("query %s %s", qtype, name)
		return fmt.Sprintf("The client's resolver asks the DNS server, in one UDP datagram: what are the %s records of %s? (%s)", qtype, name, typeMeaning(qtype))
	}
	p.From, p.To = "dns", "resolver"
	var vals []string
	for _, r := range m.Answers {
		vals = append(vals, r.Value)
	}
	switch {
	case m.RCode == "Non-Existent Domain":
		p.DNS = fmt.Sprintf("answer NXDOMAIN %s", name)
		return fmt.Sprintf("The DNS server answers NXDOMAIN: %s does not exist.", name)
	case m.RCode != "No Error":
		p.DNS = fmt.Sprintf("answer %s %s", m.RCode, name)
		return fmt.Sprintf("The DNS server answers with an error: %s.", m.RCode)
	case len(vals) == 0:
		p.DNS = fmt.Sprintf("answer %s %s (none)", qtype, name)
		return fmt.Sprintf("The DNS server answers: %s exists but has no %s record.", name, qtype)
	}
	p.DNS = fmt.Sprintf("answer %s %s %s", qtype, name, strings.Join(vals, " "))
	return fmt.Sprintf("The DNS server answers: %s has %s %s (TTL %d s).", name, qtype, strings.Join(vals, ", "), m.Answers[0].TTL)
}

func typeMeaning(qtype string) string {
	switch qtype {
	case "A":
		return "A records hold IPv4 addresses."
	case "AAAA":
		return "AAAA records hold IPv6 addresses; Go asks for both families at once when the network is plain \"tcp\"."
	}
	return qtype + " is the record type asked for."
}

// options formats SYN options compactly: "mss 65495 sack ts ws 7".
func options(o capture.TCPOptions) string {
	var s []string
	if o.MSS != 0 {
		s = append(s, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.SACKPermitted {
		s = append(s, "sack")
	}
	if o.HasTimestamps {
		s = append(s, "ts")
	}
	if o.HasWindowScale {
		s = append(s, fmt.Sprintf("ws %d", o.WindowScale))
	}
	return strings.Join(s, " ")
}

// describeOptions explains SYN options in words.
func describeOptions(o capture.TCPOptions) string {
	var s []string
	if o.MSS != 0 {
		s = append(s, fmt.Sprintf("segments up to %d bytes (MSS)", o.MSS))
	}
	if o.HasWindowScale {
		s = append(s, fmt.Sprintf("window values scaled by 2^%d (window scale)", o.WindowScale))
	}
	if o.SACKPermitted {
		s = append(s, "selective acknowledgements allowed (SACK)")
	}
	if o.HasTimestamps {
		s = append(s, "timestamps on every segment, to measure round trips")
	}
	return strings.Join(s, "; ")
}
