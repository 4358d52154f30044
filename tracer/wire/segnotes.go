package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// noteCtx is one TCP segment with what the annotator knew before it, for
// its note. Each note says what the packets show; a cause that only the
// sender's kernel knows (which timer resent a segment) is not claimed.
type noteCtx struct {
	c         *conn
	me, peer  *side // the sender's direction and the receiver's
	from, to  string
	p         *tracer.Packet
	t         *capture.TCPSegment
	at        time.Time
	v         verdict
	prevNext  uint32        // the sender's next sequence number before this segment (raw)
	haveNext  bool          //
	myWin     int           // the window the sender advertised last, before this segment
	myAck     uint32        // the acknowledgement number it sent last (raw)
	myWinOK   bool          // myWin is known and in bytes
	peerWin   int           // the window the receiver advertised last
	peerWinOK bool          //
	answers   bool          // the peer sent the last segment before this one
	idle      time.Duration // since the connection's last segment before this one, either way
	mayBeLost bool          // seen leaving one end of a link: it may not arrive
	// atReceiver: seen where it arrives, at the receiver's end of a
	// link (AtEnd): what this end shows is what it received, not
	// what the sender sent nor why.
	atReceiver bool
	// netCopy: the segment repeats one seen before, IPv4 ID and all:
	// a copy the network made, not one its sender sent again.
	netCopy bool
	ipid    uint16 // its IPv4 ID
	// idOrder is where ipid falls among the IDs seen from its sender
	// before (flow.idOrder), prevMaxID the highest of them.
	idOrder   int
	prevMaxID uint16
	rawNow    bool // with this SYN the window scale became unknown (conn.rawWindows)
	// prevSACK are the SACK blocks of the sender's ACK before this
	// segment (prevSACKn of them).
	prevSACK  [4]capture.SACKBlock
	prevSACKn int
	// cookies: the Annotator's Fast Open cookies given.
	cookies map[[2]netip.Addr]givenCookie
	// buf holds the note's sentences so far, space separated (the
	// Annotator's buffer, reused from segment to segment).
	buf []byte
}

// add appends a sentence to the note, formatted as fmt.Sprintf would
// (see appendf).
func (n *noteCtx) add(format string, args ...any) {
	if len(n.buf) > 0 {
		n.buf = append(n.buf, ' ')
	}
	n.buf = appendf(n.buf, format, args...)
}

// note explains the segment: its control flags, its FIN, its data, what
// it acknowledges, and its window.
func (n *noteCtx) note() []byte {
	n.control()
	n.fin()
	n.data()
	n.ack()
	n.window()
	return n.buf
}

// control explains RST, SYN and SYN-ACK.
func (n *noteCtx) control() {
	f, from := n.t.Flags, n.from
	switch {
	case f.Has(capture.RST):
		if n.c.synOnly && from == "server" {
			n.add("The server's kernel answers the SYN with RST: nothing listens on %s (or a firewall there rejects it with a reset), so the connection is refused (ECONNREFUSED).", n.p.Src)
			return
		}
		if !f.Has(capture.ACK) && n.answers && n.peer.haveAck && n.t.Seq == n.peer.lastack {
			// RFC 9293 3.10.7.1: the reset a kernel sends for a
			// segment that no connection of its accepts, numbered
			// with that segment's acknowledgement number.
			n.add("The %s's kernel answers the %s's last segment with RST: it holds no connection that takes that segment (its socket is gone, or its program closed it and can read nothing more), which is how a kernel answers such a segment.", from, n.to)
		} else {
			n.add("The %s's kernel sends RST: the connection is torn down at once, without the rest of the FIN exchange, and whatever the %s's kernel still held for it, unsent or unread, is thrown away.", from, from)
		}
		n.resetEffect()
		if !n.me.sentRST {
			n.me.sentRST, n.me.rstTime = true, n.at
		}
	case f.Has(capture.SYN) && !f.Has(capture.ACK):
		n.c.synOnly = true
		if n.v.flags.Has(Retransmission) {
			answered := "no SYN-ACK had come back"
			if n.c.sawSynAck && !n.c.synAckTime.IsZero() {
				// Seen where the server's SYN-ACK was captured first.
				answered = fmt.Sprintf("no SYN-ACK had reached the client, though the server's was captured %s before (lost on the way, or it crossed this SYN)", tracer.FormatDuration(n.at.Sub(n.c.synAckTime)))
			}
			n.add("The client's kernel sends its SYN again, with the same initial sequence number%s: "+answered+". "+
				"(Linux waits 1 s for a SYN's first answer; on recent kernels the next net.ipv4.tcp_syn_linear_timeouts waits are 1 s too, and only then does each wait double. "+
				"It gives up when the time that net.ipv4.tcp_syn_retries allows has passed (with the default, 6, after about 2 minutes; with 1, after 3 s), and connect fails with ETIMEDOUT, if the program set no deadline first.)", n.since(", ", n.v.last))
			return
		}
		n.add("The client's kernel sends SYN: it asks to open a connection and proposes its initial sequence number (shown as 0: numbers here are relative, as Wireshark shows them).")
		n.c.synData = n.p.Len
		if n.p.Len > 0 {
			n.add("The SYN carries %d bytes of data (%s of its stream): TCP Fast Open (RFC 7413). "+
				"The server's kernel takes them with the SYN only if the SYN holds a valid Fast Open cookie (one it gave this client on an earlier connection) and Fast Open is on for its listener; "+
				"its SYN-ACK tells: an ACK number past 1 acknowledges them.", n.p.Len, span(1, n.p.Len))
		}
		if n.p.Options != "" {
			n.add("Its options: %s.", optionWords(n.t.Options))
		}
		n.fastOpen()
		n.cutOptions()
		n.reuse()
	case f.Has(capture.SYN | capture.ACK):
		n.c.synOnly, n.c.sawSynAck = false, true
		defer func() { n.c.synAckTime = n.at }()
		if n.v.flags.Has(Retransmission) {
			if n.answers && n.peer.lastFlags.Has(Retransmission) && !n.c.established {
				// The client's SYN came again just before: Linux
				// answers a repeated SYN for a connection in its SYN
				// queue with the SYN-ACK at once (tcp_check_req),
				// without waiting for its own timer.
				n.add("The server's kernel sends its SYN-ACK again, with the same initial sequence number%s and %s after the client's SYN came again: "+
					"the server's kernel still holds the first SYN in its SYN queue and answers the repeated one with the same SYN-ACK, without waiting for its own timer.",
					n.since(", ", n.v.last), tracer.FormatDuration(n.at.Sub(n.peer.lastSeg)))
				return
			}
			if n.c.established && !n.c.hsAckTime.IsZero() {
				// Seen where the client's ACK was captured first:
				// the copy was sent before that ACK arrived.
				n.add("The server's kernel sends its SYN-ACK again, with the same initial sequence number%s, though the client's ACK of it was captured %s before: "+
					"that ACK had not reached the server when it sent this copy (they crossed on the way), or it was lost. "+
					"A server sends its SYN-ACK again on its own timer (Linux waits 1 s at first), or at once when the client's SYN comes again.",
					n.since(", ", n.v.last), tracer.FormatDuration(n.at.Sub(n.c.hsAckTime)))
				return
			}
			n.add("The server's kernel sends its SYN-ACK again, with the same initial sequence number%s: no ACK of it from the client had been captured.", n.since(", ", n.v.last))
			if n.v.flags.Has(RTO) {
				n.add("Nothing had come from the client for %s: sent on the server's SYN-ACK timer (Linux waits 1 s at first, and twice as long each time after).", tracer.FormatDuration(n.v.gap))
			}
			return
		}
		switch data := n.c.synData; {
		case data > 0 && n.p.Ack == uint32(data)+1:
			n.add("The server's kernel answers SYN-ACK: it acknowledges the SYN and the %d bytes of data it carried (ack %d): TCP Fast Open: the server's kernel took them with the SYN, and its program may read them before the handshake completes. It sends its own initial sequence number. No program took part in the answer: the listening socket's kernel answers by itself.", data, n.p.Ack)
		case data > 0 && n.p.Ack == 1:
			n.add("The server's kernel answers SYN-ACK: it acknowledges the SYN (ack 1) but not the %d bytes of data it carried: it did not take them (no valid Fast Open cookie, or Fast Open off for its listener), so the client's kernel sends them again after the handshake. It sends its own initial sequence number. No program took part: the listening socket's kernel answers by itself.", data)
		case n.p.Ack == 1:
			n.add("The server's kernel answers SYN-ACK: it acknowledges the SYN (ack 1) and sends its own initial sequence number. No program took part: the listening socket's kernel answers by itself.")
		default:
			n.add("The server's kernel answers SYN-ACK: it acknowledges the SYN and %d bytes after it (ack %d): data the SYN carried, TCP Fast Open (this capture did not see that SYN). It sends its own initial sequence number.", n.p.Ack-1, n.p.Ack)
		}
		if n.p.Options != "" {
			n.add("Its options: %s.", optionWords(n.t.Options))
		}
		n.fastOpen()
		n.cutOptions()
	}
}

