package tracer

import (
	"net"
	"net/netip"
	"time"

	"tcptour/tracer/kernel"
)

// Hooks is a set of functions called at each phase of a connection's life
// by the traced wrappers ([Listen], [WrapListener], [WrapConn], [Dialer]).
// It plays the part net/http/httptrace.ClientTrace plays for HTTP: give
// the wrappers a Hooks of your own to trace your own program, or use
// [Trace.Hooks] to record and print the events.
//
// Any field may be nil. Hooks of different connections may run
// concurrently; the hooks of one connection run in the order of its
// operations unless the program itself reads and writes it from several
// goroutines. The Info structs may gain fields later.
type Hooks struct {
	// Listen is called when a listening socket has been opened, or
	// failed to open.
	Listen func(ListenInfo)
	// DNSStart is called before a name is looked up. It is not called
	// for an IP literal: DNSDone is, with Literal set.
	DNSStart func(DNSStartInfo)
	// DNSDone is called when a lookup has finished.
	DNSDone func(DNSDoneInfo)
	// ConnectStart is called before connecting to one address.
	ConnectStart func(ConnectStartInfo)
	// ConnectDone is called when the connect to one address has
	// finished: the handshake is complete, or Err says why not.
	ConnectDone func(ConnectDoneInfo)
	// Accept is called when Accept returns, with the new connection or
	// an error. It is not called when Accept fails because the listener
	// was closed.
	Accept func(AcceptInfo)
	// Read is called when a Read returns.
	Read func(IOInfo)
	// Write is called when Write is called, before the bytes reach the
	// kernel, so that it comes before anything the peer does with them.
	// A failure is reported to Error afterwards; a [Trace] then leaves
	// the Write's event out if no byte was written (see [Unsent]).
	Write func(IOInfo)
	// CloseWrite is called when CloseWrite is called, before the FIN is
	// sent. A failure is reported to Error afterwards.
	CloseWrite func(CloseWriteInfo)
	// Close is called once when a connection or a listener is first
	// closed, before the kernel sends anything. A failure is reported to
	// Error afterwards.
	Close func(CloseInfo)
	// Error is called when Write, CloseWrite or Close failed.
	Error func(ErrorInfo)

	// TCPInfo asks the wrappers to read the connection's TCP_INFO at
	// each of its events and pass it in the Info's TCP field: for
	// Write, CloseWrite and Close just before the call, for the others
	// just after it returned. It costs a getsockopt system call per
	// event; Linux only (TCP stays nil elsewhere).
	TCPInfo bool
}

// ErrorInfo describes a failed Write, CloseWrite or Close.
type ErrorInfo struct {
	// Time is when the call returned.
	Time          time.Time
	Op            string // "write", "close-write" or "close"
	Local, Remote netip.AddrPort
	Err           error
	// Conn is the connection's socket (a *net.TCPConn for TCP),
	// nil for a listener, for reading socket options such as
	// TCP_INFO while the hook runs. A hook must not read, write or
	// close it.
	Conn net.Conn
	// TCP is the socket's TCP_INFO, when Hooks.TCPInfo asked for it.
	TCP *kernel.Info
	// Size and Written, for a failed Write, are the bytes it was given
	// and those it wrote before it failed.
	Size, Written int
	// wc is the tracer's wrapper of the connection, which caches what
	// the trace remembers of it; nil from other callers.
	wc *conn
}

// ListenInfo describes a listening socket.
type ListenInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time    time.Time
	Network string         // "tcp", "tcp4" or "tcp6"
	Addr    string         // the address asked for, e.g. "127.0.0.1:0"
	Local   netip.AddrPort // the address the kernel bound; zero on error
	Err     error
}

// DNSStartInfo describes a lookup about to start.
type DNSStartInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time time.Time
	Host string
}

// DNSDoneInfo describes a finished lookup.
type DNSDoneInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time time.Time
	Host string
	// Literal is set when Host was an IP literal and no lookup happened.
	Literal bool
	// Servers lists the DNS servers queries were sent to, as
	// "network address" ("udp 127.0.0.1:53531"). Empty when the answer
	// came from local data (/etc/hosts) and nothing was sent.
	Servers  []string
	Addrs    []netip.Addr
	Duration time.Duration
	Err      error
}

// ConnectStartInfo describes a connect about to start.
type ConnectStartInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time    time.Time
	Network string
	Remote  netip.AddrPort
}

