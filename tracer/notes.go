package tracer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tcptour/tracer/kernel"
)

// appendDefaultNote appends defaultNote of e; the notes of the events a
// connection has many of are built without an allocation.
func appendDefaultNote(b []byte, e *Event) []byte {
	switch e.Phase {
	case PhaseDNSSkip:
		return append(append(b, e.Name...), " is an IP literal: there is nothing to look up, so no DNS query is sent and the connect starts at once."...)
	case PhaseConnectStart:
		b = append(b, "Dial calls connect(2): the client's kernel sends a SYN to "...)
		b = appendAddrPort(b, e.Remote)
		return append(b, " and Dial waits for the answer (an ERROR follows if the socket could not even be set up, and then no SYN is sent)."...)
	case PhaseConnectDone:
		b = append(b, "The three-way handshake (SYN, SYN-ACK, ACK) is done: Dial returned "...)
		b = appendDuration(b, e.Duration)
		b = append(b, " after connect started. Accept plays no part in it. The client's end is port "...)
		b = strconv.AppendUint(b, uint64(e.Local.Port()), 10)
		b = append(append(b, ", and the five-tuple "...), e.Proto...)
		b = appendAddrPort(append(b, ' '), e.Local)
		b = appendAddrPort(append(b, " ↔ "...), e.Remote)
		return append(b, " now names this connection."...)
	case PhaseAccept:
		b = strconv.AppendInt(append(b, "Accept took connection #"...), int64(e.Conn), 10)
		b = appendAddrPort(append(b, " from "...), e.Remote)
		return append(b, " off the listener's queue; the kernel had already completed its handshake. It is a new socket with its own five-tuple; the listener goes on listening."...)
	case PhaseRead:
		b = appendPlural(append(b, "Read copied "...), e.Bytes, "byte")
		return append(b, " out of the kernel's receive buffer. The kernel acknowledges data by itself, on its own timing; a Read that makes room in the buffer can prompt it to send a delayed ACK at once, or a window update."...)
	case PhaseWrite:
		b = appendPlural(append(b, "Write hands "...), e.Bytes, "byte")
		return append(b, " to the kernel's send buffer and returns once all are in it; the kernel sends them as segments and resends any that are lost."...)
	}
	return append(b, defaultNote(e)...)
}

// defaultNote explains an event in plain language: what the program did
// and what the kernel did. Every claim here must hold for every event it
// is attached to; lessons add their own notes where a claim depends on
// what the lesson did.
func defaultNote(e *Event) string {
	switch e.Phase {
	case PhaseListen:
		var b strings.Builder
		if _, port, err := net.SplitHostPort(e.Addr); err == nil && port == "0" {
			fmt.Fprintf(&b, "Port 0 asked the kernel to choose a free port; it chose %d. ", e.Local.Port())
		}
		if e.Local.Addr().IsUnspecified() {
			if outward() {
				fmt.Fprintf(&b, "%s means every interface: other machines can connect too. ", e.Local.Addr())
			} else {
				fmt.Fprintf(&b, "%s means every interface, but this network has only loopback (as a lab's has): only programs in it can connect. ", e.Local.Addr())
			}
		} else if e.Local.Addr().IsLoopback() {
			b.WriteString("A loopback address: only programs on this machine, in the same network namespace, can connect. ")
		}
		b.WriteString("From now on the kernel answers SYNs to this port by itself: it completes each handshake and queues the connection until Accept takes it.")
		return b.String()
	case PhaseDNSStart:
		return "A name must become an address before anything can connect (Node does this in lookupAndConnect)."
	case PhaseDNSDone:
		if e.Err != "" {
			return ""
		}
		if len(e.DNSServers) == 0 {
			return fmt.Sprintf("No DNS server was asked and nothing went on the wire: the hosts file (/etc/hosts) answered %s.", joinAddrs(e.Addrs))
		}
		return fmt.Sprintf("The resolver asked the DNS server at %s and got %s back in %s: questions and answers are datagrams on the wire.",
			strings.Join(e.DNSServers, ", "), joinAddrs(e.Addrs), FormatDuration(e.Duration))
	case PhaseDNSSkip, PhaseConnectStart, PhaseConnectDone, PhaseAccept, PhaseRead, PhaseWrite:
		return string(appendDefaultNote(nil, e))
	case PhaseEOF:
		return "Read returned io.EOF: the peer's FIN arrived, so it will send nothing more (Node's 'end' event). This side may still write: a peer that only half-closed (CloseWrite) reads it; one that closed fully answers with RST."
	case PhaseCloseWrite:
		return "CloseWrite shuts down the sending half only: the kernel sends FIN after any data still queued, and reading goes on."
	case PhaseClose:
		if !e.Remote.IsValid() {
			return "The listening socket is closed: the kernel resets connections still waiting in its queue, and answers new SYNs to this port with RST (connection refused) unless another socket still listens on it (SO_REUSEPORT shares a port among listeners). Accepted connections live on."
		}
	case PhaseState:
		if e.State != nil {
			return stateNote(e.State)
		}
	case PhaseCounter:
		if c := e.Counter; c != nil && kernel.Known[c.Name] != "" {
			if c.At != "" {
				// An end of a link: a network of its own.
				return "The " + c.At + "'s kernel counts " + kernel.Known[c.Name] + ": " + strconv.FormatInt(c.Delta, 10) + " more during this step (" + strconv.FormatInt(c.Value, 10) + " since the link began; nstat -asz " + c.Name + ", after the command that joins the " + c.At + ", shows it)."
			}
			return "The kernel counts " + kernel.Known[c.Name] + ": " + strconv.FormatInt(c.Delta, 10) + " more during this step (" + strconv.FormatInt(c.Value, 10) + " since the lab began; in the lab, nstat -asz " + c.Name + " shows it)."
		}
	}
	return ""
}

