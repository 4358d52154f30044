//go:build linux

package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"tcptour/tracer"
)

// StateOf returns the state of the TCP socket whose five-tuple, seen
// from the socket's own end, is ft. A tuple without a Remote names a
// listening socket. When the kernel holds no such socket the error
// matches [ErrNotFound].
//
// It is one exact lookup in the kernel's socket tables (tens of
// microseconds), not a dump of every socket as ss does.
func StateOf(ft tracer.FiveTuple) (State, error) {
	switch ft.Proto {
	case "tcp", "tcp4", "tcp6", "":
	default:
		return 0, fmt.Errorf("kernel: %s: only TCP sockets have a state", ft)
	}
	if !ft.Local.IsValid() {
		return 0, fmt.Errorf("kernel: %s: no local address", ft)
	}
	local, remote := norm(ft.Local), norm(ft.Remote)
	if local.Addr().Is4() && (!remote.IsValid() || remote.Addr().Is4()) {
		s, err := lookup(unix.AF_INET, local, remote)
		if !errors.Is(err, ErrNotFound) {
			return s, wrap(ft, err)
		}
	}
	// IPv6 sockets hold IPv6 tuples, and IPv4 ones with IPv4-mapped
	// addresses (a "tcp" listener on [::] accepting an IPv4 client).
	s, err := lookup(unix.AF_INET6, local, remote)
	return s, wrap(ft, err)
}

// States returns the states of the TCP sockets with these five-tuples,
// each seen from its socket's own end, as [StateOf] does. A tuple the
// kernel holds no socket for is absent from the map.
func States(fts ...tracer.FiveTuple) (map[tracer.FiveTuple]State, error) {
	found := make(map[tracer.FiveTuple]State, len(fts))
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

// WaitState polls the kernel, every millisecond, until the socket with
// five-tuple ft is in state want; socket diagnostics cannot notify a
// change of state. It returns nil then, or, when ctx is done first, an
// error that says the last state seen and matches ctx's error.
func WaitState(ctx context.Context, ft tracer.FiveTuple, want State) error {
	return wait(ctx, ft, want.String(), func(s State, err error) bool { return err == nil && s == want })
}

// WaitGone polls the kernel like [WaitState] until it holds no socket
// with five-tuple ft: the passive closer's socket once the ACK of its
// FIN has come (after LAST_ACK), the active closer's after TIME_WAIT.
func WaitGone(ctx context.Context, ft tracer.FiveTuple) error {
	return wait(ctx, ft, "no socket", func(s State, err error) bool { return errors.Is(err, ErrNotFound) })
}

func wait(ctx context.Context, ft tracer.FiveTuple, want string, done func(State, error) bool) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s, err := StateOf(ft)
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
				last = s.String()
			}
			return fmt.Errorf("kernel: %s: waiting for %s, still %s: %w", ft, want, last, ctx.Err())
		case <-tick.C:
		}
	}
}

func wrap(ft tracer.FiveTuple, err error) error {
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

// lookup asks the kernel for the one TCP socket of family with these
// addresses: a sock_diag request without NLM_F_DUMP, which the kernel
// answers from its hash tables (established and TIME_WAIT sockets, then
// listeners). The kernel falls back to a listener on the local port
// when no connection matches, so the answer's addresses are checked.
func lookup(family uint8, local, remote netip.AddrPort) (State, error) {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, 0)
	req.AddData(&diagReq{family: family, local: local, remote: remote})
	msgs, err := req.Execute(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return 0, ErrNotFound
	case err != nil:
		return 0, fmt.Errorf("socket diagnostics: %w", err)
	}
	for _, m := range msgs {
		msg, ok := parseDiagMsg(m)
		if ok && norm(msg.local) == local && norm(msg.remote) == remote {
			return msg.state, nil
		}
	}
	return 0, ErrNotFound
}

// diagReq is struct inet_diag_req_v2 (linux/inet_diag.h): 56 bytes.
type diagReq struct {
	family        uint8
	local, remote netip.AddrPort
}

func (r *diagReq) Len() int { return 56 }

func (r *diagReq) Serialize() []byte {
	b := make([]byte, 56)
	b[0] = r.family
	b[1] = unix.IPPROTO_TCP
	// b[2], the extensions asked for, and b[3], padding, stay 0.
	binary.NativeEndian.PutUint32(b[4:], ^uint32(0)) // every state
	// struct inet_diag_sockid: ports and addresses in network order.
	binary.BigEndian.PutUint16(b[8:], r.local.Port())
	binary.BigEndian.PutUint16(b[10:], r.remote.Port())
	putAddr(b[12:28], r.family, r.local.Addr())
	putAddr(b[28:44], r.family, r.remote.Addr())
	// b[44:48], the interface, stays 0: any.
	binary.NativeEndian.PutUint32(b[48:], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(b[52:], nl.TCPDIAG_NOCOOKIE)
	return b
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

// diagMsg is what this package reads of struct inet_diag_msg.
type diagMsg struct {
	state         State
	local, remote netip.AddrPort
}

// parseDiagMsg reads struct inet_diag_msg: family, state, timer,
// retrans, then the sockid (ports and addresses), … 72 bytes in all.
func parseDiagMsg(m []byte) (diagMsg, bool) {
	if len(m) < 72 {
		return diagMsg{}, false
	}
	addr := func(b []byte) netip.Addr {
		if m[0] == unix.AF_INET {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	return diagMsg{
		state:  State(m[1]),
		local:  netip.AddrPortFrom(addr(m[8:24]), binary.BigEndian.Uint16(m[4:6])),
		remote: netip.AddrPortFrom(addr(m[24:40]), binary.BigEndian.Uint16(m[6:8])),
	}, true
}
