package wire

import (
	"strings"
	"time"

	"tcptour/tracer/capture"
)

// Analysis is what the sequence analysis makes of a TCP segment beyond
// its flags, given the segments before it: a set of findings, each
// named as Wireshark's TCP analysis names it (tcp.analysis.*), so that a
// capture shows the same in tshark and here. The analysis follows
// Wireshark's tcp_analyze_sequence_number: it works from the packets
// alone, as a capture file does, and so says what the packets show, not
// which of the sender's timers or algorithms was at work.
type Analysis uint32

// The findings, with Wireshark's names in the comments
// (tcp.analysis.…).
const (
	// Retransmission: data (or a SYN or FIN) the sender had sent
	// before (retransmission).
	Retransmission Analysis = 1 << iota
	// FastRetransmission: a retransmission of the byte two or more
	// duplicate ACKs asked for, within 20 ms of the last of them
	// (fast_retransmission).
	FastRetransmission
	// SpuriousRetransmission: data the receiver had already
	// acknowledged, sent again (spurious_retransmission).
	SpuriousRetransmission
	// OutOfOrder: data numbered below what the sender had already
	// sent, seen within a round trip of it: reordered, not resent
	// (out_of_order).
	OutOfOrder
	// LostSegment: data numbered beyond what was seen of the sender so
	// far: something before it was not captured (lost_segment,
	// "previous segment not captured").
	LostSegment
	// AckedUnseen: an ACK of data the capture never saw
	// (ack_lost_segment, "ACKed segment that wasn't captured").
	AckedUnseen
	// DuplicateAck: an ACK that repeats the sender's last one, with
	// the same window and no data: the receiver is missing the byte it
	// acknowledges (duplicate_ack).
	DuplicateAck
	// ZeroWindow: the sender advertises a window of 0: its receive
	// buffer is full (zero_window).
	ZeroWindow
	// ZeroWindowProbe: a probe of the peer's zero window: the next
	// byte alone (Wireshark's zero_window_probe), or, as Linux sends
	// it, no data and a sequence number one below the next byte (which
	// Wireshark calls a keep_alive).
	ZeroWindowProbe
	// ZeroWindowProbeAck: the answer to a zero-window probe
	// (zero_window_probe_ack).
	ZeroWindowProbeAck
	// KeepAlive: no new data, numbered one below the next byte: a
	// keepalive, or Linux's zero-window probe (keep_alive).
	KeepAlive
	// KeepAliveAck: the answer to a keep-alive (keep_alive_ack).
	KeepAliveAck
	// WindowUpdate: an ACK that only changes the window (window_update).
	WindowUpdate
	// WindowFull: data that fills the peer's window to its last byte
	// (window_full).
	WindowFull

	// The findings below are ours: Wireshark has no name for them. They
	// name the sender's reason for a retransmission as far as the
	// packets show it (timing and what came back), not as its kernel
	// knows it.

	// TailLossProbe: the first copy more of the last segment sent, with
	// no duplicate ACK and nothing acknowledged for more than two
	// round trips: what Linux's tail loss probe sends (RFC 8985 7).
	TailLossProbe
	// RTO: the first unacknowledged segment sent again with no duplicate
	// ACK and nothing heard from the peer for more than two round trips,
	// after a copy sent again already, or not the last segment sent:
	// what the retransmission timer sends (RFC 6298).
	RTO
)

var analysisNames = [...]string{
	"retransmission", "fast-retransmission", "spurious-retransmission", "out-of-order",
	"previous-segment-not-captured", "ack-of-unseen-segment", "duplicate-ack", "zero-window",
	"zero-window-probe", "zero-window-probe-ack", "keep-alive", "keep-alive-ack",
	"window-update", "window-full", "tail-loss-probe", "rto",
}

// Has reports whether all of the findings in b are in a.
func (a Analysis) Has(b Analysis) bool { return a&b == b }

