package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// What the kernel says about the lesson's sockets: the kernel lines of
// the trace and the states the diagram marks. Each end of the link has
// its own network namespace, and socket diagnostics answer about the
// namespace they are asked in: each question goes to the end whose
// socket it is about.

// gone stands for "the kernel holds no such socket": RFC 9293's CLOSED.
const gone kernel.State = 0

// afterKernel, when set, runs after each kernel line, while the state
// the line reports still holds: the tests compare it with ss -tan then.
var afterKernel func(ft tracer.FiveTuple, said kernel.State)

// kernelView puts what the kernel says about sockets in the trace, and
// remembers the states it reported, for the diagram.
type kernelView struct {
	l       *lesson.Run
	visited []visit
	// explained is set once a note has said what a tail loss probe is.
	explained bool
}

// visit is a state the kernel reported, whose socket was in it, and
// when.
type visit struct {
	state kernel.State
	side  string
	ft    tracer.FiveTuple
	time  time.Time
}

// says asks the kernel about the socket ft, and, when the program still
// holds it, reads its TCP_INFO through conn; it puts the answer in the
// trace, in time order with the packets. why explains the state the
// lesson expects, want; when the kernel says otherwise, the trace says
// that instead. side ("client", "server") is whose state the diagram
// marks; "" marks nothing. It returns the TCP_INFO it showed, nil when
// there was none.
func (k *kernelView) says(side, who string, ft tracer.FiveTuple, conn net.Conn, want kernel.State, why string) *kernel.Info {
	var got kernel.Socket
	err := k.at(ft, func() (err error) {
		got, err = kernel.Lookup(ft)
		return err
	})
	var said string
	switch {
	case errors.Is(err, kernel.ErrNotFound):
		said, got.State = "gone", gone
	case err != nil:
		k.note(ft, who+": state unknown", fmt.Sprintf("The lesson could not ask the kernel (%v).", err))
		return nil
	default:
		said = got.State.String()
		if side != "" {
			k.visited = append(k.visited, visit{got.State, side, ft, time.Now()})
		}
	}
	var info *kernel.Info
	if got.State != want {
		why = fmt.Sprintf("The lesson expected %s here, so its explanation does not fit this run: "+
			"read the packets around this line to see why.", name(want))
	}
	if got.State != gone {
		why += " " + details(got)
		info = got.Info
		if conn != nil {
			// The program holds the socket: getsockopt(TCP_INFO).
			if i, err := kernel.TCPInfo(conn); err == nil {
				info = i
			}
		}
		if sum := summary(info); sum != "" {
			why += " TCP_INFO: " + sum + "."
		}
	}
	k.note(ft, who+": "+said, why)
	if afterKernel != nil {
		// NOTE: ignoring the error: afterKernel reports its own.
		_ = k.at(ft, func() error { afterKernel(ft, got.State); return nil })
	}
	return info
}

// awaits waits until the socket ft is in state want (or gone), then
// says so as says does. The kernel cannot tell when a state changes, so
// package kernel asks it every millisecond.
func (k *kernelView) awaits(side, who string, ft tracer.FiveTuple, conn net.Conn, want kernel.State, why string) {
	k.await(ft, want)
	k.says(side, who, ft, conn, want, why)
}

// await waits until the socket ft is in state want (or gone), for 5 s
// at most.
func (k *kernelView) await(ft tracer.FiveTuple, want kernel.State) {
	ctx, cancel := context.WithTimeout(k.l.Context(), 5*time.Second)
	defer cancel()
	// NOTE: ignoring a timeout: says reports the state the socket is
	// in instead.
	_ = k.at(ft, func() error {
		if want == gone {
			return kernel.WaitGone(ctx, ft)
		}
		return kernel.WaitState(ctx, ft, want)
	})
}

// at runs f in the network namespace of the socket ft, the client's or
// the server's, which its local address tells: the kernel's socket
// diagnostics there know the socket, those of the other end do not.
func (k *kernelView) at(ft tracer.FiveTuple, f func() error) error {
	if ft.Local.Addr().Unmap() == link.ServerAddr {
		return k.l.Server(f)
	}
	return k.l.Client(f)
}

