package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
)

// clientEnv, set, makes this program the lesson's client: a process
// of its own, started in the client's network namespace, that dials
// with Go's net.Dialer as any program would. A namespace belongs to a
// thread, and Go's dialer sorts the addresses and races its attempts
// on goroutines of its own, on any of the process's threads: only a
// process whose every thread is in the client's network dials as the
// client does.
const clientEnv = "TCPTOUR_LESSON16_CLIENT"

// request is what the lesson asks the client program to dial.
type request struct {
	Network, Address string
	DNS              string        // the lab DNS server, "192.0.2.2:53"
	FallbackDelay    time.Duration // net.Dialer's: 0 is Go's default, 300 ms
}

// report is a line the client program writes: an attempt the dialer
// started, or how the dial ended.
type report struct {
	Attempt *attempt `json:",omitempty"`
	Done    *done    `json:",omitempty"`
}

// attempt is a connect Go's dialer started: when, on which network
// ("tcp6", "tcp4"), to which address.
type attempt struct {
	At      time.Time
	Network string
	Remote  netip.AddrPort
}

// done is how the dial ended: the connection's addresses, or the error.
type done struct {
	At            time.Time
	Local, Remote netip.AddrPort
	IPLen         int // of RemoteAddr().(*net.TCPAddr).IP
	Err           string
}

// client is the client program: it dials as the request says, writes
// a report line for each attempt and one when the dial is done, then
// holds the connection until its stdin closes.
func client() int {
	var req request
	if err := json.Unmarshal([]byte(os.Getenv(clientEnv)), &req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	say := func(r report) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(r) // NOTE: the lesson sees a missing line as an error
	}
	d := net.Dialer{
		FallbackDelay: req.FallbackDelay,
		// Every lookup asks the lab DNS server.
		Resolver: &net.Resolver{PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, req.DNS)
			}},
		// Called for each attempt, after the dialer made its socket
		// and before it connects.
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			say(report{Attempt: &attempt{At: time.Now(), Network: network, Remote: netip.MustParseAddrPort(address)}})
			return nil
		},
	}
	c, err := d.Dial(req.Network, req.Address)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			// Go names the server of /etc/resolv.conf; the query
			// went to the lab's.
			dnsErr.Server = req.DNS
		}
		say(report{Done: &done{At: time.Now(), Err: err.Error()}})
		return 0
	}
	r := c.RemoteAddr().(*net.TCPAddr)
	say(report{Done: &done{At: time.Now(), Local: c.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: r.AddrPort(), IPLen: len(r.IP)}})
	_, _ = io.Copy(io.Discard, os.Stdin) // until the lesson says close
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// dialed is a dial of the client program's: its attempts, how it
// ended, and the program, which holds the connection until close.
type dialed struct {
	tried []attempt
	done
	cmd   *exec.Cmd
	stdin io.WriteCloser
	h     *tracer.Hooks
}

// dial has the client program, started in the client's namespace,
// dial address on network with Go's net.Dialer, its lookups sent to the
// lab DNS server dns; fallback is the Dialer's FallbackDelay (0: Go's
// default, 300 ms). The trace gets a CONNECT for each attempt and a
// CONNECTED (or the error) at the end.
func dial(l *lesson.Run, dns netip.AddrPort, fallback time.Duration, network, address string) (*dialed, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	req, err := json.Marshal(request{Network: network, Address: address, DNS: dns.String(), FallbackDelay: fallback})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), clientEnv+"="+string(req))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Started from a thread in the client's namespace, the program
	// is there, all its threads.
	if err := l.Client(cmd.Start); err != nil {
		return nil, err
	}
	h := l.Hooks("client")
	d := &dialed{cmd: cmd, stdin: stdin, h: h}
	dec := json.NewDecoder(stdout)
	for {
		var r report
		if err := dec.Decode(&r); err != nil {
			stdin.Close()
			cmd.Wait()
			return nil, fmt.Errorf("the client program: %w", err)
		}
		if a := r.Attempt; a != nil {
			d.tried = append(d.tried, *a)
			h.ConnectStart(tracer.ConnectStartInfo{Time: a.At, Network: a.Network, Remote: a.Remote})
			continue
		}
		d.done = *r.Done
		break
	}
	if d.Err != "" {
		stdin.Close()
		return d, cmd.Wait()
	}
	h.ConnectDone(tracer.ConnectDoneInfo{Time: d.At, Network: network, Local: d.Local, Remote: d.Remote,
		Duration: d.At.Sub(d.tried[0].At)})
	return d, nil
}

// close has the client program close its connection (the trace gets
// its CLOSE), and waits for it to end.
func (d *dialed) close() error {
	now := time.Now()
	d.h.Close(tracer.CloseInfo{Time: now, Local: d.Local, Remote: d.Remote, Lifetime: now.Sub(d.At)})
	d.stdin.Close()
	return d.cmd.Wait()
}