// stateNote explains a change of TCP state by what makes the kernel
// change that way: the segment that arrived, or the call the program
// made. Each sentence holds for every change it is attached to.
func stateNote(c *StateChange) string {
	var what string
	rst := strings.Contains(c.CauseFlags, "RST")
	switch from, to := c.From, c.To; {
	case from == kernel.Close && to == kernel.Gone && c.Asked:
		what = "The program's socket had already left its connection (TCP_INFO said CLOSE when the program closed it): closing it released the socket, and the kernel holds nothing more under it."
	case from == kernel.TimeWait && to == kernel.TimeWait:
		what = "The program's own socket had said CLOSE: the kernel had already moved the connection to a TIME_WAIT socket of its own, which no program holds. It keeps the five-tuple there for 60 s on Linux, after both FINs: if the last ACK was lost, the peer's FIN comes again and must be answered, and no stray segment of this connection can slip into a new one with the same five-tuple."
	case to == kernel.Listen:
		what = "listen(2): the socket now takes SYNs; the kernel completes each handshake on its own and queues the connection for Accept."
	case to == kernel.SynSent:
		what = "connect(2): the socket is SYN_SENT; the kernel picks a local port if it has none and sends SYN, then waits for the SYN-ACK (with no local port free for the four-tuple, it sends nothing and connect fails with EADDRNOTAVAIL)."
	case from == kernel.SynSent && to == kernel.Established:
		what = "The SYN-ACK arrived: the client's kernel acknowledges it and the connection is open on this side; connect returns."
	case to == kernel.SynRecv:
		what = "The handshake's last ACK arrived: the kernel makes the connection's own socket, a copy of the listener's (until now the SYN was only a small request in the listener's SYN queue)."
	case from == kernel.SynRecv && to == kernel.Established:
		what = "The connection is established on the server's side: it waits in the listener's accept queue until Accept takes it."
	case to == kernel.FinWait1:
		what = "This side has closed its sending half (Close or CloseWrite, or its program ended): the kernel sends FIN and waits for the ACK."
	case to == kernel.CloseWait:
		what = "The peer's FIN arrived: it will send nothing more, and a Read here returns io.EOF once the data before the FIN is read. The socket stays in CLOSE_WAIT until its own program closes it."
	case from == kernel.FinWait1 && to == kernel.FinWait2:
		what = "The peer acknowledged this side's FIN: this direction is closed. The socket now waits for the peer's FIN."
	case to == kernel.Closing:
		what = "The peer's FIN arrived before the ACK of this side's FIN: both sides are closing at once. The socket waits for that ACK."
	case to == kernel.LastAck:
		what = "The program closed its sending half after the peer's FIN (the passive close): the kernel sends this side's FIN and waits for its ACK."
	case to == kernel.TimeWait:
		what = "This side's FIN is acknowledged and the peer's FIN has arrived (this side's kernel acknowledges it): the connection is over. The kernel still keeps its five-tuple in TIME_WAIT, in a small socket of its own that no program holds, for 60 s on Linux: if the last ACK was lost, the peer's FIN comes again and must be answered, and no stray segment of this connection can slip into a new one with the same five-tuple."
	case to == kernel.FinWait2 && c.Kept:
		what = "The program has let go of the socket; the kernel keeps this half-closed connection in a small socket of its own while it waits for the peer's FIN, for at most net.ipv4.tcp_fin_timeout (" + FormatDuration(c.Expires) + " left, as the kernel said), then drops it."
	case from == kernel.TimeWait && to == kernel.Gone:
		what = "TIME_WAIT is over: the kernel has released the five-tuple."
	case from == kernel.FinWait2 && to == kernel.Gone && rst:
		what = "A RST came instead of the peer's FIN: the kernel drops the half-closed connection."
	case from == kernel.FinWait2 && to == kernel.Gone:
		what = "The kernel has dropped the half-closed connection: the peer's FIN did not come within net.ipv4.tcp_fin_timeout, or the peer reset the connection."
	case from == kernel.CloseWait && to == kernel.Gone && c.Asked:
		what = "This side closed after the peer's FIN: the kernel sent its FIN, the ACK came back (or the close sent RST, with data left unread), and the socket is released. The passive closer keeps nothing."
	case from == kernel.LastAck && (to == kernel.Close || to == kernel.Gone) && rst:
		what = "A RST came instead of the ACK of this side's FIN: the peer's kernel no longer held the connection (or reset it), and this kernel drops the socket at once. The passive closer keeps nothing."
	case from == kernel.LastAck && (to == kernel.Close || to == kernel.Gone) && c.CauseFlags != "":
		what = "The ACK of this side's FIN arrived: the connection is over, and the kernel releases the socket. The passive closer keeps nothing."
	case from == kernel.LastAck && (to == kernel.Close || to == kernel.Gone):
		what = "The socket left LAST_ACK: the ACK of its FIN came back, or a RST, and the kernel released the socket. The passive closer keeps nothing."
	case from == kernel.Listen && (to == kernel.Close || to == kernel.Gone):
		what = "The listener is closed: a SYN to this port is now answered with RST, unless another socket still listens on it (SO_REUSEPORT)."
	case from == kernel.SynSent && (to == kernel.Close || to == kernel.Gone) && rst:
		what = "The SYN was answered with RST: nothing listens there, the connection is refused, and the kernel drops the socket."
	case from == kernel.SynSent && (to == kernel.Close || to == kernel.Gone):
		what = "The connect ended without a connection: the SYN was refused with RST, or the program gave up (a timeout, a cancelled context), or the kernel gave up its SYN retries, or connect failed before any SYN left (no local port free for the four-tuple: EADDRNOTAVAIL). The kernel drops the socket."
	case c.Reason == ReasonListenerClosed:
		what = "The listener was closed with this connection still in its accept queue, never accepted: the kernel resets it (RST to the client) and drops the socket."
	case (to == kernel.Close || to == kernel.Gone) && rst:
		what = "A RST arrived: the peer reset the connection, and the kernel drops the socket at once, without the FIN exchange."
	case (to == kernel.Close || to == kernel.Gone) && c.CauseFlags == "" && !c.Asked:
		what = "The connection ended on this side without the whole FIN exchange and without a RST arriving: this side reset it (a Close with data left unread, or with SO_LINGER 0), or the kernel gave up on its timers (retransmissions, TCP_USER_TIMEOUT or keepalive probes unanswered). The kernel releases the socket."
	case to == kernel.Close || to == kernel.Gone:
		what = "The connection ended on this side without the whole FIN exchange: a RST went one way or the other (a reset by the peer, or a Close with data left unread or with SO_LINGER 0), or the kernel gave up on its timers (retransmissions, TCP_USER_TIMEOUT or keepalive probes unanswered). The kernel releases the socket."
	default:
		what = "The kernel changed the socket's state."
	}
	switch {
	case c.Asked && c.To == kernel.Listen:
		what += " (Found when the kernel's socket diagnostics were asked, after listen returned: the change happened during the call.)"
	case c.Asked && c.From == c.To:
		what += " (Found when the kernel's socket diagnostics were asked, at this moment.)"
	case c.Asked && !Transition(c.From, c.To):
		what += " (The kernel's socket diagnostics were asked at this moment and found the socket in " + c.To.String() + "; the tracer had last seen it in " + c.From.String() + ": it went through other states since.)"
	case c.Asked:
		what += " (The kernel's socket diagnostics were asked at this moment; the tracer had last seen the socket in " + c.From.String() + ": the change happened since.)"
	}
	return what
}