// connecting waits until the client's kernel holds a socket in
// SYN_SENT whose peer is remote, and returns its tuple: ss -tan state
// syn-sent dst REMOTE, asked every millisecond in the client's
// namespace.
func (k *kernelView) connecting(remote netip.AddrPort) (tracer.FiveTuple, error) {
	ctx, cancel := context.WithTimeout(k.l.Context(), 2*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var found tracer.FiveTuple
	err := k.l.Client(func() error {
		for {
			socks, err := kernel.Sockets(kernel.SynSent)
			if err != nil {
				return err
			}
			for _, s := range socks {
				if s.Remote == remote {
					found = s.Tuple()
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no socket in SYN_SENT to %s: %w", remote, ctx.Err())
			case <-tick.C:
			}
		}
	})
	return found, err
}

// program reports the state of the program's own socket, as TCP_INFO
// through conn gives it, where it differs from the connection's.
func (k *kernelView) program(side, who string, ft tracer.FiveTuple, conn net.Conn, want kernel.State, why string) {
	i, err := kernel.TCPInfo(conn)
	if err != nil {
		k.note(ft, who+": state unknown", fmt.Sprintf("The lesson could not read TCP_INFO (%v).", err))
		return
	}
	if i.State != want {
		why = fmt.Sprintf("The lesson expected %s here, so its explanation does not fit this run.", want)
	}
	k.note(ft, who+": "+i.State.String(), why)
}

// wait polls the kernel until the socket ft satisfies ok; it gives up
// after 5 s.
func (k *kernelView) wait(ft tracer.FiveTuple, want string, ok func(kernel.Socket) bool) (kernel.Socket, error) {
	ctx, cancel := context.WithTimeout(k.l.Context(), 5*time.Second)
	defer cancel()
	var s kernel.Socket
	err := k.at(ft, func() (err error) {
		s, err = kernel.Wait(ctx, ft, want, ok)
		return err
	})
	return s, err
}

// acknowledged waits until all the socket ft has sent is acknowledged
// (Send-Q 0), so that what TCP_INFO says next does not depend on when
// a delayed ACK comes.
func (k *kernelView) acknowledged(ft tracer.FiveTuple) error {
	_, err := k.wait(ft, "Send-Q 0", func(s kernel.Socket) bool { return s.SendQ == 0 })
	return err
}

func (k *kernelView) note(ft tracer.FiveTuple, text, note string) {
	k.l.Trace().Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseNote, Proto: "tcp",
		Local: ft.Local, Remote: ft.Remote, Text: text, Note: note})
}

func name(s kernel.State) string {
	if s == gone {
		return "no socket"
	}
	return s.String()
}

// details says what ss -tano would show of s besides its state: the
// queues and the timer.
func details(s kernel.Socket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The kernel says: Recv-Q %d, Send-Q %d; ", s.RecvQ, s.SendQ)
	left := short(s.Expires)
	switch {
	case s.Timer == kernel.TimerOff:
		b.WriteString("no timer.")
	case s.Timer == kernel.TimerOn && s.State == kernel.SynSent:
		// No loss probe for a SYN: this is the retransmission timer.
		fmt.Fprintf(&b, "retransmission timer on, due in %s, %d timeouts so far.", left, s.Retrans)
	case s.Timer == kernel.TimerOn:
		// ss's "on" is the retransmission timer, the tail loss probe's
		// or the reordering timer's: the kernel does not say which.
		// Its count is the retransmission timeouts in a row.
		fmt.Fprintf(&b, "a timer on (ss: on), due in %s, %d retransmission timeouts in a row.", left, s.Retrans)
	case s.Timer == kernel.TimerKeepalive:
		fmt.Fprintf(&b, "keepalive timer, due in %s.", left)
	case s.Timer == kernel.TimerTimeWait:
		fmt.Fprintf(&b, "TIME_WAIT timer, due in %s: then the kernel releases the socket.", left)
	default:
		fmt.Fprintf(&b, "%s timer, due in %s.", s.Timer, left)
	}
	return b.String()
}

