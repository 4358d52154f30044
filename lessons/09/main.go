// Lesson 09 makes things go wrong on purpose, one at a time, and shows
// each failure twice: as the Go error the program gets, and as the
// packets (or the silence) on the wire. A connect refused, a connection
// reset, a name that does not exist, a dial that times out, and Accept
// failing, first for want of a file descriptor, then because the
// listener was closed.
//
// It answers the seed's error paths: `errnoException(err, 'accept')`
// and the server's 'error' event (onconnection, L1406–L1408), which an
// accept's EMFILE never reaches in Node (libuv handles it first), and
// the client's 'error' event that Node emits when connect fails.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/lab"
)

// dialTimeout bounds the dial of step 4: long enough for one
// retransmitted SYN, which Linux sends after 1 s.
const dialTimeout = 1500 * time.Millisecond

// synRetries is the file of the sysctl net.ipv4.tcp_syn_retries, which
// the lab sets (Sysctls below) and step 4 reads.
const synRetries = "/proc/sys/net/ipv4/tcp_syn_retries"

var info = lesson.Lesson{
	Number: "09",
	Title:  "When it goes wrong",
	Intro: "Six failures, one at a time: a connect refused, a connection reset by the peer, a name that " +
		"does not exist, a dial that times out, and Accept failing twice, for want of a file descriptor and " +
		"on a closed listener. Each with its Go error and what went over the wire.",
	Steps: 6,
	// Step 4's dial without a deadline ends when the kernel's SYN
	// retries run out: about two minutes by default, 3 s in the lab.
	Sysctls: []lab.Sysctl{{Name: "net.ipv4.tcp_syn_retries", Value: "1",
		Why: "So that step 4's dial without a deadline ends in seconds: Linux gives up on a connect once the time its SYN " +
			"retries would take, with the wait doubling from 1 s, has passed: 3 s for 1 retry, 127 s for 6."}},
	Recap: []string{
		"Refused: nothing listens on the port, so the kernel answers the SYN with RST and Dial fails at once: " +
			"errors.Is(err, syscall.ECONNREFUSED).",
		"Reset: an RST in the middle of a connection (here SetLinger(0) then Close; also a Close with unread data). " +
			"The peer's next Read or Write fails with ECONNRESET; after that Read returns io.EOF and Write fails with EPIPE.",
		"No such name: a *net.DNSError with IsNotFound, and no SYN at all, since there is no address to send it to.",
		"Timeout: no answer whatsoever. The kernel resends the SYN; a deadline (net.Dialer.Timeout, or a " +
			"context) bounds the wait, and net.Error's Timeout() says that it ran out. Without one, the kernel gives up " +
			"when its SYN retries run out (net.ipv4.tcp_syn_retries: about two minutes by default, 3 s in the lab), and " +
			"Dial fails with ETIMEDOUT, a timeout too.",
		"Accept errors: EMFILE is temporary (the connection waits in the queue: wait a little and call Accept " +
			"again, as net/http does); net.ErrClosed means the listener was closed: end the loop. Node never sees " +
			"EMFILE on accept: libuv accepts the waiting connections and closes them at once, with no 'error' event.",
		"A Go error comes in layers: *net.OpError (the operation and addresses), *os.SyscallError (the system " +
			"call), syscall.Errno (the kernel's code); errors.Is and errors.As look through them all. Node puts " +
			"them on one Error: code and syscall always, address and port for a failed connect, hostname " +
			"for a failed lookup.",
	},
	TryThis: []string{
		"go run ./lessons/09 --hold. Its server resets every connection, as in step 2: run the nc -v command\n" +
			"it prints, ready to paste. The trace shows the handshake, then at once the RST. nc says it succeeded,\n" +
			"or, when the RST came before it checked its connect, \"Connection reset by peer\". Then its ss command\n" +
			"shows the listener and one TIME-WAIT, step 5's client, which closed first; nc's connection, reset, left none.",
		"Count the SYNs the full queue dropped in step 4: at the pause before step 5 (on a terminal the lesson\n" +
			"pauses before each step), run nstat -asz TcpExtListenOverflows TcpExtListenDrops, starting with the\n" +
			"join command the lesson printed at its start. Each says what step 4's COUNTER lines say since the lab\n" +
			"began, one per SYN the capture shows going unanswered (-a: the counts themselves, -s: no history file).",
		"In main.go, set the lab's net.ipv4.tcp_syn_retries (Sysctls) to 2: step 4's dial without a deadline\n" +
			"then sends its SYN at about 0, 1, 2, 3, 4 and 5 s and fails at about 7 s, the 1 + 2 + 4 s that 2 retries\n" +
			"allow. Its first resends wait 1 s each where net.ipv4.tcp_syn_linear_timeouts is 4 (recent kernels);\n" +
			"kernels without that setting double the wait at once: SYNs at 0, 1 and 3 s.",
		"In step 3, drop the final dot: if /etc/resolv.conf lists search domains, the resolver asks the lab for\n" +
			"the name with each of them appended too, and every answer is NXDOMAIN.",
	},
	HoldCommands: []string{
		"{lab}nc -v 127.0.0.1 PORT",
		"{lab}ss -tan '( sport = :PORT or dport = :PORT )'",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	client := tracer.Dialer{Hooks: l.Hooks("client")}

	l.Step("Connect where nobody listens",
		"The lesson listens on a port the kernel chooses, closes the listener at once, and dials that port. "+
			"Nothing listens there any more, so the server's kernel answers the SYN with RST and Dial fails with "+
			"ECONNREFUSED, at once. Node emits the socket's 'error' event, with err.code 'ECONNREFUSED'. "+
			"In Go the error is a *net.OpError (Op \"dial\") around an *os.SyscallError (the connect system call) "+
			"around syscall.ECONNREFUSED: errors.Is looks through all three.")
	gone, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := gone.Addr().String()
	if err := gone.Close(); err != nil {
		return err
	}
	_, err = client.DialContext(l.Context(), "tcp4", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("dial %s after its listener closed: %v, want ECONNREFUSED", addr, err)
	}
	l.Note("client", "errors.Is(err, syscall.ECONNREFUSED) is true. The layers: "+layers(err))

	l.Step("Reset by the peer",
		"The server accepts a connection, sets SO_LINGER to 0 (SetLinger(0) on the *net.TCPConn behind the "+
			"traced conn) and closes it. With a linger of 0, Close throws away whatever is unsent or unread and "+
			"sends RST instead of FIN. The client's Read fails with ECONNRESET, \"connection reset by peer\". "+
			"Its next Write fails with EPIPE, \"broken pipe\", and sends nothing: the connection is gone.")
	ln, err := tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// NOTE: closed again in the last step; this covers early returns.
	defer ln.Close()
	conn, err := client.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	defer conn.Close()
	server, err := ln.Accept()
	if err != nil {
		return err
	}
	if err := server.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn).SetLinger(0); err != nil {
		return err
	}
	l.Note("server", "SetLinger(0): the Close that follows sends RST, not FIN. There is no FIN exchange and no TIME_WAIT.")
	if err := server.Close(); err != nil {
		return err
	}
	buf := make([]byte, 64)
	_, err = conn.Read(buf)
	if !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("the client's Read after the server's RST: %v, want ECONNRESET", err)
	}
	l.Note("client", "errors.Is(err, syscall.ECONNRESET) is true. The layers: "+layers(err))
	_, err = io.WriteString(conn, "anyone there?")
	if !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("the client's Write after the reset: %v, want EPIPE", err)
	}
	l.Note("client", "errors.Is(err, syscall.EPIPE) is true: the kernel refused the bytes, and nothing went out.")
	if err := conn.Close(); err != nil {
		return err
	}
	l.Note("client", "The connection was reset already: this Close sends nothing, it only releases the socket.")

	l.Step("A name that does not exist",
		"The client dials nobody.tcptour.test. through the lab DNS server, which answers NXDOMAIN: no such "+
			"name. The final dot makes the name absolute, so the resolver asks for it alone, without the search "+
			"domains of /etc/resolv.conf. With no address there is nothing to connect to: no SYN is sent. The "+
			"error is a *net.DNSError with IsNotFound set, inside a *net.OpError.")
	dns, err := l.Lab()
	if err != nil {
		return err
	}
	resolving := tracer.Dialer{Hooks: l.Hooks("client"), DNSServer: dns.String()}
	_, err = resolving.DialContext(l.Context(), "tcp4", net.JoinHostPort("nobody.tcptour.test.", portOf(ln)))
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		return fmt.Errorf("dial nobody.tcptour.test.: %v, want a DNS error with IsNotFound", err)
	}
	l.Note("client", fmt.Sprintf("errors.As(err, &dnsErr) is true and dnsErr.IsNotFound is %v. The layers: %s", dnsErr.IsNotFound, layers(err)))

	// Without a deadline, only the kernel ends a dial into a full
	// queue: the lesson makes one where that takes seconds.
	retries, budget, err := synBudget()
	patient := err == nil && budget <= 10*time.Second
	third := "A third client dials with no timeout at all, net.Dialer's default: then only the kernel ends the " +
		"wait, when its SYN retries run out (net.ipv4.tcp_syn_retries), and connect fails with ETIMEDOUT. Linux " +
		"turns the number into a time, the time the retries would take if the wait doubled from 1 s, and gives up " +
		"at the first resend due after it: 127 s for the default 6 (a dial failed after 135 s, with 11 SYNs, on " +
		"the machine this lesson was written on). " + fmt.Sprintf("Here it is %d: %d s.", retries, int(budget.Seconds()))
	if !patient {
		third = "With no timeout at all (net.Dialer's default), Linux gives up by itself when its SYN retries " +
			"run out (net.ipv4.tcp_syn_retries), after about two minutes by default, with ETIMEDOUT (135 s on the " +
			"machine this lesson was written on, with 11 SYNs). The lesson does not wait that long here; in its lab " +
			"(without --host) it sets 1 retry, 3 s, and shows it."
	}
	l.Step("A dial that times out",
		"Go's net.Listen always asks for the largest backlog the system allows (net.core.somaxconn), so the "+
			"lesson makes a listening socket itself, with listen(fd, 0), and never calls Accept. Linux still "+
			"queues one connection (a backlog of n holds n+1): the first client's handshake completes. Then the "+
			"queue is full, and the kernel drops new SYNs without a word. The second client's kernel sends its SYN "+
			"again after 1 s, and the dial's timeout, 1.5 s here, ends the wait. "+third)
	full, err := listenBacklog(l.Hooks("server"), 0)
	if err != nil {
		return err
	}
	defer full.Close()
	impatient := tracer.Dialer{Hooks: l.Hooks("client"), Net: net.Dialer{Timeout: dialTimeout}}
	first, err := impatient.DialContext(l.Context(), "tcp4", full.Addr().String())
	if err != nil {
		return fmt.Errorf("the first connection should fit in a backlog of 0: %w", err)
	}
	defer first.Close()
	_, err = impatient.DialContext(l.Context(), "tcp4", full.Addr().String())
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		return fmt.Errorf("dial a full queue: %v, want a timeout", err)
	}
	l.Note("client", fmt.Sprintf("errors.As(err, &netErr) is true and netErr.Timeout() is %v. Test that, not the error "+
		"inside: that is os.ErrDeadlineExceeded or one that matches context.DeadlineExceeded, depending on whether "+
		"the socket's deadline or the dial's context noticed first.", netErr.Timeout()))
	if patient {
		// No deadline: the kernel's retries decide.
		start := time.Now()
		_, err = client.DialContext(l.Context(), "tcp4", full.Addr().String())
		if !errors.Is(err, syscall.ETIMEDOUT) {
			return fmt.Errorf("dial a full queue without a deadline: %v, want ETIMEDOUT", err)
		}
		errors.As(err, &netErr)
		l.Note("client", fmt.Sprintf("errors.Is(err, syscall.ETIMEDOUT) is true, after %.1f s: the kernel gave up "+
			"(net.ipv4.tcp_syn_retries = %d%s), not the program. netErr.Timeout() is %v for this error too. The layers: %s",
			time.Since(start).Seconds(), retries, linearTimeouts(), netErr.Timeout(), layers(err)))
	}
	if err := first.Close(); err != nil {
		return err
	}
	if err := full.Close(); err != nil {
		return err
	}

	l.Step("Accept fails: too many open files",
		"A client connects to the server of step 2, and its handshake completes in the kernel. Then the lesson "+
			"lowers its own limit on open files (RLIMIT_NOFILE, ulimit -n) to the lowest descriptor number free, "+
			"and calls Accept: there is no descriptor for the new socket, so accept4 fails with EMFILE. Go hands the "+
			"error to the program, and the connection is not lost: it waits in the queue. The lesson restores the "+
			"limit at once, and the next Accept returns it. The seed's onconnection would turn such an error into "+
			"errnoException(err, 'accept') and the server's 'error' event, but for EMFILE Node does not get there: "+
			"libuv keeps a spare descriptor, and when accept fails with EMFILE it closes the spare, accepts each "+
			"waiting connection and closes it at once, then opens the spare again. The client reads a FIN, and "+
			"Node emits neither 'error' nor 'connection'.")
	conn, err = client.DialContext(l.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	defer conn.Close()
	var acceptErr error
	if err := atFileLimit(func() { server, acceptErr = ln.Accept() }); err != nil {
		return err // the limit could not be changed
	}
	if !errors.Is(acceptErr, syscall.EMFILE) {
		if acceptErr == nil {
			server.Close()
		}
		return fmt.Errorf("Accept with no descriptor free: %v, want EMFILE", acceptErr)
	}
	l.Note("server", "errors.Is(err, syscall.EMFILE) is true. The layers: "+layers(acceptErr))
	server, err = ln.Accept()
	if err != nil {
		return err
	}
	if err := conn.Close(); err != nil {
		return err
	}
	if _, err := server.Read(buf); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the server's Read after the client's FIN: %v, want io.EOF", err)
	}
	if err := server.Close(); err != nil {
		return err
	}

	l.Step("Accept on a closed listener",
		"The server's accept loop, as a Go server writes it: Accept returns net.ErrClosed once the listener is "+
			"closed (here by the lesson, from another goroutine), and that ends the loop. Any other error, such as "+
			"EMFILE, is worth a short wait and another try. Node's server has no such loop for the program to "+
			"write: server.close() stops libuv's accepting, and the 'close' event follows once the server's "+
			"connections have ended.")
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		var wait time.Duration
		for {
			conn, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				l.Note("server", fmt.Sprintf("Accept returned %q: errors.Is(err, net.ErrClosed) is true, so the loop ends.", err))
				return
			}
			if err != nil {
				// Temporary, as EMFILE is: wait, then try again.
				wait = min(max(2*wait, 5*time.Millisecond), time.Second)
				time.Sleep(wait)
				continue
			}
			wait = 0
			reset(conn) // with --hold: nc's connections are reset, as in step 2
		}
	}()
	l.Hold(ln.Addr()) // with --hold: reset nc's connections until Ctrl-C
	if err := ln.Close(); err != nil {
		return err
	}
	<-loopDone
	return nil
}