// ConnectDoneInfo describes a finished connect.
type ConnectDoneInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time     time.Time
	Network  string
	Local    netip.AddrPort // zero on error
	Remote   netip.AddrPort
	Duration time.Duration
	Err      error
	// Conn is the connection's socket (a *net.TCPConn for TCP),
	// nil on error, for reading socket options such as TCP_INFO while
	// the hook runs. A hook must not read, write or close it.
	Conn net.Conn
	// TCP is the socket's TCP_INFO, when Hooks.TCPInfo asked for it.
	TCP *kernel.Info
	// wc is the tracer's wrapper of the connection, which caches what
	// the trace remembers of it; nil from other callers.
	wc *conn
}

// AcceptInfo describes an accepted connection.
type AcceptInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time   time.Time
	Local  netip.AddrPort // the listener's side
	Remote netip.AddrPort // the client's side; zero on error
	Err    error
	// Conn is the connection's socket (a *net.TCPConn for TCP),
	// nil on error, for reading socket options such as TCP_INFO while
	// the hook runs. A hook must not read, write or close it.
	Conn net.Conn
	// TCP is the socket's TCP_INFO, when Hooks.TCPInfo asked for it.
	TCP *kernel.Info
	// wc is the tracer's wrapper of the connection, which caches what
	// the trace remembers of it; nil from other callers.
	wc *conn
}

// IOInfo describes a finished Read or Write.
type IOInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time          time.Time
	Local, Remote netip.AddrPort
	// N is the number of bytes read or written.
	N int
	// Data holds those bytes. It is only valid during the call: copy it
	// to keep it.
	Data []byte
	// Err is the error a Read returned; io.EOF means the peer sent FIN.
	// Always nil for a Write (see Hooks.Error).
	Err error
	// wseq numbers a Write on its connection (see Unsent).
	wseq uint64
	// Conn is the connection's socket (a *net.TCPConn for TCP), for
	// reading socket options such as TCP_INFO while the hook runs. A
	// hook must not read, write or close it.
	Conn net.Conn
	// TCP is the socket's TCP_INFO, when Hooks.TCPInfo asked for it.
	TCP *kernel.Info
	// wc is the tracer's wrapper of the connection, which caches what
	// the trace remembers of it; nil from other callers.
	wc *conn
}

// CloseWriteInfo describes a shutdown of the write half.
type CloseWriteInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time          time.Time
	Local, Remote netip.AddrPort
	// Conn is the connection's socket (a *net.TCPConn for TCP), for
	// reading socket options such as TCP_INFO while the hook runs. A
	// hook must not read, write or close it.
	Conn net.Conn
	// TCP is the socket's TCP_INFO, when Hooks.TCPInfo asked for it.
	TCP *kernel.Info
	// wc is the tracer's wrapper of the connection, which caches what
	// the trace remembers of it; nil from other callers.
	wc *conn
}

// CloseInfo describes a closed connection or listener.
type CloseInfo struct {
	// Time is when it happened: for Write, CloseWrite and Close the
	// moment the call started, since the kernel sends during the call;
	// for the others, the moment the call returned.
	Time time.Time
	// Listener is set when a listening socket was closed; Remote is zero.
	Listener      bool
	Local, Remote netip.AddrPort
	// BytesIn and BytesOut count what the connection read and wrote.
	BytesIn, BytesOut int64
	// PeerClosed is set when a Read had already returned io.EOF: the
	// peer closed first.
	PeerClosed bool
	// WriteClosed is set when CloseWrite had already sent this side's FIN.
	WriteClosed bool
	// Reset is set when a Read or Write had already failed because the
	// peer reset the connection: Close then sends nothing.
	Reset bool
	// Linger0 is set when SO_LINGER was on with a zero timeout: Close
	// then discards unsent data and sends RST instead of FIN.
	Linger0 bool
	// Lifetime is the time since the connection was wrapped: since Dial
	// or Accept returned it.
	Lifetime time.Duration
	// Conn is the connection's socket (a *net.TCPConn for TCP),
	// still open, nil for a listener, for reading socket options
	// such as TCP_INFO while the hook runs. A hook must not read,
	// write or close it.
	Conn net.Conn
	// TCP is the socket's TCP_INFO, when Hooks.TCPInfo asked for it.
	TCP *kernel.Info
	// wc is the tracer's wrapper of the connection, which caches what
	// the trace remembers of it; nil from other callers.
	wc *conn
}
