package wire

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
)

// maxWatched bounds how many sockets no program holds any more a
// States asks the kernel about at once; a busy server closes many.
const maxWatched = 4096

// States puts the kernel's view of a traced program's TCP sockets into
// its trace: each change of state, as a [tracer.PhaseState] event
// whose note says what made the kernel change it.
//
// Where the kernel lets it (root, with tracefs mounted), the kernel
// itself reports each change as it makes it ([kernel.Watch]), with
// its time, so that a change takes its place among the packets that
// caused it. When a connection ends in a FIN state, the kernel hands it
// to a small socket of its own that no tracepoint reports on; States
// asks the kernel about it at once ([kernel.Lookup]) and says
// "TIME_WAIT, kept by the kernel 60 s" because the kernel said so.
//
// Elsewhere States asks: after the program closes a connection, each
// [States.Sync] asks the kernel's socket diagnostics about the socket
// it let go of (FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, TIME_WAIT, gone) and
// adds a change, marked Asked, when the answer differs from the last
// one. The states of the sockets the program still holds are in the
// TCP_INFO of its own events ([tracer.Options].TCPInfo).
//
// Like a [Session], States learns the ports to watch from the
// program's hooks: wrap them with [States.Hooks].
type States struct {
	tr   *tracer.Trace
	w    *kernel.Watcher // nil: the states are asked for
	diag asker           // where it asks; nil: a netlink socket for each question

	syncMu sync.Mutex // one Sync at a time: each asks with mu let go

	mu      sync.Mutex
	ports   []uint16        // the TCP ports the program uses: the watcher's filter
	servers map[uint16]bool // the ports it listens on: their sockets are the server's
	clients map[uint16]bool // the ports it connects to: its sockets with such a peer are the client's
	// connecting holds the changes to SYN_SENT that came before the
	// kernel chose the socket's port, until the socket's next change
	// says it, or the next Sync.
	connecting map[uint64]kernel.Change
	// watched are the sockets States asks the kernel about at each
	// Sync, with the state last seen.
	watched map[tracer.FiveTuple]watch
	gen     uint64 // the number of sockets watched so far
	failed  bool   // the kernel failed to answer once: the trace says so, and States stops
	// handovers are the connections the kernel reported leaving a FIN
	// state for a timewait socket that was found in TIME_WAIT only when
	// asked, a little later: whether the socket went straight to
	// TIME_WAIT, or waited in FIN_WAIT_2 first, is for the packets to
	// tell (see [States.handedOver]). By the socket's (local, remote)
	// addresses.
	handovers map[[2]netip.AddrPort]handover
}

// handover is a connection handed to a timewait socket that was found
// in TIME_WAIT when asked: when the kernel made the change, and when it
// was asked.
type handover struct {
	at, asked time.Time
	expires   time.Duration // the TIME_WAIT's time left, when asked
}

// NoLiveStates begins the line StartStates gives when the kernel could
// report each change of state as it happens but tracefs is not mounted.
const NoLiveStates = "the kernel's changes of state as they happen need tracefs"

// StartStates starts adding the states of tr's sockets to tr: as the
// kernel reports them when live is set and the kernel lets it, else
// found by asking. It returns a nil States, which does nothing, where
// the kernel tells nothing (systems other than Linux). reason, when
// not empty, is one line to print: the kernel could report each change
// as it happens, were tracefs mounted.
func StartStates(tr *tracer.Trace, live bool) (s *States, reason string) {
	s = &States{
		tr:         tr,
		servers:    map[uint16]bool{},
		clients:    map[uint16]bool{},
		connecting: map[uint64]kernel.Change{},
		watched:    map[tracer.FiveTuple]watch{},
		handovers:  map[[2]netip.AddrPort]handover{},
	}
	if _, err := kernel.Lookup(tracer.FiveTuple{Proto: "tcp", Local: netip.MustParseAddrPort("127.0.0.1:0")}); errors.Is(err, kernel.ErrUnsupported) {
		return nil, ""
	}
	// A busy server closes thousands of sockets a second, each asked
	// about at least once: through one netlink socket kept open.
	if d, err := kernel.OpenDiag(); err == nil {
		s.diag = d
	}
	if !live {
		return s, ""
	}
	w, err := kernel.Watch(kernel.WatchConfig{Handler: s.change})
	switch {
	case err == nil:
		s.w = w
	case errors.Is(err, kernel.ErrPermission):
		// Without root: the states are asked for, which needs no
		// privilege. The line about capture already says "sudo".
	case errors.Is(err, kernel.ErrUnsupported):
		reason = NoLiveStates + ", not mounted here " +
			"(sudo mount -t tracefs nodev /sys/kernel/tracing); going on with the states found when asked"
	default:
		reason = err.Error() + "; going on with the states found when asked"
	}
	return s, reason
}