// synBudget reads net.ipv4.tcp_syn_retries and returns it with the
// time after which Linux gives up on a connect: the time the retries
// would take with the wait doubling from 1 s, up to 120 s a wait
// (tcp_model_timeout in the kernel's tcp_timer.c).
func synBudget() (int, time.Duration, error) {
	b, err := os.ReadFile(synRetries)
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", synRetries, err)
	}
	if n <= 6 {
		return n, time.Duration(2<<n-1) * time.Second, nil
	}
	return n, 127*time.Second + time.Duration(n-6)*120*time.Second, nil
}

// linearTimeouts says how many of the first SYN resends wait a fixed
// 1 s (net.ipv4.tcp_syn_linear_timeouts, on recent kernels), or
// nothing where the kernel has no such setting.
func linearTimeouts() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_syn_linear_timeouts")
	if err != nil {
		return ""
	}
	return ", tcp_syn_linear_timeouts = " + strings.TrimSpace(string(b))
}

// reset closes conn with SO_LINGER 0: the kernel sends RST, not FIN.
func reset(conn net.Conn) {
	// NOTE: ignoring the errors; the trace shows the close, and the
	// packets show whether it was a reset.
	_ = conn.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn).SetLinger(0)
	_ = conn.Close()
}

// listenBacklog opens a traced listening socket on a loopback port the
// kernel chooses, with the backlog given. net.Listen has no backlog
// parameter, so the socket is made with socket(2), bind(2) and listen(2),
// then handed to net.FileListener.
func listenBacklog(h *tracer.Hooks, backlog int) (net.Listener, error) {
	ln, err := func() (net.Listener, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		unix.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "listener")
		defer f.Close() // FileListener keeps a copy of the descriptor
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, os.NewSyscallError("bind", err)
		}
		if err := unix.Listen(fd, backlog); err != nil {
			return nil, os.NewSyscallError("listen", err)
		}
		return net.FileListener(f)
	}()
	// tracer.Listen cannot set the backlog: tell the tracer about this
	// listen, then let it wrap the listener.
	i := tracer.ListenInfo{Time: time.Now(), Network: "tcp4", Addr: "127.0.0.1:0", Err: err}
	if err == nil {
		i.Local = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	if h.Listen != nil {
		h.Listen(i)
	}
	if err != nil {
		return nil, err
	}
	return tracer.WrapListener(ln, h), nil
}

