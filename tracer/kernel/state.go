package kernel

import (
	"errors"
	"fmt"
)

// State is a TCP socket's state as the Linux kernel numbers it
// (include/net/tcp_states.h), which is the state machine of RFC 9293
// with a few additions of Linux's own.
type State uint8

// The states, with the kernel's numbers. The comments say when a socket
// is in each one; `ss -tan` shows the same states with its own spelling
// (ESTAB, FIN-WAIT-1, TIME-WAIT, …).
const (
	// Gone is no state at all: the kernel holds no such socket (RFC
	// 9293's CLOSED). It never was opened, or the kernel has released
	// it: after LAST_ACK, after TIME_WAIT, after a reset. Lookup says
	// so with ErrNotFound.
	Gone State = 0

	Established State = iota // the handshake is done: data can flow both ways
	SynSent                  // connect sent SYN and waits for SYN-ACK
	SynRecv                  // a SYN came and SYN-ACK went; waiting for the last ACK
	FinWait1                 // this side sent FIN (the active close); not yet acknowledged
	FinWait2                 // this side's FIN is acknowledged; waiting for the peer's FIN
	TimeWait                 // both FINs acknowledged, the active closer waits 2·MSL (60 s on Linux)
	Close                    // a socket with no connection: not connected yet, or reset
	CloseWait                // the peer's FIN came; this side has not closed yet
	LastAck                  // the passive closer sent its FIN and waits for its ACK
	Listen                   // a listening socket
	Closing                  // both sides sent FIN at once; waiting for the ACK of ours
	NewSynRecv               // a connection request still in the listener's SYN queue
)

var names = [...]string{
	Gone:        "gone",
	Established: "ESTABLISHED",
	SynSent:     "SYN_SENT",
	SynRecv:     "SYN_RECV",
	FinWait1:    "FIN_WAIT_1",
	FinWait2:    "FIN_WAIT_2",
	TimeWait:    "TIME_WAIT",
	Close:       "CLOSE",
	CloseWait:   "CLOSE_WAIT",
	LastAck:     "LAST_ACK",
	Listen:      "LISTEN",
	Closing:     "CLOSING",
	NewSynRecv:  "NEW_SYN_RECV",
}

// String returns the state's name with underscores between words:
// "TIME_WAIT", "CLOSE_WAIT", "FIN_WAIT_2" (RFC 9293 and ss write
// hyphens: TIME-WAIT); [Gone] is "gone". A number the kernel does not
// define prints as "State(N)".
func (s State) String() string {
	if int(s) < len(names) && names[s] != "" {
		return names[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ErrNotFound is matched by the error [StateOf] returns when the kernel
// holds no TCP socket with the five-tuple: none was opened, or the kernel
// has already released it (after LAST_ACK, after TIME_WAIT, after a
// reset). RFC 9293 calls that state CLOSED.
var ErrNotFound = errors.New("no such socket")

// ErrUnsupported is matched by the errors of this package on systems
// other than Linux, which have no socket diagnostics. It is
// [errors.ErrUnsupported].
var ErrUnsupported = errors.ErrUnsupported

// MarshalText returns the state's name, as String does, so that JSON
// shows "TIME_WAIT" rather than 6.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name that MarshalText returns.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range names {
		if n != "" && n == string(b) {
			*s = State(i)
			return nil
		}
	}
	var n uint8
	if _, err := fmt.Sscanf(string(b), "State(%d)", &n); err == nil {
		*s = State(n)
		return nil
	}
	return fmt.Errorf("kernel: unknown TCP state %q", b)
}
