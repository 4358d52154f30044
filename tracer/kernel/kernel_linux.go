//go:build linux

package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lookup asks the kernel about the TCP socket whose five-tuple, seen
// from the socket's own end, is ft. A tuple without a Remote names a
// listening socket. When the kernel holds no such socket the error
// matches [ErrNotFound].
//
// It is one exact lookup in the kernel's socket tables (tens of
// microseconds), not a dump of every socket as ss does.
func Lookup(ft FiveTuple) (Socket, error) {
	return lookupTuple(ft, func(family uint8, local, remote netip.AddrPort) (Socket, error) {
		return lookup(nil, family, local, remote)
	})
}

// Diag asks the kernel about sockets as [Lookup] does, through one
// netlink socket kept open and one buffer: a question is two system
// calls (write, read) into that buffer, where [Lookup] opens, binds and
// closes a socket, and allocates 64 KiB for the answer, each time:
// for a program that asks often (wire.States asks about every socket a
// traced program closes, thousands a second on a busy server). It is
// safe for concurrent use; Close it when done.
type Diag struct {
	mu   sync.Mutex
	sock *nl.NetlinkSocket // nil once closed
	seq  uint32            // the last question's sequence number
	req  [nlmsgHdrLen + 56]byte
	buf  []byte // the answer
	// LookupAll's questions and answers, made at its first call.
	reqs, answers []byte
	iovs          []unix.Iovec
	msgs          []unix.Mmsghdr
}

const nlmsgHdrLen = 16 // struct nlmsghdr

// OpenDiag opens a netlink socket for socket diagnostics, in the
// network namespace of the calling thread.
func OpenDiag() (*Diag, error) {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("kernel: socket diagnostics: %w", err)
	}
	return &Diag{sock: s, buf: make([]byte, 8<<10)}, nil
}

// Lookup is [Lookup], through d's socket. After Close it opens one
// for each lookup, as Lookup does.
func (d *Diag) Lookup(ft FiveTuple) (Socket, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sock == nil {
		return lookupTuple(ft, func(family uint8, local, remote netip.AddrPort) (Socket, error) {
			return lookup(nil, family, local, remote)
		})
	}
	return lookupTuple(ft, d.ask)
}

// batch is how many questions LookupAll sends in one write, and reads
// the answers of in one recvmmsg: the answers wait in the socket's
// receive buffer meanwhile (212,992 bytes by default; an answer takes
// about 1.5 KB of it, its skb's true size). An answer the buffer had no
// room for is asked for again on its own.
const batch = 64

// answerSize is the room for one answer in LookupAll's recvmmsg: struct
// nlmsghdr, struct inet_diag_msg and the struct tcp_info asked for,
// with their attributes' headers, take about 300 bytes. An answer
// longer than this (the kernel may add attributes of its own) is asked
// for again on its own, into Lookup's 8 KiB.
const answerSize = 1024

// LookupAll asks about each socket of fts as [Diag.Lookup] does, and
// puts the answers in into (one for each of fts, in order; into's length
// must be len(fts)): the questions go to the kernel up to 64 in one
// write, and their answers come back in one recvmmsg, where Lookup
// makes two system calls for each. A socket the kernel does not hold
// has Err == ErrNotFound. When d cannot ask at all, LookupAll returns
// the error, and each question not answered holds it.
func (d *Diag) LookupAll(fts []FiveTuple, into []Answer) error {
	if len(into) != len(fts) {
		return fmt.Errorf("kernel: %d answers for %d questions", len(into), len(fts))
	}
	for i := 0; i < len(fts); i += batch {
		n := min(batch, len(fts)-i)
		// d's lock for a batch at a time: a Lookup meanwhile waits
		// for one batch, not for all.
		d.mu.Lock()
		err := d.askAll(fts[i:i+n], into[i:i+n])
		d.mu.Unlock()
		if err != nil {
			for j := i + n; j < len(fts); j++ {
				into[j] = Answer{Err: wrap(fts[j], err)}
			}
			return fmt.Errorf("kernel: %w", err)
		}
	}
	return nil
}