// fastOpen explains a SYN's or SYN-ACK's TCP Fast Open option (RFC
// 7413): a client's cookie request, the cookie a server gives, a
// client's SYN that sends it back.
func (n *noteCtx) fastOpen() {
	o := n.t.Options
	if !o.FastOpen {
		return
	}
	syn := !n.t.Flags.Has(capture.ACK)
	switch {
	case syn && len(o.Cookie) == 0:
		n.add("Its Fast Open option is empty: a cookie request: the client's kernel asks the server's for a TCP Fast Open cookie (RFC 7413), which the server's SYN-ACK gives back if Fast Open is on for its listener, so that the client's later SYNs to this server may carry data.")
	case syn:
		k := [2]netip.Addr{n.p.Dst.Addr(), n.p.Src.Addr()}
		given, ok := n.cookies[k]
		if ok && bytes.Equal(given.cookie, o.Cookie) {
			n.add("Its Fast Open option holds the cookie %s, the one the server's SYN-ACK gave this client %s before: with it, a SYN may carry data, which the server's kernel takes at once if the cookie is still valid.", hex.EncodeToString(o.Cookie), tracer.FormatDuration(n.at.Sub(given.at)))
		} else {
			n.add("Its Fast Open option holds the cookie %s, which the server gave this client on an earlier connection (not in this capture%s): with it, a SYN may carry data, which the server's kernel takes at once if the cookie is still valid.", hex.EncodeToString(o.Cookie), otherCookie(ok))
		}
		if n.p.Len == 0 {
			n.add("This SYN carries no data, though.")
		}
	case len(o.Cookie) > 0:
		n.add("Its Fast Open option gives the client the cookie %s (RFC 7413), which the server's kernel made for the client's address: the client's kernel keeps it, and its later SYNs to this server may carry data with it.", hex.EncodeToString(o.Cookie))
		if n.cookies != nil {
			n.cookies[[2]netip.Addr{n.p.Src.Addr(), n.p.Dst.Addr()}] = givenCookie{o.Cookie, n.at}
		}
	}
}

// timeWait is how long Linux holds a closed connection's five-tuple
// in TIME_WAIT (TCP_TIMEWAIT_LEN).
const timeWait = 60 * time.Second

// reuse explains a SYN that opens a new connection on the five-tuple of
// one that ended, with its FINs, less than timeWait before: the end
// that closed first holds it in TIME_WAIT, and lets the new SYN in only
// if its numbers are newer (RFC 6191).
func (n *noteCtx) reuse() {
	old := n.c.prev
	if old == nil || !old.ended || old.endTime.IsZero() || n.at.Sub(old.endTime) >= timeWait {
		return
	}
	o := old.sideOf(n.p.Src)
	ago := tracer.FormatDuration(n.at.Sub(old.endTime))
	which := "the connection before"
	if old.num > 0 {
		which = "connection #" + strconv.Itoa(old.num)
	}
	if !(old.sides[0].finAcked && old.sides[1].finAcked) {
		n.add("It opens a new connection on the five-tuple of %s, which was reset %s before: no end holds it in TIME_WAIT after a reset.", which, ago)
		return
	}
	closer := "client"
	if old.sideOf(n.p.Dst).firstFIN {
		closer = "server"
	}
	if old.crossed {
		closer = "both"
	}
	n.add("It opens a new connection on the five-tuple of %s, which ended %s before in this capture (both FINs acknowledged).", which, ago)
	switch closer {
	case "server", "both":
		who := "The server closed first"
		if closer == "both" {
			who = "Both ends closed first (their FINs crossed)"
		}
		n.add("%s, so the server's socket still holds this five-tuple in TIME_WAIT (60 s on Linux), which is there so that a late segment of the old connection cannot be taken for part of a new one; "+
			"Linux lets a new SYN in on it, and starts a new connection, when the SYN's sequence number is above the old connection's last one from the client or its timestamp is newer than the client's last there; when the old connection used timestamps, a SYN whose timestamp is older is refused whatever its sequence number (PAWS; RFC 6191).", who)
	default:
		n.add("The client closed first, so its own socket held this five-tuple in TIME_WAIT (60 s on Linux): Linux's connect takes a port in TIME_WAIT for a new connection only with net.ipv4.tcp_tw_reuse (2, the default, allows it on loopback only) and a timestamp newer than the old connection's last (RFC 6191 asks the same).")
	}
	if o.haveNext {
		if after(n.t.Seq, o.nextseq) {
			n.add("Here the new initial sequence number (raw %d) is %d above the client's last in the old connection (raw %d, after its FIN)", n.t.Seq, n.t.Seq-o.nextseq, o.nextseq)
		} else {
			n.add("Here the new initial sequence number (raw %d) is not above the client's last in the old connection (raw %d, after its FIN)", n.t.Seq, o.nextseq)
		}
		switch {
		case o.haveTS && n.t.Options.HasTimestamps && after(n.t.Options.TSval, o.tsval):
			n.buf = appendf(n.buf, ", and its timestamp (%d) is newer than the client's last there (%d).", n.t.Options.TSval, o.tsval)
		case o.haveTS && n.t.Options.HasTimestamps:
			n.buf = appendf(n.buf, ", and its timestamp (%d) is not newer than the client's last there (%d).", n.t.Options.TSval, o.tsval)
		default:
			n.buf = append(n.buf, '.')
		}
	}
}

