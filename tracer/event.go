package tracer

import (
	"net/netip"
	"time"
	"unsafe"

	"tcptour/tracer/kernel"
)

// Phase names what happened in an [Event]. The values are stable: they are
// the "phase" field of the JSON output (see docs/trace-format.md).
type Phase string

// The phases of a connection's life, in roughly the order they happen,
// followed by the phases a lesson adds around them.
const (
	PhaseListen       Phase = "listen"        // a listening socket was opened
	PhaseDNSStart     Phase = "dns-start"     // a name lookup started
	PhaseDNSDone      Phase = "dns-done"      // a name lookup finished (addresses or error)
	PhaseDNSSkip      Phase = "dns-skip"      // no lookup: the address was an IP literal
	PhaseConnectStart Phase = "connect-start" // connect(2) started: the kernel sends SYN
	PhaseConnectDone  Phase = "connect-done"  // the handshake finished, or failed
	PhaseAccept       Phase = "accept"        // Accept returned a new connection
	PhaseRead         Phase = "read"          // Read returned bytes
	PhaseWrite        Phase = "write"         // Write handed bytes to the kernel
	PhaseEOF          Phase = "eof"           // Read returned io.EOF: the peer sent FIN
	PhaseCloseWrite   Phase = "close-write"   // CloseWrite: this side's FIN, reading goes on
	PhaseClose        Phase = "close"         // a connection or listener was closed
	PhaseError        Phase = "error"         // an operation failed
	PhaseNote         Phase = "note"          // a remark added by the program
	PhasePacket       Phase = "packet"        // a packet on the wire (Packet is set)
	PhaseState        Phase = "state"         // a socket's TCP state changed, as the kernel says (State is set)
	PhaseCounter      Phase = "counter"       // one of the kernel's network counters went up (Counter is set)
	PhaseSample       Phase = "sample"        // a connection's TCP_INFO read during a transfer (TCP is set); not in the pretty output
	PhaseLesson       Phase = "lesson"        // a lesson starts (title in Text)
	PhaseStep         Phase = "step"          // a lesson step starts (title in Text)
)