// Names lists the findings by their names in the JSON output
// (docs/trace-format.md): "retransmission", "duplicate-ack", … Wireshark
// spells them with underscores (tcp.analysis.duplicate_ack); its
// lost_segment is "previous-segment-not-captured" here, as its expert
// info says, and its ack_lost_segment "ack-of-unseen-segment". Both
// kinds of retransmission that have a kind (fast, spurious) are listed
// with "retransmission" too.
func (a Analysis) Names() []string {
	if a == 0 {
		return nil
	}
	var names []string
	for i, n := range analysisNames {
		if a&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return names
}

// String lists the names, space separated.
func (a Analysis) String() string { return strings.Join(a.Names(), " ") }

// firstRTTFallback is the out-of-order threshold before the handshake's
// round trip is known: Wireshark's 3 ms.
const firstRTTFallback = 3 * time.Millisecond

// fastWindow is how soon after the last duplicate ACK a resend of the
// byte they asked for counts as a fast retransmission: Wireshark's
// 20 ms.
const fastWindow = 20 * time.Millisecond

// maxSent bounds the unacknowledged data segments a direction
// remembers, for the time of each one's first transmission.
const maxSent = 1024

// flow is the sequence analysis's view of one direction of a
// connection: what its sender has sent and acknowledged, as Wireshark's
// tcp_analyze_seq_info keeps it. Sequence numbers are raw.
type flow struct {
	noTLP    bool      // its sender sends no tail loss probe
	nextseq  uint32    // the sequence number after the highest byte sent (and SYN or FIN)
	haveNext bool      // nextseq is known
	nextTime time.Time // when nextseq last moved
	maxToAck uint32    // the end of the data seen without a gap: what the peer may acknowledge
	haveMax  bool      //
	lastack  uint32    // the acknowledgement number of its last segment with ACK
	haveAck  bool      //
	ackTime  time.Time // when it sent that ACK
	window   int       // the window of its last segment, in bytes when the scale is known
	haveWin  bool      //
	synWin   bool      // that window was in its SYN or SYN-ACK (not scaled)
	dupacks  int       // its duplicate ACKs since its acknowledgement number last changed
	// sackBlocks are the SACK blocks of its last ACK (raw numbers of
	// the peer's stream).
	sackBlocks []capture.SACKBlock
	// unseenMarked: the peer's ACK of data of this direction that the
	// capture did not see was marked since this direction's last
	// segment.
	unseenMarked bool
	lastFlags    Analysis         // the findings of its last segment
	lastSeg      time.Time        // when it sent its last segment
	lastEnd      uint32           // the sequence number after its last segment (its SYN or FIN counted)
	lastCtl      capture.TCPFlags // its last segment's SYN and FIN flags
	lastLen      int              // its last segment's payload bytes
	sent         []sent           // its data segments not yet acknowledged, oldest first
	// srtt is the round trip its data takes to be acknowledged,
	// smoothed as RFC 6298 does, from segments sent once (Karn's rule);
	// 0 until one is acknowledged.
	srtt time.Duration
	// sackAcks counts its ACKs in a row that repeat its acknowledgement
	// number with SACK blocks, whatever their window (the sender counts
	// them as RFC 6675 does, Wireshark only those with the same
	// window); sacked is how many bytes above that number the last one
	// holds.
	sackAcks int
	sacked   uint32
	// ids are the IPv4 IDs of its last data, SYN or FIN segments, with
	// their sequence numbers and lengths, a ring (next at idNext): a
	// segment that repeats one, ID and all, is a copy the network made.
	ids    [8]segID
	idNext int
	// maxID is the highest IPv4 ID seen from this sender (not 0; in
	// the order of 16-bit serial numbers): Linux numbers each packet a
	// socket sends, so a packet with a lower one was sent before one
	// already seen.
	maxID     uint16
	haveMaxID bool
}

// segID is a segment's sequence number, payload length and IPv4 ID.
type segID struct {
	seq uint32
	len int
	id  uint16
	ok  bool
}

// copyOf reports whether a segment with this sequence number, length
// and IPv4 ID was seen before, and remembers it: Linux numbers each
// packet a socket sends, so a resend has an ID of its own, and the same
// ID again is the same packet, duplicated on the way.
func (f *flow) copyOf(seq uint32, n int, id uint16) bool {
	s := segID{seq, n, id, true}
	for _, x := range f.ids {
		if x == s {
			return true
		}
	}
	f.ids[f.idNext] = s
	f.idNext = (f.idNext + 1) % len(f.ids)
	return false
}

// idOrder says where id falls among the IPv4 IDs seen from this sender:
// -1 below the highest (sent before a packet already seen), +1 above it
// (sent after all of them), 0 when it cannot tell (no ID, none seen
// before, the same). Then it remembers id.
func (f *flow) idOrder(id uint16) int {
	if id == 0 {
		return 0
	}
	order := 0
	if f.haveMaxID {
		switch d := int16(id - f.maxID); {
		case d < 0:
			order = -1
		case d > 0:
			order = 1
		}
	}
	if !f.haveMaxID || order > 0 {
		f.maxID, f.haveMaxID = id, true
	}
	return order
}

// sent is a segment's worth of sequence numbers and when it was first
// and last sent.
type sent struct {
	seq, end    uint32
	first, last time.Time
	copies      int
	gap         time.Duration // between its last two copies
	prevGap     time.Duration // between the two before
	lastKind    Analysis      // what its last copy was found to be
}

// verdict is what the analysis found of one segment, with the facts the
// notes give as evidence.
type verdict struct {
	flags Analysis
	// dupacks is this duplicate ACK's number in its run (1 for the
	// first); for a fast retransmission, how many the peer had sent.
	dupacks int
	// For a retransmission: when those bytes were first sent and last
	// sent before, and how many copies there had been (0 when the
	// capture missed the first transmission).
	first, last time.Time
	copies      int
	// gap is the wait before this copy: since the last copy, or since
	// the peer's last ACK if that came later; prevGap the wait between
	// the two copies before (0 if there was one copy); prevKind what the
	// copy before was found to be.
	gap, prevGap time.Duration
	prevKind     Analysis
	// rtt is the round trip the timing was judged by (0: unknown).
	rtt time.Duration
	// sackAcks: for a retransmission, or a segment out of order, of the
	// byte the peer's ACKs asked for, how many ACKs in a row had asked
	// for it with SACK blocks, and sacked how many bytes beyond it the
	// last one held.
	sackAcks int
	sacked   uint32
	// dsack: the segment's first SACK block is a D-SACK (RFC 2883):
	// below its ACK, or inside its second block.
	dsack bool
}

// analyze runs the sequence analysis on a segment of me's direction
// (peer is the other one) that carries seglen bytes, and updates both
// directions' state. win is its window in bytes (scaled when known),
// winKnown whether the connection's windows are known in bytes (both
// SYNs were seen, and so the scale, if any), firstRTT the
// handshake's round trip (0 if unknown).
func analyze(me, peer *flow, t *capture.TCPSegment, seglen int, win int, winKnown bool, at time.Time, firstRTT time.Duration) verdict {
	var v verdict
	seq, ack, f := t.Seq, t.Ack, t.Flags
	ctl := f.Has(capture.SYN) || f.Has(capture.FIN) || f.Has(capture.RST)
	hasAck := f.Has(capture.ACK)

	switch {
	case seglen == 1 && me.haveNext && seq == me.nextseq && peer.haveWin && peer.window == 0 && !ctl:
		// Wireshark's zero-window probe: the next byte alone.
		v.flags |= ZeroWindowProbe
	default:
		if win == 0 && !ctl {
			v.flags |= ZeroWindow
		}
		if me.haveNext && after(seq, me.nextseq) && !f.Has(capture.RST) {
			v.flags |= LostSegment
		}
		if seglen <= 1 && !ctl && me.haveNext && seq == me.nextseq-1 {
			v.flags |= KeepAlive
			if seglen == 0 && peer.haveWin && peer.window == 0 {
				// Linux probes a zero window so.
				v.flags |= ZeroWindowProbe
			}
		}
		sameAck := seglen == 0 && !ctl && hasAck && me.haveNext && seq == me.nextseq && me.haveAck && ack == me.lastack
		if sameAck && win != 0 && me.haveWin && !me.synWin && win != me.window {
			v.flags |= WindowUpdate
		}
		// The peer's window may be its SYN's, in bytes as it is: a
		// SYN's window is never scaled (as Wireshark takes it).
		if seglen > 0 && !ctl && winKnown && peer.haveAck && peer.haveWin && seq+uint32(seglen) == peer.lastack+uint32(peer.window) {
			v.flags |= WindowFull
		}
		switch {
		case sameAck && me.haveWin && win == me.window && peer.lastFlags&(KeepAlive|ZeroWindowProbe) != 0:
			// The answer to a keep-alive, or to a zero-window probe;
			// Linux's probe is both.
			if peer.lastFlags.Has(KeepAlive) && win != 0 {
				v.flags |= KeepAliveAck
			}
			if peer.lastFlags.Has(ZeroWindowProbe) && win == 0 {
				v.flags |= ZeroWindowProbeAck
			}
		case sameAck && win != 0 && me.haveWin && win == me.window && !v.flags.Has(WindowUpdate) && !v.flags.Has(KeepAlive):
			me.dupacks++
			v.flags |= DuplicateAck
			v.dupacks = me.dupacks
		}
	}
	if !v.flags.Has(DuplicateAck) && (!hasAck || !me.haveAck || ack != me.lastack) {
		// A new acknowledgement number ends a run of duplicate ACKs
		// (as Wireshark counts them: not a window update, nor data,
		// with the same number).
		me.dupacks = 0
	}
	me.unseenMarked = false
	if hasAck && peer.haveMax && after(ack, peer.maxToAck) {
		// As Wireshark 4.0: once, and not again for the ACKs that
		// follow until the peer sends a segment.
		peer.maxToAck = peer.nextseq
		if !peer.unseenMarked {
			v.flags |= AckedUnseen
		}
		peer.unseenMarked = true
	}

	// Data, a SYN or a FIN numbered below what was sent already: sent
	// again, or out of order.
	if (seglen > 0 || f.Has(capture.SYN) || f.Has(capture.FIN)) && !v.flags.Has(KeepAlive) && !v.flags.Has(ZeroWindowProbe) {
		notAdvanced := me.haveNext && before(seq, me.nextseq)
		threshold := firstRTT
		if threshold == 0 {
			threshold = firstRTTFallback
		}
		end := seq + uint32(seglen)
		// The sequence number after it, its SYN or FIN counted: a
		// copy of the last segment sent, SYN-ACK or FIN, is not out
		// of order.
		endCtl := end
		if f.Has(capture.SYN) || f.Has(capture.FIN) {
			endCtl++
		}
		switch {
		case notAdvanced && peer.dupacks >= 2 && peer.lastack == seq && at.Sub(peer.ackTime) < fastWindow:
			v.flags |= Retransmission | FastRetransmission
			v.dupacks = peer.dupacks
		case notAdvanced && at.Sub(me.nextTime) < threshold && me.nextseq != endCtl:
			v.flags |= OutOfOrder
		case seglen > 0 && peer.haveAck && !after(end, peer.lastack):
			v.flags |= Retransmission | SpuriousRetransmission
		case notAdvanced:
			v.flags |= Retransmission
		}
		if v.flags.Has(OutOfOrder) && peer.sackAcks > 0 && peer.lastack == seq {
			// Out of order by its timing (sent less than a round
			// trip after higher bytes), and asked for by ACKs with
			// SACK blocks: a resend in the middle of a transfer.
			v.sackAcks, v.sacked = peer.sackAcks, peer.sacked
		}
		if v.flags.Has(OutOfOrder) {
			// Out of order by its timing; a copy of it seen before
			// makes it one sent again.
			_, v.first, v.last, v.copies = me.resent(seq, at)
			v.rtt = roundTrip(me.srtt, firstRTT)
		}
		if v.flags.Has(Retransmission) {
			v.rtt = roundTrip(me.srtt, firstRTT)
			var s *sent
			s, v.first, v.last, v.copies = me.resent(seq, at)
			if peer.sackAcks > 0 && peer.lastack == seq && !v.flags.Has(FastRetransmission) {
				v.sackAcks, v.sacked = peer.sackAcks, peer.sacked
			}
			if (s != nil || f.Has(capture.SYN)) && v.sackAcks == 0 {
				// A SYN the capture saw acknowledged is forgotten:
				// judged by its timing alone.
				v.flags |= me.timer(peer, s, &v, f.Has(capture.SYN), at)
			}
			if s != nil {
				s.lastKind = v.flags
			}
		}
	}
	if hasAck && len(t.Options.SACK) > 0 {
		b := t.Options.SACK
		v.dsack = !after(b[0].Right, ack) ||
			(len(b) > 1 && !before(b[0].Left, b[1].Left) && !after(b[0].Right, b[1].Right))
	}
	switch {
	case !hasAck || ctl || seglen > 0:
	case me.haveAck && ack == me.lastack && len(t.Options.SACK) > 0:
		me.sackAcks++
		me.sacked = 0
		for _, b := range t.Options.SACK {
			if after(b.Right, ack) && after(b.Right, b.Left) {
				me.sacked += b.Right - max32(b.Left, ack)
			}
		}
	default:
		me.sackAcks = 0
	}

	// Remember, for the segments that follow.
	next := seq + uint32(seglen)
	if f.Has(capture.SYN) || f.Has(capture.FIN) {
		next++
	}
	if !v.flags.Has(ZeroWindowProbe) {
		if !me.haveNext || after(next, me.nextseq) {
			if seglen > 0 || f.Has(capture.SYN) || f.Has(capture.FIN) {
				me.record(seq, next, at)
			}
			me.nextseq, me.haveNext, me.nextTime = next, true, at
		}
		if !me.haveMax || seq == me.maxToAck {
			me.maxToAck, me.haveMax = me.nextseq, true
		}
	}
	if !f.Has(capture.RST) {
		me.window, me.haveWin, me.synWin = win, true, f.Has(capture.SYN)
		if hasAck {
			me.lastack, me.haveAck, me.ackTime = ack, true, at
			me.sackBlocks = append(me.sackBlocks[:0], t.Options.SACK...)
			peer.acked(ack, at)
		}
	}
	me.lastFlags, me.lastSeg = v.flags, at
	me.lastEnd, me.lastCtl, me.lastLen = next, f&(capture.SYN|capture.FIN), seglen
	return v
}

// roundTrip is the round trip a resend's timing is judged by: the
// sender's data's, or the handshake's if longer. Data's round trip is
// measured from the data seen to its ACK seen, whole only where the
// sender's packets are captured: at the receiver's end it is the
// receiver's delay in answering. The handshake's (SYN to the last ACK)
// spans a whole round trip at any point of capture.
func roundTrip(srtt, firstRTT time.Duration) time.Duration { return max(srtt, firstRTT) }

// record remembers data first sent at at.
func (f *flow) record(seq, end uint32, at time.Time) {
	if len(f.sent) >= maxSent {
		f.sent = f.sent[1:]
	}
	f.sent = append(f.sent, sent{seq: seq, end: end, first: at, last: at, copies: 1})
}

// resent finds the segment holding seq, counts a copy more of it, and
// returns it, when it was first and last sent and how many copies came
// before this one; nil and zeros when the capture did not see it.
func (f *flow) resent(seq uint32, at time.Time) (s *sent, first, last time.Time, copies int) {
	for i := len(f.sent) - 1; i >= 0; i-- {
		s := &f.sent[i]
		if !before(seq, s.seq) && before(seq, s.end) {
			first, last, copies = s.first, s.last, s.copies
			s.prevGap, s.gap = s.gap, at.Sub(s.last)
			s.last = at
			s.copies++
			return s, first, last, copies
		}
	}
	return nil, time.Time{}, time.Time{}, 0
}

// timer judges a plain retransmission of s (its copy just counted; nil
// for a SYN whose first copy was acknowledged already): a
// tail loss probe or the retransmission timer's, by what the packets
// show, or neither (0) when ACKs came in between, as in a recovery that
// SACK leads. v gets the waits.
func (f *flow) timer(peer *flow, s *sent, v *verdict, syn bool, at time.Time) Analysis {
	if s == nil {
		s = &sent{}
	}
	v.prevGap, v.prevKind = s.prevGap, s.lastKind
	// The wait: since the sender last sent, or last heard from the
	// peer (a timer starts again at either), whichever came later.
	since := v.last
	if f.lastSeg.After(since) {
		since = f.lastSeg
	}
	if peer.lastSeg.After(since) {
		since = peer.lastSeg
	}
	v.gap = at.Sub(since)
	s.gap = v.gap // the wait, for the backoff of the next copy
	// The first unacknowledged segment: the peer's ACK points into it.
	first := !peer.haveAck || (!before(peer.lastack, s.seq) && before(peer.lastack, s.end))
	switch {
	case peer.dupacks > 0 || (v.rtt > 0 && v.gap < 2*v.rtt) || v.gap < firstRTTFallback:
		// Duplicate ACKs came, or not long enough a silence for a
		// timer: sent again on the ACKs' word, or in answer to a
		// segment (a SYN-ACK to a SYN sent again).
		return 0
	case syn:
		// A SYN or SYN-ACK has a timer of its own (1 s at first).
		return RTO
	case v.copies == 1 && s.end == f.nextseq && !f.noTLP:
		return TailLossProbe
	case first:
		return RTO
	}
	return 0
}

// acked forgets the segments the peer's ack covers, and takes the
// round trip of the last one sent once.
func (f *flow) acked(ack uint32, at time.Time) {
	n := 0
	for n < len(f.sent) && !after(f.sent[n].end, ack) {
		n++
	}
	if n > 0 && f.sent[n-1].copies == 1 {
		sample := at.Sub(f.sent[n-1].first)
		if f.srtt == 0 {
			f.srtt = sample
		} else {
			f.srtt += (sample - f.srtt) / 8
		}
	}
	if n > 0 {
		f.sent = append(f.sent[:0], f.sent[n:]...)
	}
}

// max32 returns the later of two sequence numbers.
func max32(a, b uint32) uint32 {
	if after(a, b) {
		return a
	}
	return b
}

// before reports whether sequence number a comes before b, modulo 2^32.
func before(a, b uint32) bool { return int32(a-b) < 0 }