// otherCookie says, when the server gave this client another cookie in
// this capture, that it did.
func otherCookie(gaveOne bool) string {
	if gaveOne {
		return ", which shows another one given"
	}
	return ""
}

// cutOptions says, for a SYN or SYN-ACK whose options the capture's
// snapshot length cut, what the file lacks: the options past those
// kept, and so, maybe, the window scale.
func (n *noteCtx) cutOptions() {
	t := n.t
	if t.OptionsCut {
		o := t.Options
		var unseen []string
		if o.MSS == 0 {
			unseen = append(unseen, "MSS")
		}
		if !o.HasWindowScale {
			unseen = append(unseen, "window scale")
		}
		if !o.SACKPermitted {
			unseen = append(unseen, "SACK permitted")
		}
		if !o.HasTimestamps {
			unseen = append(unseen, "timestamps")
		}
		others := "other options"
		if len(unseen) > 0 {
			others = "other options (" + strings.Join(unseen, ", ") + ")"
		}
		if t.OptionBytes == 0 {
			n.add("The capture kept none of its %d bytes of options (its snapshot length cut them off): what they held is unknown.", t.HeaderLen-20)
		} else {
			n.add("The capture kept only the first %d of its %d bytes of options (its snapshot length cut the rest off): %s may have been there.", t.OptionBytes, t.HeaderLen-20, others)
		}
	}
	if n.rawNow {
		n.add("Whether the two ends scale their windows is unknown, since the capture cut a SYN's options before any window scale option: " +
			"the windows shown from here on are the header's raw field, not bytes (if both SYNs offered one, a window in bytes is the field times 2 to the power of the scale its sender's SYN gave; Wireshark says: window size scaling factor -1, unknown).")
	}
}

// resetEffect says what a RST does to its receiver, by what the packets
// say of the receiver's state.
func (n *noteCtx) resetEffect() {
	to, from := n.to, n.from
	// At one end of a link the RST may be lost on the way: what it does
	// is what it does if it arrives.
	arrives := ""
	if n.mayBeLost {
		arrives = "If it arrives: "
	}
	peer := n.peer
	switch {
	case peer.sentRST:
		// Seen at this point, so it left the receiver: it holds
		// nothing of the connection any more.
		n.add("The %s had reset this connection itself %s before (its RST, seen here): its kernel no longer holds the connection and discards this RST; no program hears of it (no ECONNRESET).",
			to, tracer.FormatDuration(n.at.Sub(peer.rstTime)))
	case peer.sentFIN && peer.finAcked && n.me.sentFIN && n.me.finAcked:
		n.add(arrives+"The %s had closed the connection, and both FINs were acknowledged: its socket is in TIME_WAIT or gone, and no program hears of this RST.", to)
	case n.mayBeLost && !peer.lastSeg.IsZero() && peer.lastFlags.Has(KeepAlive) && peer.keepIdle > 0 && n.at.Sub(peer.lastSeg) > 2*peer.keepIdle:
		// Its keep-alives stopped: it may have let go of the
		// connection, which this end cannot see.
		n.add("If it arrives, and the %s's kernel still holds the connection, it drops it, and its program's next Read or Write fails with ECONNRESET. "+
			"This end cannot see whether it does: the %s's last segment here was a keep-alive, %s before, sent after %s without a segment either way; it was answered, yet no keep-alive came after another such wait: "+
			"the %s may have reset or closed the connection already, or its segments were lost on the way.",
			to, to, tracer.FormatDuration(n.at.Sub(peer.lastSeg)), tracer.FormatDuration(peer.keepIdle), to)
	case peer.sentFIN:
		n.add(arrives+"The %s had already sent its FIN: if its program still holds the socket, its next Read fails with ECONNRESET; if not, no program hears of this RST, and the %s's kernel simply drops the connection.", to, to)
	case n.me.sentFIN:
		n.add(arrives+"The %s had already received the %s's FIN: its Read returns io.EOF, as it would have, and a Write fails with EPIPE (broken pipe).", to, from)
	case n.mayBeLost:
		// What the other end sent may have been lost before this end
		// saw it: it may have let go of the connection unseen.
		n.add("If it arrives, and the %s's kernel still holds the connection (this end cannot see whether it does: what the %s sent may have been lost on the way), it drops it too: "+
			"its program's next Read returns any data that had already arrived, then fails with ECONNRESET (connection reset by peer), and a Write fails with ECONNRESET or EPIPE.", to, to)
	default:
		n.add("The %s's kernel drops the connection too: its program's next Read returns any data that had already arrived, then fails with ECONNRESET (connection reset by peer), and a Write fails with ECONNRESET or EPIPE.", to)
	}
}

// fin explains a FIN: the first, or one sent again.
func (n *noteCtx) fin() {
	me, peer, p := n.me, n.peer, n.p
	if !n.t.Flags.Has(capture.FIN) {
		return
	}
	if me.sentFIN && p.Seq+uint32(p.Len) == me.finSeq {
		when := n.since(", ", me.finTime)
		if !me.finAcked {
			n.add("The %s's kernel sends its FIN again, with the same sequence number%s: no ACK of it had come back.%s", n.from, when, n.why())
		} else {
			n.add("The %s's kernel sends its FIN again, with the same sequence number%s, though the %s's ACK of it was captured: that ACK did not reach it, or crossed this FIN.", n.from, when, n.to)
		}
		return
	}
	if me.sentFIN {
		return
	}
	me.firstFIN = !peer.sentFIN
	me.finSeq = p.Seq + uint32(p.Len)
	switch {
	case peer.sentFIN && (!n.t.Flags.Has(capture.ACK) || !after(p.Ack, peer.finSeq)):
		// Its ACK number does not cover the peer's FIN: it was sent
		// before that FIN arrived.
		n.c.crossed = true
		n.add("The %s's kernel sends its FIN too, but its ACK number (%d) does not cover the %s's FIN (seq %d): it sent this FIN before the %s's FIN reached it. "+
			"The two FINs crossed on the way: a simultaneous close, in which both ends closed first (each goes from FIN_WAIT_1 to CLOSING, then TIME_WAIT).",
			n.from, p.Ack, n.to, peer.finSeq, n.to)
	case peer.sentFIN:
		n.add("The %s's kernel sends its FIN too: it has nothing more to send either.", n.from)
	default:
		n.add("The %s's kernel sends FIN: the %s will send no more data (its program called Close or CloseWrite, or exited). The FIN takes one sequence number.", n.from, n.from)
	}
	me.sentFIN = true
}

