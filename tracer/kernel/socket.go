package kernel

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Answer is what [Diag.LookupAll] found for one five-tuple: the socket,
// or an error, which is [ErrNotFound] itself where the kernel holds no
// such socket.
type Answer struct {
	Socket Socket
	Err    error
}

// Socket is what the kernel's socket diagnostics say about one TCP
// socket: a row of `ss -tanoi`.
type Socket struct {
	// Local and Remote are the socket's addresses seen from its own
	// end, IPv4-mapped IPv6 addresses unmapped as the tracer does; a
	// listener has no Remote.
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote,omitzero"`
	State  State          `json:"state"`
	// RecvQ is ss's Recv-Q. For a listener it counts the connections
	// whose handshake is done and that wait for Accept; for a
	// connection, the bytes received that no Read has taken.
	RecvQ uint32 `json:"recv_q"`
	// SendQ is ss's Send-Q. For a listener it is the backlog, the
	// longest the accept queue may grow; for a connection, the bytes
	// sent (or queued to send) that the peer has not acknowledged.
	SendQ uint32 `json:"send_q"`
	// Inode is the socket's inode, as in /proc/PID/fd: 0 while no file
	// descriptor refers to it (a connection nobody has accepted yet, a
	// socket in TIME_WAIT).
	Inode uint32 `json:"inode"`
	// UID is the user who opened it.
	UID uint32 `json:"uid"`
	// Timer is the timer running on the socket, Expires the time left
	// until it fires, and Retrans the retransmissions (or keepalive or
	// zero-window probes) it has sent so far: ss -o prints the three as
	// timer:(on,200ms,0).
	Timer   Timer         `json:"timer"`
	Expires time.Duration `json:"expires_ns"`
	Retrans uint8         `json:"retrans"`
	// Info is the socket's TCP_INFO, as the kernel gives it with the
	// answer (ss -i); nil for sockets that have none: those in
	// TIME_WAIT, and connection requests not yet established.
	Info *Info `json:"info,omitempty"`
}

// Tuple returns the socket's five-tuple, seen from its own end.
func (s Socket) Tuple() FiveTuple {
	return FiveTuple{Proto: "tcp", Local: s.Local, Remote: s.Remote}
}

// FiveTuple names a connection, or a socket seen from its own end:
// protocol, local address and port, remote address and port. A
// listening socket has no Remote. (Package tracer calls it
// tracer.FiveTuple.)
type FiveTuple struct {
	Proto  string
	Local  netip.AddrPort
	Remote netip.AddrPort
}

// String formats the tuple as "tcp 127.0.0.1:52844 ↔ 127.0.0.1:6969".
func (t FiveTuple) String() string {
	return t.Proto + " " + t.Local.String() + " ↔ " + t.Remote.String()
}

// String formats the socket as a line of ss does, roughly:
// "FIN_WAIT_1 127.0.0.1:52844 127.0.0.1:6969 Recv-Q 0 Send-Q 1 timer:(on,200ms,0)";
// a listener's peer is "*".
func (s Socket) String() string {
	var b strings.Builder
	peer := "*"
	if s.Remote.IsValid() {
		peer = s.Remote.String()
	}
	fmt.Fprintf(&b, "%s %s %s Recv-Q %d Send-Q %d", s.State, s.Local, peer, s.RecvQ, s.SendQ)
	if s.Timer != TimerOff {
		left := s.Expires.Round(time.Millisecond).String() // "200ms"
		if s.Expires >= time.Second {
			left = fmt.Sprintf("%ds", int64(s.Expires.Round(time.Second)/time.Second)) // "60s", not "1m0s"
		}
		fmt.Fprintf(&b, " timer:(%s,%s,%d)", s.Timer, left, s.Retrans)
	}
	return b.String()
}

// Timer names the timer the kernel runs on a socket, with ss's names.
type Timer uint8

// The timers, with the numbers of struct inet_diag_msg's idiag_timer.
const (
	TimerOff       Timer = iota // no timer: the socket waits for its program or its peer
	TimerOn                     // retransmission: unacknowledged data, SYN or FIN will be sent again
	TimerKeepalive              // keepalive (also an orphaned FIN_WAIT_2's timeout)
	TimerTimeWait               // TIME_WAIT (or an orphaned FIN_WAIT_2) until the kernel releases it
	TimerPersist                // zero-window probes: the peer's receive window is closed
)

var timerNames = [...]string{"off", "on", "keepalive", "timewait", "persist"}

// String returns ss's name for the timer: "on", "keepalive",
// "timewait", …
func (t Timer) String() string {
	if int(t) < len(timerNames) {
		return timerNames[t]
	}
	return fmt.Sprintf("Timer(%d)", uint8(t))
}

