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
	"encoding/hex"
	"hash/maphash"
	"net/netip"
	"slices"
	"strconv"
	"time"

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
	// noProbes is set where the senders send no tail loss probe (their
	// kernels have net.ipv4.tcp_early_retrans = 0): a lone resent tail
	// is then the retransmission timer's.
	noProbes bool
	// oneEnd names the end of a link the annotator sees the packets at,
	// where segments may be lost on the way (see AtEnd); "" elsewhere.
	oneEnd string
	// numbers numbers the connections (see NumberConns); nil: no
	// numbers.
	numbers *ConnNumbers
	// buf is where a segment's note is built, kept for the next.
	buf []byte
	// notes are the notes made, to give the same string again rather
	// than a copy: most segments of a capture repeat another's note.
	notes interned
	// synOptions are the Options of the SYNs seen, by their values:
	// most SYNs of a capture offer the same.
	synOptions map[synOptionsKey]string
	// cookies are the TCP Fast Open cookies servers' SYN-ACKs gave, by
	// the server's address and the client's, with when.
	cookies map[[2]netip.Addr]givenCookie
}

// givenCookie is a Fast Open cookie a server gave, and when.
type givenCookie struct {
	cookie []byte
	at     time.Time
}

// AtEnd tells the annotator that it sees the packets at one end of a
// link that may lose them (a lesson's link, one interface of a file
// captured at several), the end named name: a note on a segment that
// end sends says what it does to its receiver if it arrives, since the
// sender's end cannot see whether it did. The name is the end's role,
// "client" or "server", when known: a segment the end received arrived.
// Any other name, or "client" and "server" for a connection whose roles
// are the other way round, makes every such note conditional. "" turns
// it off.
func (a *Annotator) AtEnd(name string) { a.oneEnd = name }

// NoTailLossProbes tells the annotator that the senders it sees send no
// tail loss probes from the next connection on, as their kernels'
// net.ipv4.tcp_early_retrans = 0 says: what the packets alone cannot
// tell (a probe and the timer may fire at about the same time).
func (a *Annotator) NoTailLossProbes(on bool) { a.noProbes = on }

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
	established bool // the handshake's last ACK was seen
	scaled      bool // both SYNs offered window scaling
	synOnly     bool // only the client's SYN has been seen
	sawSynAck   bool // the server's SYN-ACK was captured
	sawSYNs     bool // both sides' SYNs were captured: windows are in bytes
	// rawWindows is set when the capture cut a SYN's options before a
	// window scale option, if there was one, while neither SYN says
	// that scaling is off: the scale is unknown, and the windows are
	// the header's raw field.
	rawWindows bool
	ended      bool          // its last FIN was acknowledged, or RST came
	crossed    bool          // its FINs crossed: each was sent before the other arrived
	synData    int           // the bytes of data the client's SYN carried (TCP Fast Open)
	hsAckTime  time.Time     // when the handshake's last ACK was seen
	synAckTime time.Time     // when the server's last SYN-ACK was seen
	num        int           // its number (see NumberConns), 0 for none yet
	seen       uint64        // the Annotator's tick at its last segment
	synTime    time.Time     // when the client's first SYN was seen
	firstRTT   time.Duration // from the SYN to the handshake's last ACK
	endTime    time.Time     // when it ended (see ended)
	// prev is the connection this one's SYN followed on the same
	// five-tuple (its own prev let go), nil if none.
	prev *conn
	// ref is what a trace remembers of it (see EventFor).
	ref tracer.ConnRef
}

// side is one direction of a connection: what its sender has done.
type side struct {
	flow
	isn      uint32
	haveISN  bool
	wscale   uint8
	offersWS bool
	sackOK   bool      // its SYN offered SACK (SACK permitted)
	finSeq   uint32    // relative sequence number of its FIN
	finTime  time.Time // when its FIN was last sent
	sentFIN  bool
	finAcked bool // the peer has acknowledged this side's FIN
	firstFIN bool // this side sent the connection's first FIN
	sentSYN  bool // it has sent its SYN (or SYN-ACK)
	synCut   bool // the capture cut its SYN's options
	// wsUnknown: the capture cut its SYN's options, and those kept
	// hold no window scale.
	wsUnknown bool
	synTime   time.Time
	sentRST   bool      // it has sent a RST (seen at this point)
	rstTime   time.Time // when it sent its first RST
	// keepIdle is the time without a segment either way before its
	// last keep-alive (its keepalive idle time, as this point saw it).
	keepIdle time.Duration
	// tsval is the timestamp of its last segment that had one.
	tsval  uint32
	haveTS bool
}