// data explains the bytes a segment carries: new ones, ones sent again,
// ones out of order.
func (n *noteCtx) data() {
	p, f, v := n.p, n.t.Flags, n.v.flags
	if p.Len == 0 || f.Has(capture.SYN) {
		return
	}
	first := p.Seq
	bytes := byteSpan{first, p.Len}
	switch {
	case v.Has(ZeroWindowProbe):
		n.add("The %s's kernel sends a zero-window probe: the %s's window is 0, so it sends just its next byte (byte %d of its stream) to learn whether the window has opened. %s",
			n.from, n.to, first, n.probeAnswer())
		return
	case n.netCopy && (v.Has(Retransmission) || v.Has(OutOfOrder)):
		ws := "a retransmission"
		switch {
		case v.Has(SpuriousRetransmission):
			ws = "a spurious retransmission"
		case v.Has(OutOfOrder):
			ws = "out of order"
		}
		n.add("A second copy of %s of the %s's stream, with the same IPv4 ID (0x%s) as the copy seen before: the network duplicated that packet; the %s did not send it again (Linux numbers each packet a socket sends, so a copy sent again has an ID of its own). Wireshark calls it %s.",
			bytes, n.from, hex4(n.ipid), n.from, ws)
	case n.atReceiver && (v.Has(Retransmission) || v.Has(OutOfOrder)) && !v.Has(SpuriousRetransmission):
		n.arrivesAgain(bytes)
	case v.Has(SpuriousRetransmission) && n.v.copies == 0:
		// The first copy is forgotten once acknowledged.
		n.add("The %s's kernel sends %s of its stream again, though the %s had already acknowledged them (ack %d): this copy was not needed: a spurious retransmission, or a copy of a segment that the network duplicated.",
			n.from, bytes, n.to, n.peer.lastack-n.me.isn)
	case v.Has(SpuriousRetransmission):
		n.add("The %s's kernel sends %s of its stream again%s, though the %s had already acknowledged them (ack %d): this copy was not needed (a spurious retransmission).",
			n.from, bytes, n.resendWhen(), n.to, n.peer.lastack-n.me.isn)
	case v.Has(FastRetransmission):
		n.add("The %s's kernel sends %s of its stream again%s, right after %d duplicate ACKs from the %s, each asking for byte %d: a fast retransmission, on the duplicate ACKs' word rather than after a timeout.",
			n.from, bytes, n.resendWhen(), n.v.dupacks, n.to, first)
	case v.Has(Retransmission) && n.v.sackAcks >= 3:
		n.add("The %s's kernel sends %s of its stream again%s, after %d ACKs in a row from the %s that asked for byte %d with SACK blocks, the last holding %d bytes beyond it: a fast retransmit on the SACK blocks' word (RFC 6675: Linux resends a hole once about three segments' worth beyond it is SACKed), not a timer's. "+
			"Wireshark counts as duplicate ACKs only those with an unchanged window, so it may call this a plain retransmission.",
			n.from, bytes, n.resendWhen(), n.v.sackAcks, n.to, first, n.v.sacked)
	case v.Has(Retransmission) && n.v.sackAcks > 0:
		acks := fmt.Sprintf("%d ACKs in a row", n.v.sackAcks)
		if n.v.sackAcks == 1 {
			acks = "an ACK"
		}
		n.add("The %s's kernel sends %s of its stream again%s, after %s from the %s that asked for byte %d with SACK blocks holding %d bytes beyond it: too few for a fast retransmit by duplicate ACKs, and too soon for a timer: "+
			"on the SACK blocks' word, as Linux's RACK (RFC 8985) resends a hole once a segment sent after it is SACKed and a short wait for reordering has passed.",
			n.from, bytes, n.resendWhen(), acks, n.to, first, n.v.sacked)
	case v.Has(TailLossProbe) || v.Has(RTO):
		n.add("The %s's kernel sends %s of its stream again%s.%s", n.from, bytes, n.resendWhen(), n.why())
	case v.Has(Retransmission) && n.v.copies > 0 && n.v.gap < 2*n.v.rtt:
		n.add("The %s's kernel sends %s of its stream again%s: a retransmission, %s after the last word from the %s, less than two round trips (%s here): too soon for a timer, so on what the ACKs before it showed missing (their SACK blocks, or, as Linux's RACK does, the later bytes they acknowledged).",
			n.from, bytes, n.resendWhen(), tracer.FormatDuration(n.v.gap), n.to, tracer.FormatDuration(n.v.rtt))
	case v.Has(Retransmission) && n.sackHole():
		n.add("The %s's kernel sends %s of its stream again%s: a retransmission, of bytes the %s's last ACK (ack %d) showed missing: its SACK blocks held bytes beyond them.",
			n.from, bytes, n.resendWhen(), n.to, n.peer.lastack-n.me.isn)
	case v.Has(Retransmission):
		n.add("The %s's kernel sends %s of its stream again%s: a retransmission.", n.from, bytes, n.resendWhen())
	case v.Has(OutOfOrder) && n.v.sackAcks >= 3 && n.v.copies > 0:
		n.add("The %s's kernel sends %s of its stream again%s, after %d ACKs in a row from the %s that asked for byte %d with SACK blocks, the last holding %d bytes beyond it: a fast retransmit on the SACK blocks' word (RFC 6675). "+
			"It leaves less than a round trip after higher bytes of a transfer still going, and Wireshark counts as duplicate ACKs only those with an unchanged window: so it calls this segment out of order.",
			n.from, bytes, n.resendWhen(), n.v.sackAcks, n.to, first, n.v.sacked)
	case v.Has(OutOfOrder) && n.v.sackAcks >= 3:
		// The first copy is not in the capture: a resend, or the
		// first copy late.
		n.add("The %s's kernel sent %s of its stream, after %d ACKs in a row from the %s that asked for byte %d with SACK blocks, the last holding %d bytes beyond it, and less than a round trip after higher bytes: out of order, Wireshark says. "+
			"This capture did not see them before: a fast retransmit on the SACK blocks' word (RFC 6675), or their first copy, reordered on the way.",
			n.from, bytes, n.v.sackAcks, n.to, first, n.v.sacked)
	case v.Has(OutOfOrder) && n.v.copies > 0:
		n.add("The %s's kernel sends %s of its stream again%s, less than a round trip (%s) after higher bytes it had sent: "+
			"Wireshark calls it out of order by that timing, but its first copy is in this capture: it is sent again, on what the ACKs showed (duplicate ACKs, SACK blocks, or, as Linux's RACK does, later bytes acknowledged).",
			n.from, bytes, n.resendWhen(), tracer.FormatDuration(n.oooThreshold()))
	case v.Has(OutOfOrder):
		n.add("The %s's kernel sent %s of its stream, numbered below bytes already seen from it, and they came less than a round trip (%s) after them: out of order. "+
			"They were reordered on the way, or sent again soon after a loss whose first copy this capture did not see.", n.from, bytes, tracer.FormatDuration(n.oooThreshold()))
	default:
		psh := ""
		if f.Has(capture.PSH) {
			psh = "; PSH: Linux sets it on the last segment of each write, and on the last of each group of segments its kernel builds as one large packet, cut into segments on the way out (GSO), so a long write shows several (the receiver hands data to its program with or without it)"
		}
		if p.Len == 1 {
			n.add("The %s's kernel sends 1 byte of data (%s of its stream)%s.", n.from, bytes, psh)
		} else {
			n.add("The %s's kernel sends %d bytes of data (%s of its stream)%s.", n.from, p.Len, bytes, psh)
		}
	}
	if v.Has(LostSegment) && n.haveNext && n.atReceiver {
		gap := n.t.Seq - n.prevNext
		n.add("The %d bytes before them (from byte %d) had not arrived at this end: lost on the way, still on the way (reordered), or not captured.", gap, n.prevNext-n.me.isn)
	} else if v.Has(LostSegment) && n.haveNext {
		gap := n.t.Seq - n.prevNext
		n.add("The %d bytes before them (from byte %d) were not seen in this capture: lost before the point of capture, or not captured.", gap, n.prevNext-n.me.isn)
	}
	if v.Has(WindowFull) {
		n.add("This fills the %s's window to its last byte: the %s may send no more until an ACK from the %s opens the window further.", n.to, n.from, n.to)
	}
}