// askAll is LookupAll for up to batch questions. d.mu is held. On an
// error, the questions it did not answer hold it.
func (d *Diag) askAll(fts []FiveTuple, into []Answer) error {
	if d.sock == nil {
		for i, ft := range fts {
			s, err := lookupTuple(ft, func(family uint8, local, remote netip.AddrPort) (Socket, error) {
				return lookup(nil, family, local, remote)
			})
			into[i] = Answer{Socket: s, Err: notFound(err)}
		}
		return nil
	}
	if d.reqs == nil {
		d.reqs = make([]byte, batch*len(d.req))
		d.answers = make([]byte, batch*answerSize)
		d.iovs = make([]unix.Iovec, batch)
		d.msgs = make([]unix.Mmsghdr, batch)
	}
	// The questions, numbered d.seq+1 on; a tuple that cannot be asked
	// about is answered here.
	first := d.seq + 1
	type asked struct {
		family        uint8
		local, remote netip.AddrPort
		at            int  // index in into
		done          bool // answered
	}
	var qs [batch]asked
	var nq int
	b := d.reqs[:0]
	for i, ft := range fts {
		into[i] = Answer{}
		family, local, remote, err := question(ft)
		if err != nil {
			into[i].Err = wrap(ft, err)
			continue
		}
		b = append(b, d.putQuestion(family, local, remote)...)
		qs[nq] = asked{family: family, local: local, remote: remote, at: i}
		nq++
	}
	if nq == 0 {
		return nil
	}
	unanswered := func(err error) {
		for _, q := range qs[:nq] {
			if !q.done {
				into[q.at] = Answer{Err: wrap(fts[q.at], err)}
			}
		}
	}
	fd := d.sock.GetFd()
	// The kernel answers each question of the write before it returns:
	// what is not in the receive buffer then will not come.
	if _, err := unix.Write(fd, b); err != nil {
		err = fmt.Errorf("socket diagnostics: %w", err)
		unanswered(err)
		return err
	}
	got := 0 // the questions answered
	for got < nq {
		for j := range nq - got {
			d.iovs[j] = unix.Iovec{Base: &d.answers[j*answerSize]}
			d.iovs[j].SetLen(answerSize)
			d.msgs[j] = unix.Mmsghdr{Hdr: unix.Msghdr{Iov: &d.iovs[j], Iovlen: 1}}
		}
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&d.msgs[0])), uintptr(nq-got), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR || errno == unix.ENOBUFS {
			// ENOBUFS: the receive buffer had no room for some
			// answers, which are lost (asked for again below); it
			// says so once, and the others wait behind it.
			continue
		}
		if errno == unix.EAGAIN {
			break // no more answers
		}
		if errno != 0 {
			err := fmt.Errorf("socket diagnostics: %w", errno)
			unanswered(err)
			return err
		}
		for j := range int(r) {
			m := d.answers[j*answerSize : j*answerSize+int(d.msgs[j].Len)]
			if d.msgs[j].Hdr.Flags&unix.MSG_TRUNC != 0 || len(m) < nlmsgHdrLen {
				continue // cut short: asked for again below
			}
			seq := binary.NativeEndian.Uint32(m[8:])
			if seq-first >= uint32(nq) {
				continue // an answer to an earlier question, given up on
			}
			q := &qs[seq-first]
			if q.done {
				continue
			}
			s, err, mine := answer(m, seq, q.local, q.remote)
			if !mine {
				continue
			}
			if err != nil && err != ErrNotFound {
				err = wrap(fts[q.at], err)
			}
			into[q.at] = Answer{Socket: s, Err: err}
			q.done = true
			got++
		}
	}
	// What did not come back whole: each on its own, as Lookup asks.
	for k := range qs[:nq] {
		q := &qs[k]
		if q.done {
			continue
		}
		s, err := d.ask(q.family, q.local, q.remote)
		if err != nil && !errors.Is(err, ErrNotFound) {
			unanswered(err)
			return err
		}
		into[q.at] = Answer{Socket: s, Err: notFound(err)}
		q.done = true
	}
	return nil
}

// notFound returns ErrNotFound itself for an error that matches it: a
// caller that asks about many sockets, most gone, tests it without
// formatting a message for each.
func notFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// diagTimeout bounds the wait for an answer: the kernel answers a
// question before the send returns, so one that has not come this long
// after will not come.
const diagTimeout = 2 * time.Second

// putQuestion numbers the next question, about the socket with these
// ends, and writes it into d.req, which it returns. d.mu is held.
func (d *Diag) putQuestion(family uint8, local, remote netip.AddrPort) []byte {
	d.seq++
	b := d.req[:]
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], nl.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[8:], d.seq)
	binary.NativeEndian.PutUint32(b[12:], 0)
	req := diagReq{family: family, states: ^uint32(0), ext: extInfo, local: local, remote: remote}
	req.put(b[nlmsgHdrLen:])
	return b
}