// Event is one thing that happened, as the trace records it. Which fields
// are set depends on the Phase; the rest are zero. The JSON names are
// documented in docs/trace-format.md.
type Event struct {
	// Seq numbers events in the order they were added to the trace.
	Seq int64 `json:"seq"`
	// Time is the wall-clock time the event happened.
	Time time.Time `json:"time"`
	// Elapsed is Time minus the start of the trace.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Step is the lesson step the event happened in, 0 outside lessons.
	Step int `json:"step,omitempty"`
	// Actor is who did it: "client", "server", or a name the program gave.
	Actor string `json:"actor"`
	// Conn identifies the TCP connection (1, 2, …). Both ends of one
	// connection get the same id because a Trace derives it from the
	// five-tuple; 0 means no connection (a listener, a lookup). An
	// event added with Conn already set keeps it: tracer/inspect's
	// packets carry the numbers of wire.ConnNumbers (tshark's
	// tcp.stream), which tell apart connections that reuse a
	// five-tuple.
	Conn int `json:"conn,omitempty"`
	// Phase says what happened.
	Phase Phase `json:"phase"`

	// Proto, Local and Remote are the five-tuple (protocol, local IP and
	// port, remote IP and port) from the actor's point of view.
	Proto  string         `json:"proto,omitempty"`
	Local  netip.AddrPort `json:"local,omitzero"`
	Remote netip.AddrPort `json:"remote,omitzero"`
	// Addr is the address a listen asked for ("127.0.0.1:0"), before
	// the kernel chose the port.
	Addr string `json:"addr,omitempty"`

	// Name is the host name looked up.
	Name string `json:"name,omitempty"`
	// DNSServers are the DNS servers the resolver sent queries to
	// ("udp 127.0.0.1:53531"); empty when no query was sent.
	DNSServers []string `json:"dns_servers,omitempty"`
	// Addrs are the addresses a lookup returned.
	Addrs []netip.Addr `json:"addrs,omitempty"`

	// Bytes is the byte count of a read or write.
	Bytes int `json:"bytes,omitempty"`
	// Data is a printable preview of the bytes read or written: quoted
	// text, or hex when the bytes are not text. Long data is cut; Bytes
	// keeps the true count.
	Data string `json:"data,omitempty"`
	// BytesIn and BytesOut count what a connection read and wrote in its
	// life, set on close.
	BytesIn  int64 `json:"bytes_in,omitempty"`
	BytesOut int64 `json:"bytes_out,omitempty"`
	// PeerClosed is set on close when the peer's FIN had already been read
	// (this side is the passive closer).
	PeerClosed bool `json:"peer_closed,omitempty"`
	// Lifetime is how long a connection lived, set on close: from when
	// Dial or Accept returned it to Close.
	Lifetime time.Duration `json:"lifetime_ns,omitempty"`
	// Duration is how long a lookup or connect took.
	Duration time.Duration `json:"duration_ns,omitempty"`

	// Op names the operation that failed, with Err.
	Op string `json:"op,omitempty"`
	// Err is the error text.
	Err string `json:"error,omitempty"`
	// Text is a title (lesson, step) or the text of a note.
	Text string `json:"text,omitempty"`
	// Note explains in plain language what the program did and what the
	// kernel did.
	Note string `json:"note,omitempty"`
	// Packet is set for PhasePacket events.
	Packet *Packet `json:"packet,omitempty"`
	// TCP is what the kernel's TCP said about the connection's socket
	// at this event (TCP_INFO, read through the program's own socket),
	// when the trace reads it ([Options].TCPInfo): for Write,
	// CloseWrite and Close just before the call, for the others just
	// after it returned. A PhaseSample event is one reading of a
	// series ([kernel.Sampler]), at the event's Time.
	TCP *kernel.Info `json:"tcp_info,omitempty"`
	// State is set for PhaseState events: a socket's change of TCP
	// state.
	State *StateChange `json:"state,omitempty"`
	// Counter is set for PhaseCounter events: a counter of the
	// kernel's (as nstat names it) and how much it went up.
	Counter *kernel.CounterChange `json:"counter,omitempty"`

	// lazy says which default note is pending, while Note is empty: the
	// trace builds it when the event is printed or read, not when it is
	// recorded (see Resolved).
	lazy uint8
	// raw, when not nil, holds the first bytes of a read or write, for
	// Data's preview, pending likewise.
	raw []byte
	// wc and wseq, for a Write, are its connection and its number
	// there: the hook runs before the call, and whether the call failed
	// is known only later (see [Unsent]).
	wc   *conn
	wseq uint64
}

// Unsent drops from events, in place, each Write that failed before a
// byte of it reached the kernel, and gives a Write cut short the count
// of the bytes that did; it returns the events kept. A Write's event is
// recorded when the call starts, so that it comes before anything the
// peer does with the bytes; whether the call failed is known only once
// it returns, and an Error event then says why. A trace prints its
// events through Unsent, and so does a printer that holds events
// before printing them (package wire's Timeline); a Write still in
// progress prints as the call it is.
func Unsent(events []Event) []Event {
	kept := events[:0]
	for i := range events {
		e := &events[i]
		if e.wc != nil {
			if n, failed := e.wc.written(e.wseq); failed {
				if n == 0 {
					continue
				}
				e.Bytes = n
			}
		}
		if len(kept) == i {
			kept = kept[:i+1] // in its place already: no copy of 456 bytes
		} else {
			kept = append(kept, *e)
		}
	}
	clear(events[len(kept):])
	return kept
}

// Resolved returns e with its note built. A [Trace] records an event
// without building its default note, and builds it where it is printed
// or read: [Trace.Events], [Trace.Add] and [Printer.Print] get events
// with Note set; [BatchPrinter.PrintBatch] gets them as recorded, and a
// batch printer that reads Note calls Resolved first.
func (e Event) Resolved() Event {
	if e.Note == "" && e.lazy != 0 {
		// One allocation: the bytes become the string, unshared.
		b := appendNote(make([]byte, 0, 384), &e)
		e.Note = unsafe.String(unsafe.SliceData(b), len(b))
	}
	if e.raw != nil && e.Data == "" {
		b := appendPreview(nil, e.raw, e.Bytes)
		e.Data = unsafe.String(unsafe.SliceData(b), len(b))
	}
	e.lazy, e.raw = 0, nil
	return e
}