// How a note is pending in an [Event] (its unexported field lazy): the
// trace does not build an event's default note when it records it, but
// when it is printed or read, so that a trace costs no allocation for
// it. noteClose carries what the close's note needs that the event does
// not hold.
const (
	noteDefault uint8 = 1 << iota // defaultNote of the event
	noteClose                     // a connection's close: the flags below say which
	noteReset                     // with noteClose: the peer had reset the connection
	noteLinger0                   // with noteClose: SO_LINGER on with a zero timeout
	noteWClosed                   // with noteClose: CloseWrite had sent this side's FIN
)

// closeKind is the pending note of a connection's close.
func closeKind(i CloseInfo) uint8 {
	k := noteClose
	if i.Reset {
		k |= noteReset
	}
	if i.Linger0 {
		k |= noteLinger0
	}
	if i.WriteClosed {
		k |= noteWClosed
	}
	return k
}

// appendNote appends e's note: the one it holds, or the one pending.
func appendNote(b []byte, e *Event) []byte {
	switch {
	case e.Note != "":
		return append(b, e.Note...)
	case e.lazy&noteClose != 0:
		return appendCloseNote(b, e.lazy, e)
	case e.lazy == noteDefault:
		return appendDefaultNote(b, e)
	}
	return b
}

// appendCloseNote appends the note of a connection's close, by what
// the program and the kernel (its TCP_INFO, read before the call) say
// of the socket.
func appendCloseNote(b []byte, kind uint8, e *Event) []byte {
	closed := e.TCP != nil && e.TCP.State == kernel.Close
	switch {
	case kind&noteReset != 0:
		b = append(b, "The peer had reset the connection: Close sends nothing and only releases the socket."...)
	case closed && e.PeerClosed && kind&noteWClosed != 0:
		b = append(b, "Both directions were already closed with FINs, and the kernel says CLOSE for this socket (TCP_INFO): the connection is over (the side that sent the first FIN keeps TIME_WAIT in a socket of the kernel's own). Close sends nothing and only releases the socket."...)
	case closed:
		b = append(b, "The kernel already says CLOSE for this socket (TCP_INFO): the connection ended before the program closed it: reset by the peer, given up by this kernel (its retransmissions or keepalive probes unanswered, or TCP_USER_TIMEOUT passed), or finished with the TIME_WAIT kept in a socket of the kernel's own. Close sends nothing and only releases the socket."...)
	case kind&noteLinger0 != 0:
		b = append(b, "SO_LINGER is on with a zero timeout: Close discards any unsent data and the kernel sends RST instead of FIN, so the connection ends at once, with no TIME_WAIT."...)
	case kind&noteWClosed != 0:
		b = append(b, "Close releases the socket; this side's FIN was already sent by CloseWrite (received data left unread would make the kernel send RST now)."...)
	case e.PeerClosed:
		b = append(b, "Close after the peer's FIN: the kernel now sends this side's FIN (the passive close), or RST if received data was left unread."...)
	default:
		b = append(b, "This side closes first (the active close): the kernel sends FIN, or RST if received data was left unread."...)
	}
	b = append(b, " The connection read "...)
	b = appendPlural(b, int(e.BytesIn), "byte")
	b = appendPlural(append(b, " and wrote "...), int(e.BytesOut), "byte")
	b = appendDuration(append(b, " in "...), e.Lifetime)
	return append(b, '.')
}