// ask is lookup through d's socket. d.mu is held.
func (d *Diag) ask(family uint8, local, remote netip.AddrPort) (Socket, error) {
	b := d.putQuestion(family, local, remote)
	fd := d.sock.GetFd()
	// No address: a netlink socket's messages go to the kernel.
	if _, err := unix.Write(fd, b); err != nil {
		return Socket{}, fmt.Errorf("socket diagnostics: %w", err)
	}
	deadline := time.Now().Add(diagTimeout)
	for {
		n, err := unix.Read(fd, d.buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			// The socket does not block (the library made it so):
			// wait for the answer, a while.
			left := time.Until(deadline)
			if left <= 0 {
				return Socket{}, fmt.Errorf("socket diagnostics: no answer in %s", diagTimeout)
			}
			_, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left/time.Millisecond)+1)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return Socket{}, fmt.Errorf("socket diagnostics: %w", err)
			}
			continue
		}
		if err != nil {
			return Socket{}, fmt.Errorf("socket diagnostics: %w", err)
		}
		s, err, mine := answer(d.buf[:n], d.seq, local, remote)
		if mine {
			return s, err
		}
		// An answer to an earlier question, given up on: the next.
	}
}

// answer reads the kernel's answer to the question numbered seq in m:
// the socket, ErrNotFound, or the kernel's error. mine is false when m
// answers another question.
func answer(m []byte, seq uint32, local, remote netip.AddrPort) (s Socket, err error, mine bool) {
	for len(m) >= nlmsgHdrLen {
		size := int(binary.NativeEndian.Uint32(m[0:]))
		if size < nlmsgHdrLen || size > len(m) {
			return Socket{}, fmt.Errorf("socket diagnostics: an answer of %d bytes in %d", size, len(m)), true
		}
		typ := binary.NativeEndian.Uint16(m[4:])
		mseq := binary.NativeEndian.Uint32(m[8:])
		body := m[nlmsgHdrLen:size]
		m = m[min(len(m), (size+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		if mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return Socket{}, errors.New("socket diagnostics: a short error"), true
			}
			switch errno := syscall.Errno(-int32(binary.NativeEndian.Uint32(body))); errno {
			case 0:
				return Socket{}, errors.New("socket diagnostics: an acknowledgement, not an answer"), true
			case syscall.ENOENT:
				return Socket{}, ErrNotFound, true
			default:
				return Socket{}, fmt.Errorf("socket diagnostics: %w", errno), true
			}
		case nl.SOCK_DIAG_BY_FAMILY:
			s, ok := parseDiagMsg(body)
			if ok && norm(s.Local) == local && norm(s.Remote) == remote {
				return s, nil, true
			}
			return Socket{}, ErrNotFound, true
		}
	}
	return Socket{}, nil, false
}

// Close closes d's socket.
func (d *Diag) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sock == nil {
		return nil
	}
	d.sock.Close()
	d.sock = nil
	return nil
}

// lookupTuple is Lookup through ask, a question about one socket of a
// family.
func lookupTuple(ft FiveTuple, ask func(family uint8, local, remote netip.AddrPort) (Socket, error)) (Socket, error) {
	family, local, remote, err := question(ft)
	if err != nil {
		return Socket{}, wrap(ft, err)
	}
	s, err := ask(family, local, remote)
	return s, wrap(ft, err)
}

// question is what to ask the kernel about the socket of ft: the family
// and its two ends, normalised.
func question(ft FiveTuple) (family uint8, local, remote netip.AddrPort, err error) {
	switch ft.Proto {
	case "tcp", "tcp4", "tcp6", "":
	default:
		return 0, local, remote, errors.New("only TCP sockets have a state")
	}
	if !ft.Local.IsValid() {
		return 0, local, remote, errors.New("no local address")
	}
	local, remote = norm(ft.Local), norm(ft.Remote)
	family = unix.AF_INET6
	if local.Addr().Is4() && (!remote.IsValid() || remote.Addr().Is4()) {
		// An IPv4 tuple: the kernel looks it up in its IPv4 tables
		// whichever family is asked, and they hold the IPv6 sockets
		// that talk IPv4 (IPv4-mapped addresses: a "tcp" listener on
		// [::] accepting an IPv4 client) too. One question finds the
		// socket of either family, or says there is none.
		family = unix.AF_INET
	}
	return family, local, remote, nil
}

// StateOf returns the state of the TCP socket whose five-tuple, seen
// from the socket's own end, is ft, as [Lookup] finds it. When the
// kernel holds no such socket the error matches [ErrNotFound].
func StateOf(ft FiveTuple) (State, error) {
	s, err := Lookup(ft)
	return s.State, err
}