// atFileLimit runs f with the process's soft limit on open files
// (RLIMIT_NOFILE) lowered to the lowest descriptor number free now: the
// kernel hands out the lowest free number, so every descriptor f could
// get is over the limit. The limit is restored before it returns.
func atFileLimit(f func()) error {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	free, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	syscall.Close(free)
	low := old
	setCur(&low.Cur, free)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	f()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	return nil
}

// setCur sets a soft limit to n: Rlimit.Cur is a uint64 on Linux and
// macOS, an int64 on FreeBSD.
func setCur[T int64 | uint64](cur *T, n int) { *cur = T(n) }

// layers lists an error's layers, outermost first, as errors.Unwrap
// finds them.
func layers(err error) string {
	var s []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *net.OpError:
			s = append(s, fmt.Sprintf("*net.OpError{Op: %q, Net: %q}", e.Op, e.Net))
		case *os.SyscallError:
			s = append(s, fmt.Sprintf("*os.SyscallError{Syscall: %q}", e.Syscall))
		case syscall.Errno:
			s = append(s, "syscall."+unix.ErrnoName(e))
		case *net.DNSError:
			s = append(s, fmt.Sprintf("*net.DNSError{Err: %q, IsNotFound: %v}", e.Err, e.IsNotFound))
		default:
			s = append(s, fmt.Sprintf("%T", e))
		}
	}
	return strings.Join(s, " → ")
}

// portOf returns a listener's port.
func portOf(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