// arrivesAgain explains, at the receiver's end of a link, bytes the
// analysis finds sent again or out of order: what this end shows (the
// copies it received, the ACKs it had sent asking for them), and not
// the sender's reason, which only the sender's end shows.
func (n *noteCtx) arrivesAgain(bytes byteSpan) {
	v := n.v
	switch {
	case v.copies == 0:
		n.add("This segment brings %s of the %s's stream to this end, which had not received them before, though later bytes had arrived", bytes, n.from)
	case v.copies == 1:
		n.add("This segment brings %s of the %s's stream to this end again, %s after the first copy it received", bytes, n.from, tracer.FormatDuration(n.at.Sub(v.first)))
	default:
		n.add("This segment brings %s of the %s's stream to this end again, %s after the last copy it received (copy %d, the first %s ago)", bytes, n.from, tracer.FormatDuration(n.at.Sub(v.last)), v.copies+1, tracer.FormatDuration(n.at.Sub(v.first)))
	}
	ws := "a retransmission"
	switch {
	case v.flags.Has(FastRetransmission):
		ws = "a fast retransmission"
	case v.flags.Has(OutOfOrder):
		ws = "out of order: they came less than a round trip (" + tracer.FormatDuration(n.oooThreshold()) + ") after higher bytes"
	}
	n.buf = append(n.buf, "; Wireshark calls this "...)
	n.buf = append(n.buf, ws...)
	n.buf = append(n.buf, '.')
	pf := n.peer.flow
	switch {
	case pf.haveAck && pf.lastack == n.t.Seq && pf.dupacks == 1:
		n.add("Before they came, the %s had sent a duplicate ACK asking for byte %d, %s before.",
			n.to, n.p.Seq, tracer.FormatDuration(n.at.Sub(pf.ackTime)))
	case pf.haveAck && pf.lastack == n.t.Seq && pf.dupacks > 0:
		n.add("Before they came, the %s had sent %d duplicate ACKs in a row asking for byte %d, the last %s before.",
			n.to, pf.dupacks, n.p.Seq, tracer.FormatDuration(n.at.Sub(pf.ackTime)))
	case pf.haveAck && pf.lastack == n.t.Seq && pf.sackAcks > 0:
		n.add("Before they came, the %s had sent %d ACKs in a row asking for byte %d with SACK blocks, the last holding %d bytes beyond it, %s before.",
			n.to, pf.sackAcks, n.p.Seq, pf.sacked, tracer.FormatDuration(n.at.Sub(pf.ackTime)))
	}
	switch {
	case v.copies == 0 && n.idOrder < 0:
		n.add("Its IPv4 ID (0x%s) is below that of a packet the %s sent after it, which this end received before (0x%s): if the %s numbers its packets in order, as Linux does, this is the first copy, reordered on the way, not a resend.",
			hex4(n.ipid), n.from, hex4(n.prevMaxID), n.from)
	case v.copies == 0 && n.idOrder > 0:
		n.add("Its IPv4 ID (0x%s) is above every one this end had received from the %s (the highest 0x%s), those of the later bytes included: if the %s numbers its packets in order, as Linux does, it was sent after them, so it is a resend, its first copy lost on the way here.",
			hex4(n.ipid), n.from, hex4(n.prevMaxID), n.from)
	case v.copies == 0:
		n.add("Their first copy was lost on the way here and the %s sent them again, or it was reordered on the way: this end cannot tell.", n.from)
	}
	if v.copies == 0 && n.idOrder < 0 {
		return // not sent again
	}
	n.add("Why the %s sent them when it did (duplicate ACKs, SACK blocks, a timer), and which of the %s's ACKs had reached it by then, is seen at the %s's own end, not here.", n.from, n.to, n.from)
}

// hex4 writes an IPv4 ID as tshark shows it, in 4 hex digits.
func hex4(id uint16) []byte {
	const digits = "0123456789abcdef"
	return []byte{digits[id>>12], digits[id>>8&15], digits[id>>4&15], digits[id&15]}
}

// oooThreshold is the round trip Wireshark's out-of-order test uses:
// the handshake's, or 3 ms when unknown.
func (n *noteCtx) oooThreshold() time.Duration {
	if n.c.firstRTT > 0 {
		return n.c.firstRTT
	}
	return firstRTTFallback
}

// resendWhen says when the bytes sent again were sent before, as far as
// the capture saw them.
func (n *noteCtx) resendWhen() string {
	switch v := n.v; {
	case v.copies == 0:
		return " (the capture did not see them sent before)"
	case v.copies == 1:
		return ", " + tracer.FormatDuration(n.at.Sub(v.first)) + " after the first copy"
	default:
		return fmt.Sprintf(", %s after the last copy (copy %d, the first %s ago)", tracer.FormatDuration(n.at.Sub(v.last)), v.copies+1, tracer.FormatDuration(n.at.Sub(v.first)))
	}
}