// sideOf returns the direction whose sender is src, one of the
// connection's two addresses.
func (c *conn) sideOf(src netip.AddrPort) *side { return &c.sides[c.index(src)] }

// index is the index in sides of the direction whose sender is src.
func (c *conn) index(src netip.AddrPort) int {
	if src == c.lower {
		return 0
	}
	return 1
}

// after reports whether sequence number a comes after b, modulo 2^32.
func after(a, b uint32) bool { return int32(a-b) > 0 }

// Event returns the timeline event for a decoded packet: Phase
// PhasePacket, Actor "wire", the kernel's timestamp, the packet's
// five-tuple (TCP only, so that the trace gives it the connection's id,
// or its number, with NumberConns), a Packet summary and a note.
func (a *Annotator) Event(d capture.Decoded) tracer.Event {
	e, _ := a.EventFor(d)
	return e
}

// EventFor is Event, with the ConnRef of the packet's connection (nil
// for a packet that is not TCP), for [tracer.Trace.RecordFor]: the trace
// then finds the connection's id once, not by its five-tuple at each
// packet.
func (a *Annotator) EventFor(d capture.Decoded) (tracer.Event, *tracer.ConnRef) {
	var ref *tracer.ConnRef
	e := tracer.Event{Time: d.Time, Actor: "wire", Phase: tracer.PhasePacket}
	p := &tracer.Packet{Src: d.Src, Dst: d.Dst, Size: d.Length}
	e.Packet = p
	switch {
	case d.TCP != nil:
		p.Proto = "tcp"
		e.Proto, e.Local, e.Remote = "tcp", d.Src, d.Dst
		note, c := a.tcp(d, p)
		e.Note, e.Conn, ref = note+a.dnsOverTCP(d, p, &e), c.num, &c.ref
	case d.UDP != nil:
		p.Proto, p.Len = "udp", d.UDP.PayloadLen
		e.Note = a.udp(d, p, &e)
	default:
		p.Proto = d.Proto.String()
		e.Note = "A packet that is neither TCP nor UDP."
	}
	return e, ref
}