// StateChange is a change of a TCP socket's state, for a PhaseState
// event: the event's Local and Remote are the socket's own addresses,
// so that it has its connection's id.
type StateChange struct {
	// Side is whose socket it is: "client" or "server" (the server's
	// listening socket too).
	Side string `json:"side"`
	// From and To are the states before and after; [kernel.Gone] means
	// the kernel holds no socket.
	From kernel.State `json:"from"`
	To   kernel.State `json:"to"`
	// Asked is set when the kernel did not report the change as it
	// happened: its socket diagnostics were asked at the event's time
	// and found the socket in To, where it had last been seen in From.
	// The change happened in between, maybe through other states.
	// Without Asked, the kernel reported the change itself, at the
	// moment it made it (the tracepoint sock:inet_sock_set_state).
	Asked bool `json:"asked,omitempty"`
	// Kept is set when no program holds the socket any more and the
	// kernel keeps the connection in a small socket of its own (a
	// timewait socket): TIME_WAIT, or FIN_WAIT_2 after Close. Expires
	// is then how long it will keep it, as the kernel said.
	Kept    bool          `json:"kept,omitempty"`
	Expires time.Duration `json:"expires_ns,omitempty"`
	// Cause is the Seq of the packet event that caused the change, a
	// segment the socket received, when the trace holds it; CauseFlags
	// are its flags and CauseElapsed its Elapsed.
	Cause        int64         `json:"cause,omitempty"`
	CauseFlags   string        `json:"cause_flags,omitempty"`
	CauseElapsed time.Duration `json:"cause_elapsed_ns,omitempty"`
	// Reason, when set, says what the trace knows of why the change
	// happened beyond its cause: [ReasonListenerClosed].
	Reason string `json:"reason,omitempty"`
}

// Transition reports whether the TCP state machine (RFC 9293's, as
// Linux runs it) goes from one state to the other in one change. A
// change found when the kernel was asked may span several; [kernel.Gone]
// counts as CLOSE, and a socket handed to the kernel's own timewait
// socket may stay in FIN_WAIT_2 or TIME_WAIT.
func Transition(from, to kernel.State) bool {
	if to == kernel.Gone {
		to = kernel.Close
	}
	if to == kernel.Close {
		return from != kernel.Close && from != kernel.Gone || to == from
	}
	switch from {
	case kernel.Close, kernel.Gone:
		return to == kernel.Listen || to == kernel.SynSent
	case kernel.Listen:
		return to == kernel.SynRecv
	case kernel.SynSent:
		return to == kernel.Established || to == kernel.SynRecv
	case kernel.SynRecv:
		return to == kernel.Established || to == kernel.FinWait1
	case kernel.Established:
		return to == kernel.FinWait1 || to == kernel.CloseWait
	case kernel.FinWait1:
		return to == kernel.FinWait2 || to == kernel.Closing || to == kernel.TimeWait
	case kernel.FinWait2:
		return to == kernel.FinWait2 || to == kernel.TimeWait
	case kernel.CloseWait:
		return to == kernel.LastAck
	case kernel.Closing:
		return to == kernel.TimeWait
	case kernel.TimeWait:
		return to == kernel.TimeWait
	}
	return false
}

// ReasonListenerClosed is the [StateChange] Reason of a connection that
// ended in its listener's accept queue: the program closed the listener
// before accepting it, and the kernel reset it.
const ReasonListenerClosed = "listener-closed"

// FiveTuple names a connection: protocol, local address and port, remote
// address and port. The seed's Node.js text lists <remoteAddress,
// remotePort, addressType, localAddress, localPort>; the protocol is
// implied there (TCP) and the address type is the family of the addresses.
//
// It is [kernel.FiveTuple]: the kernel names its sockets the same way,
// and package kernel, which the tracer uses, defines it.
type FiveTuple = kernel.FiveTuple

// keyOf returns the same value for both ends of a connection.
func keyOf(t FiveTuple) connKey {
	a, b := t.Local, t.Remote
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return connKey{t.Proto, a, b}
}

type connKey struct {
	proto string
	a, b  netip.AddrPort
}

// Tuple returns the event's five-tuple (zero when it has none).
func (e Event) Tuple() FiveTuple {
	return FiveTuple{Proto: e.Proto, Local: e.Local, Remote: e.Remote}
}