// why says, for a copy sent again on a timer, which timer the packets
// point to and on what evidence: the silence before it, against the
// round trip, and the waits of the copies before.
func (n *noteCtx) why() string {
	v := n.v
	gap := tracer.FormatDuration(v.gap)
	rtt := ""
	if v.rtt > 0 {
		rtt = fmt.Sprintf(", more than two round trips (%s here)", tracer.FormatDuration(v.rtt))
	}
	switch {
	case v.flags.Has(TailLossProbe):
		s := fmt.Sprintf(" It is the last segment the %s had sent, and for %s nothing came back from the %s%s, not one duplicate ACK: "+
			"the packets show a tail loss probe (RFC 8985), which Linux sends so that the %s's answer tells whether the tail was lost "+
			"(it waits two round trips for it, plus, when that segment is the only one not acknowledged, the minimum retransmission timeout, 200 ms by default, time for a delayed ACK; but never longer than the retransmission timer would). "+
			"(With net.ipv4.tcp_early_retrans=0 the retransmission timer would send it at about the same time; a next copy tells them apart: "+
			"after a probe the timer waits about as long again, while its own waits double.)", n.from, gap, n.to, rtt, n.to)
		return s + n.shortMinRTO()
	case v.flags.Has(RTO):
		s := fmt.Sprintf(" For %s nothing came back from the %s%s, not one duplicate ACK, and this is the first segment the %s has not acknowledged: "+
			"the retransmission timer fired (RTO, RFC 6298)", gap, n.to, rtt, n.to)
		ratio := 0.0
		if v.prevGap > 0 {
			ratio = float64(v.gap) / float64(v.prevGap)
		}
		// A wait at Linux's ceiling, or a little past it: the timer
		// wheel fires a timer that long up to about 4 s late.
		atCeiling := v.gap >= rtoMax && v.gap <= rtoMax+rtoMax/16
		prev := tracer.FormatDuration(v.prevGap)
		switch {
		case atCeiling && ratio >= 0.85 && ratio < 1.15:
			s += fmt.Sprintf(", after a wait of %s, about as long as the one before (%s): the timeout has reached its ceiling, 120 s by default (TCP_RTO_MAX), and doubles no more.", gap, prev)
		case atCeiling && ratio >= 1.15 && ratio < 1.98:
			s += fmt.Sprintf(", its wait grew to %s (from %s), less than twice: after each timeout the next waits twice as long (exponential backoff), up to a ceiling, 120 s by default (TCP_RTO_MAX).", gap, prev)
		case ratio >= 1.5 && ratio <= 2.6:
			// The kernel doubles the timeout itself; the gaps on the
			// wire also hold how late each timer fired: the timer
			// wheel rounds a timer up, by up to about an eighth of its
			// time, so a gap is 1 to 1.125 times its timeout.
			switch {
			case math.Abs(ratio-2) <= 0.02:
				s += fmt.Sprintf(", its wait doubled to %s (from %s)", gap, prev)
			case ratio >= 2/1.125-0.02 && ratio <= 2*1.125+0.02:
				s += fmt.Sprintf(", its wait about doubled, to %s from %s (%.2f times: the kernel doubles its timeout, but its timer fires a little late, by up to about an eighth of the wait, and not by the same each time)",
					gap, prev, ratio)
			default:
				s += fmt.Sprintf(", its wait grew to %s, %.2f times the one before (%s), further from twice than a late timer explains", gap, ratio, prev)
			}
			s += ": after each timeout the next waits twice as long (exponential backoff)."
			if v.prevKind.Has(TailLossProbe) {
				s += " So the copy before was the timer's too, not a probe (as with net.ipv4.tcp_early_retrans=0)."
			}
		case v.prevKind.Has(TailLossProbe) && ratio >= 0.85 && ratio <= 1.15:
			s += fmt.Sprintf(", %s after the tail loss probe, about as long as the probe had waited (%s): the probe set the timer again without doubling it; from now on each wait doubles.", gap, tracer.FormatDuration(v.prevGap))
		case v.prevKind.Has(TailLossProbe) && ratio > 0 && ratio < 1.5:
			s += fmt.Sprintf(", %s after the tail loss probe, which had waited %s: %.1f times as long, not twice: the probe set the timer again without doubling it (the timer waits the retransmission timeout, the probe its own time); from now on each wait doubles.", gap, tracer.FormatDuration(v.prevGap), ratio)
		case ratio > 0:
			s += fmt.Sprintf(", after a wait of %s (the one before was %s).", gap, tracer.FormatDuration(v.prevGap))
		default:
			s += "."
		}
		return s + n.shortMinRTO()
	}
	return ""
}

// rtoMax is Linux's ceiling of the retransmission timeout by default
// (TCP_RTO_MAX): past it the waits no longer double.
const rtoMax = 120 * time.Second

// defaultMinRTO is Linux's minimum retransmission timeout (TCP_RTO_MIN),
// which a tail loss probe for a single segment adds to two round trips.
const defaultMinRTO = 200 * time.Millisecond

// shortMinRTO says, for a resend on a timer after less than Linux's
// default minimum retransmission timeout, what the wait shows: the
// sender's minimum is set lower. Both the timer and a tail loss probe
// of a lone segment wait at least that minimum.
func (n *noteCtx) shortMinRTO() string {
	v := n.v
	lone := n.peer.haveAck && n.peer.lastack == n.t.Seq && v.copies > 0
	if v.gap >= defaultMinRTO || (!v.flags.Has(RTO) && !lone) {
		return ""
	}
	return fmt.Sprintf(" It came after %s, less than the 200 ms that Linux waits at least by default (its minimum retransmission timeout): "+
		"if the %s runs Linux, its minimum is set lower, by the route's rto_min (ip route … rto_min) or net.ipv4.tcp_rto_min_us.",
		tracer.FormatDuration(v.gap), n.from)
}

// ordinal spells 1 as 1st, 2 as 2nd, and so on.
func ordinal(i int) string { return string(nth(i).appendTo(nil)) }

// nth is an ordinal number, for a note's %s: 1st, 2nd, 3rd, 4th, 11th…
type nth int

func (i nth) appendTo(b []byte) []byte {
	suffix := "th"
	switch {
	case i%100 >= 11 && i%100 <= 13:
	case i%10 == 1:
		suffix = "st"
	case i%10 == 2:
		suffix = "nd"
	case i%10 == 3:
		suffix = "rd"
	}
	return append(strconv.AppendInt(b, int64(i), 10), suffix...)
}

// since returns sep and how long before this segment t was, or "" when
// t is unknown.
func (n *noteCtx) since(sep string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return sep + tracer.FormatDuration(n.at.Sub(t)) + " after the last copy"
}

// probeAnswer says how a zero-window probe is answered.
func (n *noteCtx) probeAnswer() string {
	return "The " + n.to + "'s kernel answers with an ACK that carries its window, " +
		"but Linux answers a segment outside the window at most once per net.ipv4.tcp_invalid_ratelimit (500 ms), so a probe may go unanswered."
}

