//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tcptour/tracer/lab"
)

// The lesson's claims about Go's dialer, checked on the loopback of the
// test's own network namespace (see TestMain), with the lab DNS server
// there answering for two names: dual.tcptour.test (127.0.0.1 and ::1,
// as /etc/hosts often gives localhost) and hole.test (an IPv6 address
// where nothing answers, and 127.0.0.1).

// tried dials name on network with a Dialer of the given FallbackDelay,
// its lookups sent to a lab DNS server, within d; it returns the
// attempts the dialer made (each attempt's network, address and time,
// as its socket was made), when the resolver read its last answer (the
// dialer starts its fallback timer after that, as it begins the first
// attempt) and the dial's result.
func tried(t *testing.T, fallback time.Duration, network, name string, within time.Duration) ([]attempt, time.Time, net.Conn, error) {
	t.Helper()
	v6 := blackhole(t)
	names := map[string][]netip.Addr{
		"dual.tcptour.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"hole.test":         {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr(v6)},
	}
	dns, err := lab.Start("127.0.0.1:0", names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var (
		mu       sync.Mutex
		attempts []attempt
		lookedUp time.Time
	)
	d := net.Dialer{
		FallbackDelay: fallback,
		Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, dns.Addr().String())
			if err != nil {
				return nil, err
			}
			if uc, ok := c.(*net.UDPConn); ok {
				// A PacketConn still, so that the resolver sends its
				// queries as datagrams.
				return &answers{UDPConn: uc, mu: &mu, last: &lookedUp}, nil
			}
			return c, nil
		}},
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, attempt{At: time.Now(), Network: network, Remote: netip.MustParseAddrPort(address)})
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c, err := d.DialContext(ctx, network, net.JoinHostPort(name, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	mu.Lock()
	defer mu.Unlock()
	return attempts, lookedUp, c, err
}

// answers is a connection to the DNS server that notes when it last
// read an answer.
type answers struct {
	*net.UDPConn
	mu   *sync.Mutex
	last *time.Time
}

func (a *answers) Read(b []byte) (int, error) {
	n, err := a.UDPConn.Read(b)
	a.mu.Lock()
	*a.last = time.Now()
	a.mu.Unlock()
	return n, err
}

// The localhost case: a name with 127.0.0.1 and ::1, a server on
// 127.0.0.1 only. Go sorts ::1 first (RFC 6724: its precedence is 50),
// its SYN is answered with RST, and the IPv4 attempt follows at once.
func TestGoDialerRefusedFallsBackAtOnce(t *testing.T) {
	a, _, c, err := tried(t, 0, "tcp", "dual.tcptour.test", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || a[0].Network != "tcp6" || a[0].Remote.Addr() != netip.IPv6Loopback() || a[1].Network != "tcp4" {
		t.Fatalf("attempts %+v, want tcp6 [::1] then tcp4 127.0.0.1", a)
	}
	// At once: well under the 300 ms the dialer would wait for a silent
	// attempt (a busy machine may take some ms to run it).
	if gap := a[1].At.Sub(a[0].At); gap >= 200*time.Millisecond {
		t.Errorf("the IPv4 attempt came %v after the refused IPv6 one, want at once", gap)
	}
	if !c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Is4() {
		t.Errorf("connected to %v, want IPv4", c.RemoteAddr())
	}
}

// Try this: with FallbackDelay 50 ms, the IPv4 attempt starts 50 ms
// after the silent IPv6 one (not 300).
func TestGoDialerFallbackDelay(t *testing.T) {
	for _, c := range []struct{ delay, want time.Duration }{{0, 300 * time.Millisecond}, {50 * time.Millisecond, 50 * time.Millisecond}} {
		t.Run(c.want.String(), func(t *testing.T) {
			a, lookedUp, conn, err := tried(t, c.delay, "tcp", "hole.test", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != 2 || a[0].Network != "tcp6" || a[1].Network != "tcp4" {
				t.Fatalf("FallbackDelay %v: attempts %+v, want tcp6 then tcp4", c.delay, a)
			}
			// The dialer's timer starts after the lookup, as the IPv6
			// attempt begins (whose socket a busy machine may make some
			// ms later): the IPv4 attempt comes the delay after the
			// last answer, or a little more; with a delay of 50 ms,
			// never the default's 300.
			if since := a[1].At.Sub(lookedUp); lookedUp.IsZero() || since < c.want || since > c.want+200*time.Millisecond {
				t.Errorf("FallbackDelay %v: the IPv4 attempt came %v after the lookup's last answer, want %v", c.delay, since, c.want)
			}
			if !conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Is4() {
				t.Errorf("connected to %v, want IPv4", conn.RemoteAddr())
			}
		})
	}
}

// A negative FallbackDelay turns the race off: the dialer tries the
// addresses one after the other, and stays on the silent IPv6 one (the
// kernel would retry its SYN for about two minutes): within a second,
// no IPv4 attempt.
func TestGoDialerNoFallback(t *testing.T) {
	a, _, _, err := tried(t, -1, "tcp", "hole.test", time.Second)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial: %v, want a timeout (the context's deadline)", err)
	}
	if len(a) != 1 || a[0].Network != "tcp6" {
		t.Errorf("attempts %+v, want the IPv6 one only", a)
	}
	// The lesson says the kernel takes about two minutes: 6 retries,
	// the first after 1 s, each wait doubled (1+2+…+64 = 127 s).
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_syn_retries")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "6" {
		t.Errorf("net.ipv4.tcp_syn_retries is %s in a new namespace, the lesson says 6", got)
	}
}

// Try this: "tcp4" asks for A records only; the one attempt is IPv4,
// and connects at once.
func TestGoDialerTCP4(t *testing.T) {
	a, _, c, err := tried(t, 0, "tcp4", "hole.test", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || a[0].Network != "tcp4" || !c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Is4() {
		t.Errorf("attempts %+v, connected to %v: want one, IPv4", a, c.RemoteAddr())
	}
}

// What ss -tln shows of a listener on each network: "tcp" *:PORT (an
// IPv6 socket that takes both families), "tcp4" 0.0.0.0:PORT, "tcp6"
// [::]:PORT (IPv6 only).
func TestListenersInSS(t *testing.T) {
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("ss is not installed")
	}
	want := map[string]string{}
	for network, form := range map[string]string{"tcp": "*:%d", "tcp4": "0.0.0.0:%d", "tcp6": "[::]:%d"} {
		ln, err := net.Listen(network, ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		want[network] = fmt.Sprintf(form, ln.Addr().(*net.TCPAddr).Port)
	}
	out, err := exec.Command(ss, "-tln").Output()
	if err != nil {
		t.Fatalf("ss -tln: %v", err)
	}
	fields := strings.Fields(string(out))
	for network, local := range want {
		if !slices.Contains(fields, local) {
			t.Errorf("ss -tln does not show the %q listener as %s:\n%s", network, local, out)
		}
	}
}