// States returns the states of the TCP sockets with these five-tuples,
// each seen from its socket's own end, as [StateOf] does. A tuple the
// kernel holds no socket for is absent from the map.
func States(fts ...FiveTuple) (map[FiveTuple]State, error) {
	found := make(map[FiveTuple]State, len(fts))
	for _, ft := range fts {
		s, err := StateOf(ft)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		default:
			found[ft] = s
		}
	}
	return found, nil
}

// Sockets returns every TCP socket, IPv4 and IPv6, that the kernel holds
// in one of states, or in any state when none is given: what
// `ss -tan state STATE` lists. It is a dump of the kernel's tables, so
// it costs more than [Lookup]; use it to find a socket whose tuple is
// not known yet (a connect in progress has a local port that Dial has
// not returned).
func Sockets(states ...State) ([]Socket, error) {
	var mask uint32
	for _, s := range states {
		mask |= 1 << s
	}
	if len(states) == 0 {
		mask = allStates
	}
	var all []Socket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var msgs [][]byte
		var err error
		for range 3 { // a dump interrupted by a change is asked again
			req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
			req.AddData(&diagReq{family: family, states: mask, ext: extInfo})
			msgs, err = req.Execute(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY)
			if !errors.Is(err, nl.ErrDumpInterrupted) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("kernel: socket diagnostics: %w", err)
		}
		for _, m := range msgs {
			if s, ok := parseDiagMsg(m); ok {
				all = append(all, s)
			}
		}
	}
	return all, nil
}

// Wait polls the kernel, every millisecond, until the socket with
// five-tuple ft exists and ok returns true for it; socket diagnostics
// cannot notify a change. It returns the socket then, or, when ctx is
// done first, an error that says what was awaited (want, e.g.
// "Recv-Q 4"), the last state seen, and matches ctx's error.
func Wait(ctx context.Context, ft FiveTuple, want string, ok func(Socket) bool) (Socket, error) {
	var s Socket
	err := wait(ctx, ft, want, func(got Socket, err error) bool {
		s = got
		return err == nil && ok(got)
	})
	return s, err
}

// WaitState polls the kernel, every millisecond, until the socket with
// five-tuple ft is in state want; socket diagnostics cannot notify a
// change of state. It returns nil then, or, when ctx is done first, an
// error that says the last state seen and matches ctx's error.
func WaitState(ctx context.Context, ft FiveTuple, want State) error {
	return wait(ctx, ft, want.String(), func(s Socket, err error) bool { return err == nil && s.State == want })
}

// WaitGone polls the kernel like [WaitState] until it holds no socket
// with five-tuple ft: the passive closer's socket once the ACK of its
// FIN has come (after LAST_ACK), the active closer's after TIME_WAIT.
func WaitGone(ctx context.Context, ft FiveTuple) error {
	return wait(ctx, ft, "no socket", func(s Socket, err error) bool { return errors.Is(err, ErrNotFound) })
}

func wait(ctx context.Context, ft FiveTuple, want string, done func(Socket, error) bool) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s, err := Lookup(ft)
		if done(s, err) {
			return nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			last := "no socket"
			if err == nil {
				last = s.State.String()
			}
			return fmt.Errorf("kernel: %s: waiting for %s, still %s: %w", ft, want, last, ctx.Err())
		case <-tick.C:
		}
	}
}

func wrap(ft FiveTuple, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kernel: %s: %w", ft, err)
}

// norm returns ap without IPv4 mapping or zone; a listener's remote
// (0.0.0.0:0, [::]:0) becomes the zero AddrPort.
func norm(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr().Unmap().WithZone("")
	if a.IsUnspecified() && ap.Port() == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, ap.Port())
}

// allStates asks for every state of include/net/tcp_states.h, from
// ESTABLISHED to NEW_SYN_RECV (ss's "all").
const allStates = (1<<(NewSynRecv+1) - 1) &^ 1 // bits 1 to 12

// inetDiagInfo is INET_DIAG_INFO (linux/inet_diag.h), the attribute
// that holds a socket's struct tcp_info; extInfo asks for it.
const (
	inetDiagInfo = 2
	extInfo      = 1 << (inetDiagInfo - 1)
)