// ack explains what an ACK acknowledges: the handshake's last ACK, a
// FIN, a probe's answer, a duplicate.
func (n *noteCtx) ack() {
	c, me, peer, p, f, v := n.c, n.me, n.peer, n.p, n.t.Flags, n.v.flags
	if !f.Has(capture.ACK) || f.Has(capture.SYN) || f.Has(capture.RST) {
		return
	}
	switch {
	case !c.established && c.sawSynAck && p.Ack == 1 && n.from == "client":
		// Its sequence number is 1, or past the data its SYN carried
		// (TCP Fast Open).
		c.established, c.hsAckTime = true, n.at
		if !c.synTime.IsZero() {
			c.firstRTT = n.at.Sub(c.synTime)
		}
		switch {
		case p.Len > 0 || f.Has(capture.FIN):
		case n.mayBeLost:
			// Seen leaving the client's end: it may not arrive.
			n.add("The client's ACK of the SYN-ACK: the client's kernel now holds an established connection, and the server's kernel will too once this ACK arrives, whether or not the server program has called Accept.")
		default:
			n.add("The client's ACK of the SYN-ACK completes the three-way handshake: both kernels now hold an established connection, whether or not the server program has called Accept.")
		}
	case peer.sentFIN && !peer.finAcked && p.Ack == peer.finSeq+1:
		peer.finAcked = true
		if len(n.buf) == 0 {
			n.add("The %s's kernel acknowledges the %s's FIN (ack %d).", n.from, n.to, p.Ack)
		} else {
			n.add("It also acknowledges the %s's FIN (ack %d).", n.to, p.Ack)
		}
		switch {
		case !me.sentFIN || !me.finAcked:
			// Its own FIN is not acknowledged yet (or not sent):
			// the connection has not ended.
		case c.crossed:
			n.add("Both FINs are now acknowledged. The FINs crossed, so both ends closed first: each socket stays in TIME_WAIT for a while (60 s on Linux), so that a late segment of this connection cannot be taken for part of a new one with the same five-tuple.")
		default:
			who := n.from
			if !me.firstFIN {
				who = n.to
			}
			n.add("Both FINs are now acknowledged. The %s sent the first FIN, so its socket stays in TIME_WAIT for a while (60 s on Linux), so that a late segment of this connection cannot be taken for part of a new one with the same five-tuple.", who)
		}
	case v.Has(ZeroWindowProbe) && p.Len == 0:
		n.add("The %s's kernel sends a zero-window probe: the %s's window is 0, so instead of data it sends a segment numbered one below its next byte (seq %d), which asks the %s's kernel for an ACK with its current window. %s "+
			"Linux sends probes on a timer that starts at the retransmission timeout and doubles each time, for as long as the window stays shut. "+
			"Wireshark calls this segment a Keep-Alive, since a keepalive looks the same.", n.from, n.to, p.Seq, n.to, n.probeAnswer())
	case v.Has(ZeroWindowProbeAck):
		n.add("The %s's kernel answers the %s's zero-window probe with an ACK (ack %d) that carries its window.", n.from, n.to, p.Ack)
	case v.Has(KeepAlive):
		me.keepIdle = n.idle
		n.add("The %s's kernel sends a keep-alive: no new data, numbered one below its next byte (seq %d), after %s without a segment either way, to learn whether the %s still holds the connection: its kernel answers with an ACK, or with RST if it no longer knows the connection. "+
			"(A socket sends them when keepalive is on for it (SO_KEEPALIVE: Go's net package turns it on by default, with 15 s): after that much idle time (TCP_KEEPIDLE, else net.ipv4.tcp_keepalive_time, 2 hours by default), then every TCP_KEEPINTVL until one is answered.)", n.from, p.Seq, tracer.FormatDuration(n.idle), n.to)
	case v.Has(KeepAliveAck):
		n.add("The %s's kernel answers the keep-alive with an ACK (ack %d): it still holds the connection.", n.from, p.Ack)
	case v.Has(DuplicateAck) && n.v.dsack && !n.holdsBeyond():
		// A D-SACK alone: a segment came twice, none is missing.
		n.add("The %s duplicate ACK in a row: the %s's kernel acknowledges byte %d again, with no data and the same window, because a segment it already had came again; nothing is missing.",
			nth(n.v.dupacks), n.from, p.Ack-1)
	case v.Has(DuplicateAck) && n.answersCopy():
		// The peer's last segment held nothing new: a copy.
		what := "a segment with bytes it already had"
		switch {
		case peer.lastCtl.Has(capture.SYN):
			what = "its SYN-ACK sent again"
		case peer.lastCtl.Has(capture.FIN) && peer.lastLen == 0:
			what = "its FIN sent again"
		}
		n.add("The %s duplicate ACK in a row: the %s's kernel acknowledges byte %d again, with no data and the same window, in answer to the %s's last segment, %s: nothing is missing; a kernel answers a segment it already had with an ACK.",
			nth(n.v.dupacks), n.from, p.Ack-1, n.to, what)
	case v.Has(DuplicateAck) && len(n.t.Options.SACK) == 0 && !n.t.OptionsCut && me.sackOK && peer.sackOK && c.sawSYNs:
		// With SACK on, a receiver that holds bytes beyond a gap
		// says so in SACK blocks.
		n.add("The %s duplicate ACK in a row: the %s's kernel acknowledges byte %d again, with no data and the same window, and without a SACK block: both ends allowed SACK, so an ACK for bytes missing before later ones would hold one. "+
			"Nothing is missing: it answers a segment it already had, a copy (the %s sent a segment more than once, or the network duplicated one).",
			nth(n.v.dupacks), n.from, p.Ack-1, n.to)
	case v.Has(DuplicateAck):
		n.add("The %s duplicate ACK in a row: the %s's kernel acknowledges byte %d again, with no data and the same window: byte %d of the %s's stream, the next it expects, has not arrived, and a later segment has.",
			nth(n.v.dupacks), n.from, p.Ack-1, p.Ack, n.to)
	case p.Len == 0 && !f.Has(capture.FIN):
		n.add("The %s's kernel acknowledges everything up to byte %d of the %s's stream (ack %d); no data in this segment.", n.from, p.Ack-1, n.to, p.Ack)
	}
	n.sack()
	n.sackCut()
	if v.Has(AckedUnseen) {
		n.add("It acknowledges bytes of the %s's stream that this capture never saw sent.", n.to)
	}
}

// window explains the window a segment advertises, against the one its
// sender advertised before.
func (n *noteCtx) window() {
	p, f, v := n.p, n.t.Flags, n.v.flags
	if f.Has(capture.RST) {
		return
	}
	switch {
	case p.Window == 0:
		n.add("Window 0: the %s's receive buffer is full, so the %s must stop sending until the window opens.", n.from, n.to)
	case !n.myWinOK || p.Len > 0 || f.Has(capture.SYN) || f.Has(capture.FIN):
	case p.Window > n.myWin && n.myWin == 0:
		n.add("A window update: the window opens again (%d bytes): the %s's receive buffer has room again (its program read from it, or the kernel gave the buffer more memory), so the %s may send again.", p.Window, n.from, n.to)
	case p.Window > n.myWin && v.Has(WindowUpdate) && len(n.t.Options.SACK) > 0:
		// The cumulative ACK stays, but SACK blocks may say more.
		added := n.newlySACKed()
		if len(added) > 0 {
			n.add("A window update: the window grows from %d to %d bytes: the %s's receive buffer has more room (its program read from it, or the kernel gave the buffer more memory). "+
				"Its cumulative ACK did not move (ack %d), but its SACK blocks add %s of the %s's stream, which the %s's last ACK did not hold.", n.myWin, p.Window, n.from, p.Ack, added, n.to, n.from)
		} else {
			n.add("A window update: the window grows from %d to %d bytes: the %s's receive buffer has more room (its program read from it, or the kernel gave the buffer more memory). "+
				"Its cumulative ACK did not move (ack %d), and its SACK blocks hold nothing its last ACK did not.", n.myWin, p.Window, n.from, p.Ack)
		}
	case p.Window > n.myWin && v.Has(WindowUpdate):
		n.add("A window update: the window grows from %d to %d bytes with nothing new acknowledged: the %s's receive buffer has more room (its program read from it, or the kernel gave the buffer more memory).", n.myWin, p.Window, n.from)
	case p.Window < n.myWin:
		edge, prev := p.RawAck+uint32(p.Window), n.myAck+uint32(n.myWin)
		n.add("The %s advertises a smaller window than in its last segment (%d bytes, down from %d): data it received waits in its receive buffer for its program to read.", n.from, p.Window, n.myWin)
		if before(edge, prev) {
			n.add("Its right edge (ack + window) moved back, from byte %d to %d: the %s takes back room it had offered, which RFC 9293 asks a receiver not to do.", prev-n.peer.isn, edge-n.peer.isn, n.from)
		} else {
			n.add("The right edge (ack + window) did not move back: the bytes acknowledged used up the room, and no room offered was taken back.")
		}
	}
}