// Packet is a packet on the wire as the timeline shows it: the event's
// Phase is PhasePacket and its Actor "wire". Sequence and
// acknowledgement numbers are relative to each side's initial sequence
// number, as Wireshark shows them.
type Packet struct {
	Proto string         `json:"proto"` // "tcp" or "udp"
	Src   netip.AddrPort `json:"src"`
	Dst   netip.AddrPort `json:"dst"`
	// From and To name the sender and receiver by role: "client" and
	// "server" for TCP (the client sent the SYN), "resolver" and "dns"
	// for DNS.
	From string `json:"from"`
	To   string `json:"to"`
	// Flags are the TCP flags, SYN and FIN first: "SYN ACK", "PSH ACK".
	Flags string `json:"flags,omitempty"`
	// Seq and Ack are relative; Ack is 0 when the ACK flag is not set.
	Seq uint32 `json:"seq"`
	Ack uint32 `json:"ack"`
	// RawSeq and RawAck are the numbers in the header.
	RawSeq uint32 `json:"raw_seq"`
	RawAck uint32 `json:"raw_ack"`
	// Len is the TCP or UDP payload length.
	Len int `json:"len"`
	// Window is the receive window the sender advertises, in bytes:
	// the header's field shifted by the window scale agreed in the
	// handshake when the handshake was seen, else the raw field.
	Window int `json:"win"`
	// Options lists the TCP options of a SYN: "mss 65495 sack ts ws 7".
	Options string `json:"options,omitempty"`
	// DNS summarises a DNS message: "query A chuck.norris.test",
	// "answer A chuck.norris.test 127.0.0.1", "answer NXDOMAIN nobody.test".
	DNS string `json:"dns,omitempty"`
	// Size is the frame's length on the wire.
	Size int `json:"size"`
	// Frame is the packet's number in its capture, from 1, as Wireshark
	// numbers frames: its place in the --pcap file a lesson, the server
	// or the client writes (every packet captured goes there, in this
	// order), or in the file tracer/inspect reads. 0 when unknown.
	Frame int `json:"frame,omitempty"`
	// At is where the packet was captured, on a link between two
	// network namespaces (package tracer/link): "client" or "server",
	// the end whose interface it was seen on. Each segment shows
	// there as it leaves one end and again as it reaches the other,
	// unless the link lost it. Empty on loopback, where one capture
	// sees each packet once.
	At string `json:"at,omitempty"`
	// IPID is the IPv4 header's identification field, on a link only
	// (with At): the same frame seen at both ends has the same one,
	// while a copy sent again has another (Linux numbers each packet a
	// connection sends). 0 for IPv6.
	IPID uint16 `json:"ip_id,omitempty"`
	// Mark tells apart segments whose numbers and flags are the same
	// (duplicate ACKs; a segment and its copies sent again): their TCP
	// timestamps and SACK blocks, as captured. On a link, a segment's
	// arrival is matched with its leaving by its numbers, flags and
	// Mark. Not in the trace's JSON.
	Mark string `json:"-"`
	// Analysis lists what the sequence analysis found the segment to
	// be, with the names of docs/trace-format.md, which follow
	// Wireshark's tcp.analysis flags: "retransmission",
	// "duplicate-ack", "zero-window", … Empty for an ordinary segment.
	Analysis []string `json:"analysis,omitempty"`
	// Resent is set by the annotator on a TCP segment whose sequence
	// space (data, SYN or FIN) its sender had already sent, as far as
	// the packets seen at the same point show it: a retransmission,
	// whatever Analysis calls it (Wireshark calls some out-of-order),
	// and not a copy the network made. tracer/inspect -stats counts
	// them. Not in the trace's JSON: Analysis is.
	Resent bool `json:"-"`
	// Payload is a preview of the segment's or datagram's payload, as
	// [Preview] makes it (`"GET / HTTP/1.1\r\nHost: …" (+40 bytes)`),
	// of the bytes captured: tracer/inspect sets it, the lessons do not
	// (their data events show what the programs wrote and read).
	Payload string `json:"payload,omitempty"`
	// Comment is the capture file's comment on the packet (a pcapng
	// packet block's opt_comment: Wireshark's packet comments).
	Comment string `json:"comment,omitempty"`
}