// Live reports whether the kernel reports each change as it happens;
// otherwise the states are asked for.
func (s *States) Live() bool { return s != nil && s.w != nil }

// Hooks returns h with its Listen, ConnectStart and Close hooks wrapped
// so that States follows the sockets of each port the program listens
// on or connects to. h may be nil.
func (s *States) Hooks(h *tracer.Hooks) *tracer.Hooks {
	if s == nil {
		return h
	}
	var w tracer.Hooks
	if h != nil {
		w = *h
	}
	listen, connect, closing := w.Listen, w.ConnectStart, w.Close
	w.Listen = func(i tracer.ListenInfo) {
		if listen != nil {
			listen(i)
		}
		if i.Err == nil {
			fresh := s.addPort(i.Local.Port(), true)
			s.listening(i.Local, fresh)
		}
	}
	w.ConnectStart = func(i tracer.ConnectStartInfo) {
		s.addPort(i.Remote.Port(), false)
		if connect != nil {
			connect(i)
		}
	}
	w.Close = func(i tracer.CloseInfo) {
		if closing != nil {
			closing(i)
		}
		if s.w == nil && !i.Listener && i.Conn != nil {
			s.closed(i)
		}
	}
	return &w
}

// follows reports whether the changes of state of the socket at local,
// whose peer is at remote, are the program's, which States reports: a
// socket of a port it listens on, or one it connected from to a port
// it connects to.
func (s *States) follows(local, remote netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.servers[local.Port()] || s.clients[remote.Port()]
}

// addPort follows the sockets of port. It reports whether the port is
// new: the watcher did not report its sockets' changes until now.
func (s *States) addPort(port uint16, server bool) (fresh bool) {
	if port == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if server {
		s.servers[port] = true
	} else {
		s.clients[port] = true
	}
	if slices.Contains(s.ports, port) || len(s.ports) >= capture.MaxPorts {
		return false
	}
	s.ports = append(s.ports, port)
	if s.w != nil {
		if err := s.w.SetPorts(s.ports); err != nil {
			s.fail(err)
		}
	}
	return true
}

// fail says once in the trace that the kernel would not answer, and
// stops asking it. s.mu is held.
func (s *States) fail(err error) {
	clear(s.watched)
	if s.failed {
		return
	}
	s.failed = true
	s.tr.Add(tracer.Event{Actor: "kernel", Phase: tracer.PhaseNote, Text: "no more states: " + err.Error(),
		Note: "The kernel stopped answering about the sockets' states; the trace goes on without them."})
}

// listening adds the LISTEN of a new listener, as the kernel gives it
// when asked: listen(2) made the change before the program knew its
// port, and so before the watcher could be told to report it. A port
// the watcher already followed (fresh unset: a second listen on it) has
// its LISTEN reported by the kernel itself, and is not asked about.
func (s *States) listening(local netip.AddrPort, fresh bool) {
	if s.w != nil && !fresh {
		return
	}
	sock, err := s.lookup(tracer.FiveTuple{Proto: "tcp", Local: local})
	asked := time.Now()
	if err != nil || sock.State != kernel.Listen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(kernel.Change{Time: asked, Local: local, From: kernel.Close, To: kernel.Listen},
		tracer.StateChange{From: kernel.Close, To: kernel.Listen, Asked: true})
}