// tcp explains a TCP segment, and returns its note and its connection.
func (a *Annotator) tcp(d capture.Decoded, p *tracer.Packet) (string, *conn) {
	t := d.TCP
	k := keyOf(d.Src, d.Dst)
	c := a.connOf(k, &d)
	me, peer := c.sideOf(d.Src), c.sideOf(d.Dst)
	if a.numbers != nil {
		isSYN := t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.ACK)
		if c.num == 0 {
			c.num = a.numbers.number(k, c, d.Src, isSYN, t.Seq)
		} else if isSYN {
			a.numbers.sawSYN(k, c, d.Src, t.Seq)
		}
	}
	if t.Flags.Has(capture.SYN) {
		me.isn, me.haveISN = t.Seq, true
		// RFC 7323 §2.3: a shift above 14 is taken as 14.
		me.offersWS, me.wscale = t.Options.HasWindowScale, min(t.Options.WindowScale, 14)
		me.sackOK = t.Options.SACKPermitted
		me.synCut = t.OptionsCut
		me.wsUnknown = t.OptionsCut && !t.Options.HasWindowScale
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
	wasRaw := c.rawWindows
	if t.Flags.Has(capture.SYN) && peer.sentSYN {
		// Scaling is on when both SYNs offer it (RFC 7323 §2.2):
		// unknown while a cut SYN may have, unless the other's
		// whole options show it did not.
		maybe := func(s *side) bool { return s.offersWS || s.wsUnknown }
		c.rawWindows = maybe(me) && maybe(peer) && (me.wsUnknown || peer.wsUnknown)
	}
	winKnown := c.sawSYNs && !c.rawWindows

	from, to := "client", "server"
	if d.Src == c.server {
		from, to = "server", "client"
	}
	p.From, p.To = from, to
	p.Flags = flagNames[t.Flags]
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
		p.Options = a.options(t.Options)
		if t.Options.FastOpen && a.cookies == nil {
			a.cookies = make(map[[2]netip.Addr]givenCookie)
		}
	}
	p.Mark = mark(t.Options)

	// What came before, for the notes: read before the analysis moves on.
	n := noteCtx{c: c, me: me, peer: peer, from: from, to: to, p: p, t: t, at: d.Time, mayBeLost: a.oneEnd != "" && to != a.oneEnd, atReceiver: a.oneEnd != "" && to == a.oneEnd, ipid: d.IPID, cookies: a.cookies,
		prevNext: me.nextseq, haveNext: me.haveNext, myWin: me.window, myAck: me.lastack,
		myWinOK: me.haveWin && !me.synWin && me.haveAck && !c.rawWindows, peerWin: peer.window, peerWinOK: peer.haveWin && !peer.synWin && winKnown,
		rawNow:  c.rawWindows && !wasRaw,
		answers: !peer.lastSeg.IsZero() && peer.lastSeg.After(me.lastSeg), buf: a.buf[:0]}
	last := me.lastSeg
	if peer.lastSeg.After(last) {
		last = peer.lastSeg
	}
	if !last.IsZero() {
		n.idle = d.Time.Sub(last)
	}
	// The same IPv4 ID as a segment with the same numbers before: the
	// network's copy (an ID of 0 may be on every packet: not telling).
	occupies := p.Len > 0 || t.Flags.Has(capture.SYN) || t.Flags.Has(capture.FIN)
	n.netCopy = occupies && d.IPVersion == 4 && d.IPID != 0 && me.copyOf(t.Seq, p.Len, d.IPID)
	if d.IPVersion == 4 {
		n.prevMaxID = me.maxID
		n.idOrder = me.idOrder(d.IPID)
	}
	n.prevSACKn = copy(n.prevSACK[:], me.sackBlocks)
	n.v = analyze(&me.flow, &peer.flow, t, p.Len, p.Window, winKnown, d.Time, c.firstRTT)
	p.Analysis = n.v.flags.Names()
	p.Resent = !n.netCopy && (n.v.flags.Has(Retransmission) || n.v.copies > 0)
	if t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.ACK) {
		// The handshake's round trip is timed from the last SYN.
		c.synTime = d.Time
	}
	note := a.notes.of(n.note())
	a.buf = n.buf
	if t.Options.HasTimestamps {
		me.tsval, me.haveTS = t.Options.TSval, true
	}
	if t.Flags.Has(capture.SYN) {
		me.sentSYN = true
		c.sawSYNs = peer.sentSYN
	}
	if t.Flags.Has(capture.FIN) {
		me.finTime = d.Time
	}
	if !c.ended && (t.Flags.Has(capture.RST) || (me.finAcked && peer.finAcked)) {
		// Its end. A new SYN on the same five-tuple starts a new
		// connection; the old one is kept a while for late segments.
		c.ended, c.endTime = true, d.Time
		a.retire(endedConn{k, c})
	}
	return note, c
}

// connOf returns the connection a segment belongs to, whose key is k, a
// new one for a SYN that starts one.
func (a *Annotator) connOf(k flowKey, d *capture.Decoded) *conn {
	t := d.TCP
	c := a.conns[k]
	isSYN := t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.ACK)
	// A SYN starts a new connection on a five-tuple used before when
	// its sequence number is not the one its direction started with
	// (from its SYN, or its first segment seen, or the peer's first
	// ACK), as tshark's tcp.stream begins one: after an established
	// connection, or a refused or abandoned connect. The same SYN
	// again (a copy sent again, or one that came late) belongs to the
	// connection it began.
	if c == nil || (isSYN && c.sideOf(d.Src).haveISN && c.sideOf(d.Src).isn != t.Seq) {
		old := c
		// A new connection. Its client is the side that sent the SYN;
		// when the capture began later than that, guess: the side with
		// the higher (ephemeral) port.
		c = &conn{lower: k.a, prev: old}
		if old != nil {
			old.prev = nil
		}
		c.sides[0].noTLP, c.sides[1].noTLP = a.noProbes, a.noProbes
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
	return c
}