// newlySACKed lists, comma separated, the bytes above the ACK that the
// segment's SACK blocks hold and the sender's last ACK's did not.
func (n *noteCtx) newlySACKed() []byte {
	var out []byte
	isn := n.peer.isn
	for _, b := range n.t.Options.SACK {
		if !after(b.Right, n.t.Ack) || !after(b.Right, b.Left) {
			continue
		}
		covered := false
		for _, o := range n.prevSACK[:n.prevSACKn] {
			if !before(b.Left, o.Left) && !after(b.Right, o.Right) {
				covered = true
			}
		}
		if covered {
			continue
		}
		if len(out) > 0 {
			out = append(out, ", "...)
		}
		left := max32(b.Left, n.t.Ack)
		out = byteSpan{left - isn, int(b.Right - left)}.appendTo(out)
	}
	return out
}

// optionWords explains SYN options in words, for a note's %s.
type optionWords capture.TCPOptions

func (o optionWords) appendTo(b []byte) []byte {
	start := len(b)
	part := func(format string, args ...any) {
		if len(b) > start {
			b = append(b, "; "...)
		}
		b = appendf(b, format, args...)
	}
	if o.MSS != 0 {
		part("the largest segment its sender can receive, %d bytes of payload (MSS)", o.MSS)
	}
	if o.HasWindowScale {
		part("window values scaled by 2^%d (window scale)", o.WindowScale)
	}
	if o.SACKPermitted {
		part("selective acknowledgements allowed (SACK)")
	}
	if o.HasTimestamps {
		part("timestamps on every segment, to measure round trips")
	}
	switch {
	case o.FastOpen && len(o.Cookie) == 0:
		part("a TCP Fast Open cookie request (TFO)")
	case o.FastOpen:
		part("a TCP Fast Open cookie (TFO)")
	}
	return b
}

// sackCut says, for a duplicate ACK or an ACK with SACK blocks whose
// options the capture cut, that SACK blocks may be missing: unless both
// SYNs, whole, showed that the two ends do not use SACK.
func (n *noteCtx) sackCut() {
	t, me, peer := n.t, n.me, n.peer
	if !t.OptionsCut || (!n.v.flags.Has(DuplicateAck) && len(t.Options.SACK) == 0) {
		return
	}
	if n.c.sawSYNs && !me.synCut && !peer.synCut && !(me.sackOK && peer.sackOK) {
		return
	}
	if len(t.Options.SACK) > 0 {
		n.add("The capture cut its options short (its snapshot length): more SACK blocks than these may have been there.")
		return
	}
	n.add("The capture cut its options (its snapshot length): whether it held SACK blocks, which would say which bytes after byte %d have arrived, is unknown.", n.p.Ack)
}

// sackHole reports whether the segment's bytes lie in a hole the
// receiver's last ACK showed: at or above its ACK number, below the
// right edge of one of its SACK blocks, and inside none.
func (n *noteCtx) sackHole() bool {
	pf := n.peer.flow
	if !pf.haveAck || len(pf.sackBlocks) == 0 || before(n.t.Seq, pf.lastack) {
		return false
	}
	end := n.t.Seq + uint32(n.p.Len)
	beyond := false
	for _, b := range pf.sackBlocks {
		if after(end, b.Left) && before(n.t.Seq, b.Right) {
			return false // overlaps bytes the receiver has
		}
		if !after(end, b.Left) {
			beyond = true
		}
	}
	return beyond
}

// answersCopy reports whether the segment, an ACK, answers the peer's
// last segment, which held nothing beyond the ACK (data, SYN or FIN
// already received: a copy), and holds no SACK block beyond it.
func (n *noteCtx) answersCopy() bool {
	pf := n.peer.flow
	occupies := pf.lastLen > 0 || pf.lastCtl != 0
	return n.answers && occupies && !after(pf.lastEnd, n.t.Ack) && !n.holdsBeyond()
}

// span names the bytes first to first+n-1 of a stream.
func span(first uint32, n int) byteSpan { return byteSpan{first, n} }

// holdsBeyond reports whether the segment's SACK blocks, the D-SACK
// left out, hold bytes beyond its ACK: a gap before them.
func (n *noteCtx) holdsBeyond() bool {
	blocks := n.t.Options.SACK
	if n.v.dsack && len(blocks) > 0 {
		blocks = blocks[1:]
	}
	for _, b := range blocks {
		if after(b.Right, n.t.Ack) {
			return true
		}
	}
	return false
}

// sack explains a SACK option in relative numbers: a D-SACK first (bytes
// that arrived twice), then the bytes held beyond the ACK and the holes
// before them, which are what the sender need send again.
func (n *noteCtx) sack() {
	blocks := n.t.Options.SACK
	if len(blocks) == 0 || !n.t.Flags.Has(capture.ACK) {
		return
	}
	isn := n.peer.isn
	span := func(l, r uint32) byteSpan { return byteSpan{l - isn, int(r - l)} } // [l, r) raw
	if n.v.dsack {
		b := blocks[0]
		where := "below its ACK"
		if after(b.Right, n.t.Ack) {
			where = "inside its next SACK block"
		}
		n.add("Its first SACK block, %s of the %s's stream, lies %s: a D-SACK (RFC 2883), which says that those bytes arrived twice: a copy sent again was not needed (or the network duplicated one).",
			span(b.Left, b.Right), n.to, where)
		blocks = blocks[1:]
	}
	var room [4]capture.SACKBlock // a header holds at most 4
	held := append(room[:0], blocks...)
	slices.SortFunc(held, func(a, b capture.SACKBlock) int { return int(int32(a.Left - b.Left)) })
	// The spans held and those missing, each list comma separated.
	has, hasNot := make([]byte, 0, 128), make([]byte, 0, 128)
	list := func(l []byte, s byteSpan) []byte {
		if len(l) > 0 {
			l = append(l, ", "...)
		}
		return s.appendTo(l)
	}
	edge := n.t.Ack
	for _, b := range held {
		if !after(b.Right, edge) {
			continue
		}
		left := edge
		if after(b.Left, edge) {
			hasNot = list(hasNot, span(edge, b.Left))
			left = b.Left
		}
		has = list(has, span(left, b.Right))
		edge = b.Right
	}
	if len(has) == 0 {
		return
	}
	if len(hasNot) > 0 && !n.t.OptionsCut { // cut: a block may have held them (sackCut)
		n.add("Its SACK blocks say that the %s has %s of the %s's stream already but not %s: only those need be sent again.", n.from, has, n.to, hasNot)
	} else {
		n.add("Its SACK blocks say that the %s has %s of the %s's stream already.", n.from, has, n.to)
	}
}