// lookup asks the kernel for the one TCP socket of family with these
// addresses: a sock_diag request without NLM_F_DUMP, which the kernel
// answers from its hash tables (established and TIME_WAIT sockets, then
// listeners). The kernel falls back to a listener on the local port
// when no connection matches, so the answer's addresses are checked.
func lookup(sockets map[int]*nl.SocketHandle, family uint8, local, remote netip.AddrPort) (Socket, error) {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, 0)
	req.Sockets = sockets
	req.AddData(&diagReq{family: family, states: ^uint32(0), ext: extInfo, local: local, remote: remote})
	msgs, err := req.Execute(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return Socket{}, ErrNotFound
	case err != nil:
		return Socket{}, fmt.Errorf("socket diagnostics: %w", err)
	}
	for _, m := range msgs {
		s, ok := parseDiagMsg(m)
		if ok && norm(s.Local) == local && norm(s.Remote) == remote {
			return s, nil
		}
	}
	return Socket{}, ErrNotFound
}

// diagReq is struct inet_diag_req_v2 (linux/inet_diag.h): 56 bytes.
type diagReq struct {
	family        uint8
	ext           uint8  // the attributes asked for, 1<<(INET_DIAG_x-1) each
	states        uint32 // 1<<state for each state asked for
	local, remote netip.AddrPort
}

func (r *diagReq) Len() int { return 56 }

func (r *diagReq) Serialize() []byte {
	b := make([]byte, 56)
	r.put(b)
	return b
}

// put writes r into b[:56].
func (r *diagReq) put(b []byte) {
	clear(b[:56])
	b[0] = r.family
	b[1] = unix.IPPROTO_TCP
	b[2] = r.ext
	// b[3], padding, stays 0.
	binary.NativeEndian.PutUint32(b[4:], r.states)
	// struct inet_diag_sockid: ports and addresses in network order.
	// A dump ignores them.
	binary.BigEndian.PutUint16(b[8:], r.local.Port())
	binary.BigEndian.PutUint16(b[10:], r.remote.Port())
	putAddr(b[12:28], r.family, r.local.Addr())
	putAddr(b[28:44], r.family, r.remote.Addr())
	// b[44:48], the interface, stays 0: any.
	binary.NativeEndian.PutUint32(b[48:], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(b[52:], nl.TCPDIAG_NOCOOKIE)
}

// putAddr writes a: four bytes for AF_INET, sixteen for AF_INET6 (an
// IPv4 address as IPv4-mapped). The zero Addr leaves zeros.
func putAddr(b []byte, family uint8, a netip.Addr) {
	switch {
	case !a.IsValid():
	case family == unix.AF_INET:
		v4 := a.As4()
		copy(b, v4[:])
	default:
		v6 := a.As16()
		copy(b, v6[:])
	}
}

// parseDiagMsg reads struct inet_diag_msg: family, state, timer,
// retrans, the sockid (ports, addresses, interface, cookie), expires,
// rqueue, wqueue, uid, inode: 72 bytes; then the attributes asked for.
func parseDiagMsg(m []byte) (Socket, bool) {
	if len(m) < 72 {
		return Socket{}, false
	}
	// IPv4-mapped addresses (an IPv6 socket talking to an IPv4 peer)
	// are unmapped, as the tracer names them.
	addr := func(b []byte) netip.Addr {
		if m[0] == unix.AF_INET {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16([16]byte(b[:16])).Unmap()
	}
	s := Socket{
		State:   State(m[1]),
		Timer:   Timer(m[2]),
		Retrans: m[3],
		Local:   netip.AddrPortFrom(addr(m[8:24]), binary.BigEndian.Uint16(m[4:6])),
		Remote:  netip.AddrPortFrom(addr(m[24:40]), binary.BigEndian.Uint16(m[6:8])),
		Expires: time.Duration(binary.NativeEndian.Uint32(m[52:])) * time.Millisecond,
		RecvQ:   binary.NativeEndian.Uint32(m[56:]),
		SendQ:   binary.NativeEndian.Uint32(m[60:]),
		UID:     binary.NativeEndian.Uint32(m[64:]),
		Inode:   binary.NativeEndian.Uint32(m[68:]),
	}
	if s.Remote.Port() == 0 && s.Remote.Addr().IsUnspecified() {
		s.Remote = netip.AddrPort{} // a listener
	}
	if s.Timer == TimerOff {
		s.Expires = 0
	}
	attrs, err := nl.ParseRouteAttr(m[72:])
	if err != nil {
		return s, true // the socket without its TCP_INFO
	}
	for _, a := range attrs {
		if a.Attr.Type == inetDiagInfo {
			s.Info = parseTCPInfo(a.Value)
		}
	}
	return s, true
}