// MarshalText returns the timer's name.
func (t Timer) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a name that MarshalText returns.
func (t *Timer) UnmarshalText(b []byte) error {
	for i, n := range timerNames {
		if n == string(b) {
			*t = Timer(i)
			return nil
		}
	}
	var n uint8
	if _, err := fmt.Sscanf(string(b), "Timer(%d)", &n); err == nil {
		*t = Timer(n)
		return nil
	}
	return fmt.Errorf("kernel: unknown timer %q", b)
}

// Info is a socket's TCP_INFO (struct tcp_info in linux/tcp.h): what the
// kernel's TCP knows about the connection. `ss -ti` shows the same.
type Info struct {
	State State `json:"state"`
	// RTT is the smoothed round-trip time, RTTVar its variation (both
	// measured on acknowledgements), RTO the retransmission timeout
	// they give: how long the kernel waits for an ACK before sending
	// again (200 ms at least on Linux).
	RTT    time.Duration `json:"rtt_ns"`
	RTTVar time.Duration `json:"rttvar_ns"`
	RTO    time.Duration `json:"rto_ns"`
	// SndCwnd is the congestion window, in segments: how many may be
	// in flight unacknowledged.
	SndCwnd uint32 `json:"snd_cwnd"`
	// SndMSS and RcvMSS are the largest segments sent and received, in
	// bytes of payload.
	SndMSS uint32 `json:"snd_mss"`
	RcvMSS uint32 `json:"rcv_mss"`
	// Unacked is the number of segments sent and not yet acknowledged
	// (a SYN and a FIN count as one each). For a listener the kernel
	// puts there the number of connections waiting for Accept.
	Unacked uint32 `json:"unacked"`
	// Retransmits counts the retransmission timeouts in a row, since
	// the last ACK that moved things on; Retrans the segments
	// retransmitted and still unacknowledged; TotalRetrans all the
	// segments ever retransmitted.
	Retransmits  uint8  `json:"retransmits"`
	Retrans      uint32 `json:"retrans"`
	TotalRetrans uint32 `json:"total_retrans"`
	// SndWnd is the receive window the peer advertised last, in bytes:
	// 0 when its buffer is full. Probes counts the zero-window (or
	// keepalive) probes sent and not answered, Backoff how often the
	// retransmission or probe timer has doubled.
	SndWnd  uint32 `json:"snd_wnd"`
	Probes  uint8  `json:"probes"`
	Backoff uint8  `json:"backoff"`
	// BytesAcked is how far the peer's acknowledgements have moved,
	// BytesReceived how far this side's have: both count sequence
	// numbers, so the bytes of data plus one for a FIN, and the
	// connecting side's BytesAcked one more for its SYN.
	BytesAcked    uint64 `json:"bytes_acked"`
	BytesReceived uint64 `json:"bytes_received"`

	// What the kernel's loss recovery did, for notes that say which
	// timer or algorithm resent a segment only when the kernel says so.
	//
	// CAState is the congestion-avoidance state (Open, Disorder, CWR,
	// Recovery, Loss). SndSsthresh is the slow-start threshold, in
	// segments: the window grows by a segment per segment acknowledged
	// (slow start) while it is below, more slowly above. Until slow start
	// first ends the kernel reports [InfiniteSsthresh] (0x7fffffff; see
	// [Info.SsthreshInfinite]): the first loss ends it, and so can the
	// congestion control by itself (CUBIC's HyStart, BBR leaving its
	// startup). TotalRTO counts the
	// retransmission timeouts ever fired on the socket (Linux 6.7 and
	// later; 0 on older kernels), TotalRTORecoveries the recoveries they
	// started and TotalRTOTime the time spent in them. Lost and Sacked
	// are the segments the kernel takes for lost and those the peer has
	// selectively acknowledged, now. ReordSeen counts reorderings
	// detected, DSACKDups segments the peer reported received twice
	// (D-SACK), RcvOOOPack segments that arrived out of order.
	CAState            CAState       `json:"ca_state"`
	SndSsthresh        uint32        `json:"snd_ssthresh"`
	TotalRTO           uint16        `json:"total_rto"`
	TotalRTORecoveries uint16        `json:"total_rto_recoveries"`
	TotalRTOTime       time.Duration `json:"total_rto_time_ns"`
	Lost               uint32        `json:"lost"`
	Sacked             uint32        `json:"sacked"`
	ReordSeen          uint32        `json:"reord_seen"`
	DSACKDups          uint32        `json:"dsack_dups"`
	RcvOOOPack         uint32        `json:"rcv_ooopack"`
	// SegsOut and SegsIn count the segments sent and received, DataSegsOut
	// and DataSegsIn those with data; BytesSent counts the bytes of data
	// sent, retransmissions included, BytesRetrans those retransmitted.
	// NotsentBytes is what the program has written that the kernel has
	// not sent yet.
	SegsOut      uint32 `json:"segs_out"`
	SegsIn       uint32 `json:"segs_in"`
	DataSegsOut  uint32 `json:"data_segs_out"`
	DataSegsIn   uint32 `json:"data_segs_in"`
	BytesSent    uint64 `json:"bytes_sent"`
	BytesRetrans uint64 `json:"bytes_retrans"`
	NotsentBytes uint32 `json:"notsent_bytes"`
	// RcvWnd is the receive window this side advertises now, in bytes.
	RcvWnd uint32 `json:"rcv_wnd"`
	// MinRTT is the smallest round trip seen.
	MinRTT time.Duration `json:"min_rtt_ns"`
	// DeliveryRate is the kernel's estimate of the rate data is
	// delivered at, in bytes per second.
	DeliveryRate uint64 `json:"delivery_rate"`
}

