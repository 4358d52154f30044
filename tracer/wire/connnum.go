package wire

import "net/netip"

// ConnNumbers numbers the TCP connections of one capture file 1, 2, … in
// the order they first appear, as tshark's tcp.stream numbers them
// (from 0): a SYN whose sequence number is not the one its sender's
// direction started with begins a new connection, even on a five-tuple
// used before (a port pair reused). Share one among the Annotators of a
// file captured at several interfaces (see Annotator.NumberConns): a
// connection seen at two gets the same number at both. It is not safe
// for concurrent use, as the Annotators that share it are not.
type ConnNumbers struct {
	last  int
	byKey map[flowKey]*numbered
	// order is the keys in the order they were numbered, a ring once
	// full (its oldest at next): past maxConnNumbers, the oldest number
	// is forgotten.
	order []numberedKey
	next  int
}

// numbered is the number of the last connection on a five-tuple, and
// the initial sequence numbers of the SYNs that began it, by direction
// (as conn.sides orders them), to know it again at another interface.
type numbered struct {
	n      int
	isn    [2]uint32
	hasISN [2]bool
}

type numberedKey struct {
	k flowKey
	e *numbered
}

// maxConnNumbers bounds the five-tuples a ConnNumbers remembers: those of
// the connections the Annotators follow, and more.
const maxConnNumbers = 2 * (maxAnnotated + maxEnded)

// NewConnNumbers returns a ConnNumbers that has numbered no connection.
func NewConnNumbers() *ConnNumbers {
	return &ConnNumbers{byKey: make(map[flowKey]*numbered)}
}

// NumberConns has the annotator number the TCP connections it sees with
// n: from its next packet on, Event sets each TCP segment's Conn to its
// connection's number, so that a tracer.Trace keeps it (it gives ids by
// five-tuple only to events whose Conn is 0). The numbers follow tshark's
// tcp.stream (plus 1): a connection is one five-tuple from the SYN that
// begins it (or from its first segment seen) until a SYN with another
// initial sequence number from the same direction begins the next one,
// whether the first had ended or not. Annotators that share n (one per
// interface of a file) give a connection seen at several interfaces the
// same number. Without NumberConns, Event leaves Conn 0, as lessons want
// (their trace numbers connections by five-tuple).
func (a *Annotator) NumberConns(n *ConnNumbers) { a.numbers = n }

// number returns the number of c, a connection on k that has none yet,
// for its segment seq from src, a SYN without ACK when syn.
func (n *ConnNumbers) number(k flowKey, c *conn, src netip.AddrPort, syn bool, seq uint32) int {
	i := c.index(src)
	e := n.byKey[k]
	switch {
	case e == nil:
	case !syn:
		// Its first segment seen is not a SYN: the connection this
		// five-tuple had last (another interface saw its SYN before,
		// or the annotator had let go of it).
		return e.n
	case e.hasISN[i] && e.isn[i] == seq:
		// The same SYN, seen at another interface (or sent again).
		return e.n
	}
	n.last++
	e = &numbered{n: n.last}
	if syn {
		e.isn[i], e.hasISN[i] = seq, true
	}
	n.byKey[k] = e
	if len(n.order) < maxConnNumbers {
		n.order = append(n.order, numberedKey{k, e})
	} else {
		old := n.order[n.next]
		if n.byKey[old.k] == old.e {
			delete(n.byKey, old.k)
		}
		n.order[n.next] = numberedKey{k, e}
		n.next = (n.next + 1) % maxConnNumbers
	}
	return e.n
}

// sawSYN remembers the SYN without ACK that src sent on c, which has
// its number, so that another interface knows it for c's: in a
// simultaneous open, each direction's SYN.
func (n *ConnNumbers) sawSYN(k flowKey, c *conn, src netip.AddrPort, seq uint32) {
	if e := n.byKey[k]; e != nil && e.n == c.num {
		i := c.index(src)
		e.isn[i], e.hasISN[i] = seq, true
	}
}