// retire keeps an ended connection for its late segments, letting go of
// the one that ended longest ago when maxEnded are kept.
func (a *Annotator) retire(e endedConn) {
	if len(a.ended) < maxEnded {
		a.ended = append(a.ended, e)
		return
	}
	// A ring: the oldest is at a.next.
	old := a.ended[a.next]
	if a.conns[old.k] == old.c {
		delete(a.conns, old.k)
	}
	a.ended[a.next] = e
	a.next = (a.next + 1) % maxEnded
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

// flagNames are the flags' names as capture.TCPFlags.String gives them,
// for every combination, made once rather than for every segment.
var flagNames = func() (names [256]string) {
	for f := range names {
		names[f] = capture.TCPFlags(f).String()
	}
	return names
}()

// interned gives a note made before as the same string, so that a note
// that repeats one (an echo's ten segments, the same in every
// connection) costs no allocation and leaves no garbage. A note is
// looked for in one slot, chosen by a hash of its bytes, and takes that
// slot when not there: a lookup costs a hash and a compare, and where
// notes rarely repeat (a bulk transfer's, each with its own bytes) the
// slots hold the latest.
type interned struct {
	seed  maphash.Seed
	slots *[internSlots]string
}

// internSlots is how many notes an interned holds at most.
const internSlots = 1024

// of returns b as a string: the one made before, if its slot holds it.
func (t *interned) of(b []byte) string {
	if t.slots == nil {
		t.seed, t.slots = maphash.MakeSeed(), new([internSlots]string)
	}
	slot := &t.slots[maphash.Bytes(t.seed, b)%internSlots]
	if *slot == string(b) {
		return *slot
	}
	*slot = string(b)
	return *slot
}

// synOptionsKey is what options shows of a SYN's options.
type synOptionsKey struct {
	mss                uint16
	ws                 uint8
	hasWS, sack, hasTS bool
}

// options returns options(o), made once for each set of values.
func (a *Annotator) options(o capture.TCPOptions) string {
	if o.FastOpen {
		return options(o) // rare: not kept
	}
	k := synOptionsKey{o.MSS, o.WindowScale, o.HasWindowScale, o.SACKPermitted, o.HasTimestamps}
	s, ok := a.synOptions[k]
	if !ok {
		if a.synOptions == nil || len(a.synOptions) >= 256 {
			a.synOptions = make(map[synOptionsKey]string)
		}
		s = options(o)
		a.synOptions[k] = s
	}
	return s
}

// options formats SYN options compactly: "mss 65495 sack ts ws 7".
func options(o capture.TCPOptions) string {
	b := make([]byte, 0, 32)
	word := func(w string) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
	if o.MSS != 0 {
		word("mss ")
		b = strconv.AppendUint(b, uint64(o.MSS), 10)
	}
	if o.SACKPermitted {
		word("sack")
	}
	if o.HasTimestamps {
		word("ts")
	}
	if o.HasWindowScale {
		word("ws ")
		b = strconv.AppendUint(b, uint64(o.WindowScale), 10)
	}
	switch {
	case o.FastOpen && len(o.Cookie) == 0:
		word("tfo cookie-request")
	case o.FastOpen:
		word("tfo cookie ")
		b = hex.AppendEncode(b, o.Cookie)
	}
	return string(b)
}

// mark is a segment's Mark: what tells it apart from others with the
// same numbers and flags.
func mark(o capture.TCPOptions) string {
	if !o.HasTimestamps && len(o.SACK) == 0 {
		return ""
	}
	b := make([]byte, 0, 64)
	if o.HasTimestamps {
		b = strconv.AppendUint(append(b, "ts "...), uint64(o.TSval), 10)
		b = strconv.AppendUint(append(b, ' '), uint64(o.TSecr), 10)
	}
	for _, s := range o.SACK {
		b = strconv.AppendUint(append(b, " sack "...), uint64(s.Left), 10)
		b = strconv.AppendUint(append(b, '-'), uint64(s.Right), 10)
	}
	return string(b)
}