// InfiniteSsthresh is the slow-start threshold TCP_INFO reports before
// the kernel has set one (TCP_INFINITE_SSTHRESH in the kernel's
// include/net/tcp.h): slow start has not ended yet. ss leaves such a
// threshold out of its output.
const InfiniteSsthresh = 0x7fffffff

// SsthreshInfinite reports whether the slow-start threshold is still
// the kernel's "infinite" [InfiniteSsthresh]: no loss has cut the
// window yet, nor has the congestion control ended slow start by
// itself.
func (i *Info) SsthreshInfinite() bool { return i.SndSsthresh >= InfiniteSsthresh }

// InFlight returns the segments the kernel counts as in flight, as its
// tcp_packets_in_flight computes them: those sent and not acknowledged
// ([Info].Unacked), less those the peer has acknowledged selectively
// (Sacked) and those taken for lost (Lost), plus those retransmitted
// and not acknowledged yet (Retrans). The congestion window bounds it:
// the kernel sends new data only while InFlight is below SndCwnd. A
// listener has none.
func (i *Info) InFlight() uint32 {
	if i.State == Listen {
		return 0
	}
	n := int64(i.Unacked) - int64(i.Sacked) - int64(i.Lost) + int64(i.Retrans)
	return uint32(max(n, 0))
}

// CAState is TCP_INFO's congestion-avoidance state (tcpi_ca_state):
// what the sender's loss recovery is doing.
type CAState uint8

// The states of enum tcp_ca_state in linux/tcp.h.
const (
	CAOpen     CAState = iota // nothing wrong: no loss or reordering seen
	CADisorder                // duplicate ACKs or SACKs seen: maybe reordering, maybe loss
	CACWR                     // the window is being cut after an ECN signal or a local congestion
	CARecovery                // fast recovery: a loss found by duplicate ACKs or SACK is being repaired
	CALoss                    // the retransmission timer fired: everything in flight is taken for lost
)

var caNames = [...]string{"Open", "Disorder", "CWR", "Recovery", "Loss"}

// String returns the state's name as the kernel spells it: "Open",
// "Recovery", "Loss", …
func (c CAState) String() string {
	if int(c) < len(caNames) {
		return caNames[c]
	}
	return fmt.Sprintf("CAState(%d)", uint8(c))
}

// MarshalText returns the state's name.
func (c CAState) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a name that MarshalText returns.
func (c *CAState) UnmarshalText(b []byte) error {
	for i, n := range caNames {
		if n == string(b) {
			*c = CAState(i)
			return nil
		}
	}
	var n uint8
	if _, err := fmt.Sscanf(string(b), "CAState(%d)", &n); err == nil {
		*c = CAState(n)
		return nil
	}
	return fmt.Errorf("kernel: unknown congestion-avoidance state %q", b)
}

// String is a short summary for people:
// "ESTABLISHED rtt 0.031 ms ±0.015 ms rto 201 ms cwnd 10 mss 65483 unacked 0 retrans 0 acked 18 B received 29 B".
func (i *Info) String() string {
	if i == nil {
		return "no TCP_INFO"
	}
	if i.State == Listen {
		return fmt.Sprintf("LISTEN %d waiting for Accept", i.Unacked)
	}
	return fmt.Sprintf("%s rtt %s ±%s rto %s cwnd %d mss %d unacked %d retrans %d acked %d B received %d B",
		i.State, ms(i.RTT), ms(i.RTTVar), ms(i.RTO),
		i.SndCwnd, i.SndMSS, i.Unacked, i.TotalRetrans, i.BytesAcked, i.BytesReceived)
}

// ms formats d for people as the tracer does: "0.031 ms", "1.000 s".
func ms(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

// syscallConn unwraps c, through NetConn methods, down to a connection
// that has a socket.
func syscallConn(c net.Conn) (syscall.Conn, error) {
	for range 10 {
		if sc, ok := c.(syscall.Conn); ok {
			return sc, nil
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return nil, fmt.Errorf("kernel: TCP_INFO: %T has no socket", c)
}