// closed starts asking about a socket the program is closing, from the
// state its TCP_INFO gives now (read by the Close event when the trace
// reads it at each event).
func (s *States) closed(i tracer.CloseInfo) {
	last := kernel.Established
	if i.TCP != nil {
		last = i.TCP.State
	} else if ti, err := kernel.TCPInfo(i.Conn); err == nil {
		last = ti.State
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.failed && len(s.watched) < maxWatched {
		s.watch(tracer.FiveTuple{Proto: "tcp", Local: i.Local, Remote: i.Remote}, last)
	}
}

// change is the watcher's handler: one change as the kernel made it.
func (s *States) change(c kernel.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.servers[c.Local.Port()] && !s.clients[c.Remote.Port()] {
		// The peer's socket, when the peer is another program: the
		// watcher reports both ends of a port's connections.
		return
	}
	if c.From == kernel.Close && c.To == kernel.SynSent && c.Local.Port() == 0 {
		// connect(2) moves the socket to SYN_SENT before it picks the
		// port: wait for the socket's next change to say which.
		s.connecting[c.Socket] = c
		return
	}
	if first, ok := s.connecting[c.Socket]; ok {
		delete(s.connecting, c.Socket)
		first.Local = c.Local
		s.add(first, stateAt(first))
	}
	st := stateAt(c)
	switch c.From {
	case kernel.FinWait1, kernel.FinWait2, kernel.Closing:
		if c.To != kernel.Close {
			break
		}
		// The kernel may have handed the connection to a timewait
		// socket, in TIME_WAIT or, when the program has let go of
		// it, in FIN_WAIT_2; no tracepoint tells, so ask it now.
		ft := tracer.FiveTuple{Proto: "tcp", Local: c.Local, Remote: c.Remote}
		sock, err := s.lookup(ft)
		asked := time.Now()
		if err != nil {
			break
		}
		switch {
		case sock.State == kernel.FinWait2:
			// Still FIN_WAIT_2 when asked, so at the change too: a
			// timewait socket never goes back from TIME_WAIT.
			st.To, st.Kept, st.Expires = kernel.FinWait2, true, sock.Expires
			if len(s.watched) < maxWatched {
				s.watch(ft, kernel.FinWait2)
			}
		case sock.State == kernel.TimeWait && c.From == kernel.Closing:
			// From CLOSING the kernel goes to TIME_WAIT only.
			st.To, st.Kept, st.Expires = kernel.TimeWait, true, sock.Expires
		case sock.State == kernel.TimeWait:
			// TIME_WAIT when asked; at the change itself, TIME_WAIT
			// if the peer's FIN had arrived, FIN_WAIT_2 if it came
			// in between. The timeline tells by the packets.
			st.To, st.Kept, st.Expires = kernel.TimeWait, true, sock.Expires
			if len(s.handovers) < maxWatched {
				s.handovers[[2]netip.AddrPort{c.Local, c.Remote}] = handover{at: c.Time, asked: asked, expires: sock.Expires}
			}
		}
	}
	s.add(c, st)
}

// handedOver settles a change to TIME_WAIT that the kernel reported
// leaving a FIN state and that was found in TIME_WAIT when asked (see
// change): finFirst says whether the socket had received the peer's
// FIN by the time of the change, known says whether the packets tell.
// The change then stays as it is; or becomes FIN_WAIT_2, kept by the
// kernel, with the TIME_WAIT found when asked returned as a second
// change at the time it was asked; or, when the packets do not tell,
// moves to the time it was asked. Only a change in TIME_WAIT goes back
// to a moment before the kernel said so.
func (s *States) handedOver(e *tracer.Event, known, finFirst bool) (later *tracer.Event) {
	if s == nil || e.State == nil || e.State.Asked || e.State.To != kernel.TimeWait {
		return nil
	}
	k := [2]netip.AddrPort{e.Local, e.Remote}
	s.mu.Lock()
	h, ok := s.handovers[k]
	if ok && h.at.Equal(e.Time) {
		delete(s.handovers, k)
	}
	s.mu.Unlock()
	if !ok || !h.at.Equal(e.Time) || (known && finFirst) {
		return nil
	}
	c := *e.State // a copy: the trace's own event may be read meanwhile
	if !known {
		c.Asked = true
		e.State, e.Time = &c, h.asked
		return nil
	}
	tw := c
	c.To, c.Expires = kernel.FinWait2, finTimeout()
	e.State = &c
	tw.From, tw.Asked, tw.Expires = kernel.FinWait2, true, h.expires
	return &tracer.Event{Time: h.asked, Actor: e.Actor, Phase: tracer.PhaseState, Proto: e.Proto,
		Local: e.Local, Remote: e.Remote, State: &tw}
}

// finTimeout is how long the kernel keeps an orphaned connection in
// FIN_WAIT_2 (net.ipv4.tcp_fin_timeout, of this network namespace): 60
// s unless changed.
func finTimeout() time.Duration {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fin_timeout"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 60 * time.Second
}

// stateAt is the StateChange of c, without what States adds.
func stateAt(c kernel.Change) tracer.StateChange {
	return tracer.StateChange{From: c.From, To: c.To}
}

// add puts a change into the trace. s.mu is held.
func (s *States) add(c kernel.Change, st tracer.StateChange) {
	st.Side = "client"
	if s.servers[c.Local.Port()] {
		st.Side = "server"
	}
	local := c.Local
	if local.Port() == 0 {
		local = netip.AddrPort{} // not a connection's end yet: no id
	}
	s.tr.Record(&tracer.Event{Time: c.Time, Actor: "kernel", Phase: tracer.PhaseState, Proto: "tcp",
		Local: local, Remote: c.Remote, State: &st})
}

// Sync returns once every change the kernel made before it was called
// is in the trace, and, for the sockets no program holds any more, the
// states the kernel gives now.
func (s *States) Sync() {
	if s == nil {
		return
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	var err error
	if s.w != nil {
		err = s.w.Sync()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.fail(err)
	}
	for id, c := range s.connecting {
		// Still connecting: the port stays unknown.
		delete(s.connecting, id)
		s.add(c, stateAt(c))
	}
	s.ask()
}

// asked is one socket asked about at a Sync: the state seen before,
// and the kernel's answer.
type asked struct {
	ft tracer.FiveTuple
	watch
	sock kernel.Socket
	err  error
	at   time.Time
}

// asker is where States asks the kernel: a *kernel.Diag, or a test's.
type asker interface {
	Lookup(ft tracer.FiveTuple) (kernel.Socket, error)
	Close() error
}

// watch is a socket watched: the state last seen, and which of the
// sockets watched it is, as two sockets may have one five-tuple in
// turn.
type watch struct {
	last kernel.State
	gen  uint64
}

// watch starts watching a socket in state last. s.mu is held.
func (s *States) watch(ft tracer.FiveTuple, last kernel.State) {
	s.gen++
	s.watched[ft] = watch{last: last, gen: s.gen}
}

// ask asks the kernel about each watched socket and adds a change
// where its state differs from the last one seen. s.mu is held on
// entry and on return, and let go while the kernel answers, so that
// the program's Close hooks, which add sockets to watch, never wait
// for the questions.
func (s *States) ask() {
	if len(s.watched) == 0 {
		return
	}
	todo := make([]asked, 0, len(s.watched))
	for ft, w := range s.watched {
		todo = append(todo, asked{ft: ft, watch: w})
	}
	s.mu.Unlock()
	// All at once: a busy server closes thousands of sockets between
	// two Syncs, and a Diag asks about 64 with two system calls.
	fts := make([]tracer.FiveTuple, len(todo))
	for i := range todo {
		fts[i] = todo[i].ft
	}
	answers := make([]kernel.Answer, len(todo))
	s.lookupAll(fts, answers)
	at := time.Now()
	for i := range todo {
		todo[i].sock, todo[i].err, todo[i].at = answers[i].Socket, answers[i].Err, at
	}
	s.mu.Lock()
	for _, a := range todo {
		if s.failed {
			return
		}
		if w, ok := s.watched[a.ft]; !ok || w != a.watch {
			// Changed while the kernel answered: a new socket on
			// the same five-tuple, closed meanwhile. The next Sync
			// asks about it.
			continue
		}
		to := a.sock.State
		switch {
		case errors.Is(a.err, kernel.ErrNotFound):
			to = kernel.Gone
		case a.err != nil:
			s.fail(a.err)
			return
		}
		from := a.last
		if from == kernel.Close && to == kernel.TimeWait {
			// The program's socket said CLOSE at its Close because
			// the kernel had already moved the connection to a
			// TIME_WAIT socket of its own: CLOSE never becomes
			// TIME_WAIT. It is found there, no change seen.
			from = kernel.TimeWait
		}
		if to != a.last {
			st := tracer.StateChange{From: from, To: to, Asked: true}
			if to == kernel.TimeWait || (to == kernel.FinWait2 && a.sock.Inode == 0) {
				st.Kept, st.Expires = true, a.sock.Expires
			}
			s.add(kernel.Change{Time: a.at, Local: a.ft.Local, Remote: a.ft.Remote, From: a.last, To: to}, st)
			s.watched[a.ft] = watch{last: to, gen: a.gen}
		}
		if to == kernel.Gone || to == kernel.TimeWait {
			// Its end is known: released, or after TIME_WAIT's 60 s.
			delete(s.watched, a.ft)
		}
	}
}

// askAt has States ask about the sockets of each end of a link in the
// end's network namespace, through a netlink socket made there.
func (s *States) askAt(ends []End) error {
	if s == nil {
		return nil
	}
	r := routed{}
	for _, e := range ends {
		err := e.In(func() error {
			d, err := kernel.OpenDiag()
			if err == nil {
				r[e.Addr] = d
				if e.Addr6.IsValid() {
					r[e.Addr6] = d
				}
			}
			return err
		})
		if err != nil {
			r.Close()
			return err
		}
	}
	if s.diag != nil {
		s.diag.Close()
	}
	s.diag = r
	return nil
}

// routed asks about a socket where its local address is.
type routed map[netip.Addr]*kernel.Diag

func (r routed) Lookup(ft tracer.FiveTuple) (kernel.Socket, error) {
	if d := r[ft.Local.Addr().Unmap()]; d != nil {
		return d.Lookup(ft)
	}
	return kernel.Lookup(ft)
}

func (r routed) Close() error {
	var errs []error
	closed := map[*kernel.Diag]bool{} // an end's two addresses share one
	for _, d := range r {
		if !closed[d] {
			closed[d] = true
			errs = append(errs, d.Close())
		}
	}
	return errors.Join(errs...)
}

func (r routed) LookupAll(fts []tracer.FiveTuple, into []kernel.Answer) error {
	// Each end's questions together, through its own socket.
	by := map[*kernel.Diag][]int{}
	for i, ft := range fts {
		d := r[ft.Local.Addr().Unmap()]
		if d == nil {
			s, err := kernel.Lookup(ft)
			if errors.Is(err, kernel.ErrNotFound) {
				err = kernel.ErrNotFound // as LookupAll gives it
			}
			into[i] = kernel.Answer{Socket: s, Err: err}
			continue
		}
		by[d] = append(by[d], i)
	}
	var errs []error
	for d, is := range by {
		some := make([]tracer.FiveTuple, len(is))
		for j, i := range is {
			some[j] = fts[i]
		}
		answers := make([]kernel.Answer, len(is))
		errs = append(errs, d.LookupAll(some, answers))
		for j, i := range is {
			into[i] = answers[j]
		}
	}
	return errors.Join(errs...)
}

// lookupAll asks the kernel about each socket of fts, into into: all at
// once where the asker can.
func (s *States) lookupAll(fts []tracer.FiveTuple, into []kernel.Answer) {
	if all, ok := s.diag.(interface {
		LookupAll([]tracer.FiveTuple, []kernel.Answer) error
	}); ok {
		// NOTE: ignoring the error; each answer holds it.
		_ = all.LookupAll(fts, into)
		return
	}
	for i, ft := range fts {
		sock, err := s.lookup(ft)
		into[i] = kernel.Answer{Socket: sock, Err: err}
		if err != nil && !errors.Is(err, kernel.ErrNotFound) {
			// The kernel will not answer: the rest need not ask.
			for j := i + 1; j < len(fts); j++ {
				into[j] = kernel.Answer{Err: err}
			}
			return
		}
	}
}

// lookup asks the kernel about one socket.
func (s *States) lookup(ft tracer.FiveTuple) (kernel.Socket, error) {
	if s.diag != nil {
		return s.diag.Lookup(ft)
	}
	return kernel.Lookup(ft)
}

// Close stops the watcher once every change it saw is in the trace.
// A failure is in the trace, as a note.
func (s *States) Close() {
	if s == nil {
		return
	}
	s.Sync()
	if s.diag != nil {
		defer s.diag.Close()
	}
	if s.w == nil {
		return
	}
	_, err := s.w.Close()
	if err != nil {
		s.mu.Lock()
		s.fail(err)
		s.mu.Unlock()
	}
}