// writeFailedNote says how much of a failed Write reached the kernel.
func writeFailedNote(size, written int) string {
	if written == 0 {
		return "The Write of " + plural(size, "byte") + " failed: none of them reached the kernel's send buffer, and nothing was sent."
	}
	return "The Write of " + plural(size, "byte") + " failed after " + plural(written, "byte") + " reached the kernel's send buffer."
}

// failedSyscall names the system call that err comes from ("connect",
// "bind"), or "" when it does not say.
func failedSyscall(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall
	}
	return ""
}

// errorNote explains a failed operation by its cause.
func errorNote(op string, err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "The DNS answer says no such name (NXDOMAIN, or no address of the family asked for): there is nothing to connect to, so no SYN is sent."
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return "The DNS server did not answer in time."
	case errors.Is(err, syscall.EADDRINUSE) && op == "listen":
		return "Another socket already holds this address and port (EADDRINUSE): a listener (ss -ltnp shows which program's), or a connection on this port, in TIME_WAIT among others, when this socket or that one lacks SO_REUSEADDR. Go sets SO_REUSEADDR on its listeners, and their connections inherit it, so a restarted Go server binds at once over the TIME_WAIT sockets of its old connections; a listener made without it waits up to 60 s for them to go. Stop the program that listens, or choose another port."
	case errors.Is(err, syscall.EADDRINUSE):
		return "Another socket already holds this address and port (EADDRINUSE): a listener, a connection, or one the kernel keeps in TIME_WAIT, which blocks a bind without SO_REUSEADDR, such as a client's to a fixed local port."
	case errors.Is(err, syscall.EACCES) && op == "listen":
		return "Ports below 1024 need root or CAP_NET_BIND_SERVICE (EACCES): choose a port from 1024 up."
	case errors.Is(err, syscall.EADDRNOTAVAIL) && failedSyscall(err) == "connect":
		return "The kernel found no local port that makes this connection's four-tuple new (EADDRNOTAVAIL from connect): each port of net.ipv4.ip_local_port_range (or the one port the socket was bound to) is taken, by a socket to this address and port, connected or in TIME_WAIT, or by one bound to the port or listening there, so no SYN was sent. " +
			"Go's Dial, when no local port was given, tries connect up to three times on this error before it returns it (Linux has been known to return it spuriously)."
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "No interface of this machine has that address (EADDRNOTAVAIL)."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Nothing listens there: the server's kernel answered the SYN with RST, and connect failed with ECONNREFUSED."
	case errors.Is(err, syscall.ECONNRESET):
		return "The peer's kernel sent RST (ECONNRESET): the connection is gone at once. Whatever the peer had not yet sent or read is lost; from now on Read returns an error or io.EOF and Write fails."
	case errors.Is(err, syscall.EPIPE):
		return "The connection is closed for writing (EPIPE): the peer reset it, or this side shut down its sending half."
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		limit := "this process has as many files open as its limit allows (EMFILE: too many open files; ulimit -n shows the limit)"
		if errors.Is(err, syscall.ENFILE) {
			limit = "the whole system has as many files open as it allows (ENFILE)"
		}
		if op == "accept" {
			return "Accept failed because " + limit + ": there was no file descriptor for the new connection. " +
				"The listener is still fine, and the connection stays in its queue, handshake done, until an Accept succeeds: a server should wait and try again, as net/http's does (5 ms, doubling up to 1 s)."
		}
		return "No new socket could be opened: " + limit + "."
	case op == "connect" && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)):
		return "No SYN-ACK came back before the dial's deadline, so Dial gave up (a timeout; net.Error's Timeout() is true). " +
			"Until then the client's kernel resends an unanswered SYN, the first time after 1 s. " +
			"With no deadline (net.Dialer's default), Linux itself gives up when its retries run out (net.ipv4.tcp_syn_retries; the capture shows their times), and connect fails with ETIMEDOUT."
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "The deadline passed before the operation finished (a timeout)."
	case errors.Is(err, syscall.ETIMEDOUT) && (op == "read" || op == "write"):
		return "The kernel gave up the connection (ETIMEDOUT): what it sent went unanswered, either data sent again for longer than TCP_USER_TIMEOUT allows " +
			"(without it, for a time computed from net.ipv4.tcp_retries2: 924.6 s for the default 15) or keepalive probes, as many as TCP_KEEPCNT (TCP_USER_TIMEOUT, when set, bounds them too)."
	case errors.Is(err, syscall.ETIMEDOUT):
		return "The kernel gave up (ETIMEDOUT): its SYNs went unanswered through all its retries (net.ipv4.tcp_syn_retries), or its retransmitted data for the time its retries allow."
	case errors.Is(err, context.Canceled) && op == "connect":
		return "The program gave up the dial (its context was cancelled): the kernel drops the connection attempt and sends nothing more."
	case errors.Is(err, net.ErrClosed):
		return "This program had already closed the socket."
	}
	return "The " + op + " failed; the error says why."
}

// FormatDuration formats d for people: "0.128 ms", "12.500 s", "2h0m0s".
func FormatDuration(d time.Duration) string {
	var b [32]byte
	return string(appendDuration(b[:0], d))
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// outward reports whether this network has an interface other than
// loopback that is up: one through which other machines may connect.
func outward() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return true // the claim that warns
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			return true
		}
	}
	return false
}