// summary picks from TCP_INFO what teaches something in its state.
func summary(i *kernel.Info) string {
	if i == nil {
		return ""
	}
	switch i.State {
	case kernel.Listen:
		return "" // the queue is Recv-Q
	case kernel.SynSent:
		return fmt.Sprintf("unacked %d (the SYN), retransmission timeout (rto) %s", i.Unacked, short(i.RTO))
	case kernel.Established:
		return fmt.Sprintf("rtt %s ±%s, rto %s, congestion window %d segments of up to %d bytes (mss), "+
			"%d bytes acknowledged by the peer, %d received", short(i.RTT), short(i.RTTVar), short(i.RTO),
			i.SndCwnd, i.SndMSS, i.BytesAcked, i.BytesReceived)
	case kernel.FinWait1, kernel.LastAck:
		return fmt.Sprintf("unacked %d (the FIN), rto %s, segments sent again in all (total_retrans) %d, "+
			"retransmission timeouts (total_rto) %d", i.Unacked, short(i.RTO), i.TotalRetrans, i.TotalRTO)
	}
	return fmt.Sprintf("unacked %d, total_retrans %d, total_rto %d, %d bytes acknowledged by the peer, %d received",
		i.Unacked, i.TotalRetrans, i.TotalRTO, i.BytesAcked, i.BytesReceived)
}

// resent says which of the kernel's timers sent a segment again between
// two readings of a socket's TCP_INFO, as far as TCP_INFO tells:
// total_retrans counts every segment sent again, total_rto each expiry
// of the retransmission timeout. A copy that total_retrans counts and
// total_rto does not was sent by another timer; with nothing but the
// one segment in flight and no ACK at all, no duplicate ACKs or SACKs
// could start a fast retransmit, so that timer is the tail loss
// probe's (the kernel's counter TcpExtTCPLossProbes counts those).
//
// The first tail loss probe it names it explains.
func (k *kernelView) resent(before, after *kernel.Info) string {
	if before == nil || after == nil {
		return "The lesson could not read TCP_INFO before and after, so it cannot say which timer sent it."
	}
	copies := after.TotalRetrans - before.TotalRetrans
	timeouts := int(after.TotalRTO) - int(before.TotalRTO)
	switch {
	case copies == 0:
		return fmt.Sprintf("TCP_INFO counts no segment sent again (total_retrans %d).", after.TotalRetrans)
	case !kernel.CountsTimeouts():
		return fmt.Sprintf("TCP_INFO's total_retrans went up by %d. This kernel does not count retransmission "+
			"timeouts per socket (total_rto, Linux 6.7), so the lesson cannot tell which timer sent it.", copies)
	case timeouts == 0 && copies == 1:
		const probe = "It was a tail loss probe (RFC 8985): TCP_INFO's total_retrans went up by 1, total_rto did not."
		if k.explained {
			return probe
		}
		k.explained = true
		return probe + " When no ACK comes for about two round trips (plus 200 ms when a single segment is in " +
			"flight, time for a delayed ACK), Linux sends the last segment again, so that the peer's ACK shows " +
			"whether it was lost, before the retransmission timeout (RTO) would fire."
	case timeouts == 0:
		return fmt.Sprintf("TCP_INFO's total_retrans went up by %d, total_rto did not: no retransmission timeout "+
			"fired, so tail loss probes sent them.", copies)
	case uint32(timeouts) == copies:
		return fmt.Sprintf("The retransmission timeout (RTO) fired: TCP_INFO's total_retrans and total_rto both "+
			"went up by %d.", copies)
	}
	return fmt.Sprintf("TCP_INFO's total_retrans went up by %d and total_rto by %d: %d of the copies came "+
		"when the retransmission timeout (RTO) fired, the other %d from another timer, the tail loss probe's.",
		copies, timeouts, timeouts, int(copies)-timeouts)
}

// short formats a duration for people, to the millisecond below a
// second and to the second above: "0.031 ms", "204 ms", "60 s".
func short(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return tracer.FormatDuration(d)
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("%d s", int64(d.Round(time.Second).Seconds()))
}
