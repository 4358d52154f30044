//go:build linux

package link_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tcptour/tracer/capture"
	"tcptour/tracer/link"
)

// packets keeps what a capture handed over.
type packets struct {
	mu   sync.Mutex
	list []capture.Decoded
}

func (p *packets) add(pk capture.Packet) {
	d, err := capture.Decode(pk)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, d)
}

// tcp lists the TCP segments seen, as "SYN 192.0.2.1→192.0.2.2".
func (p *packets) tcp() (out []string, udp int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.list {
		if d.UDP != nil {
			udp++
		}
		if d.TCP == nil {
			continue
		}
		out = append(out, d.TCP.Flags.String()+" "+d.Src.Addr().String()+"→"+d.Dst.Addr().String())
	}
	return out, udp
}

// A capture on each end, opened in the end's namespace, sees the
// segments the end sends and those it receives; Sync, through the marker
// address, returns once every segment sent is in; the markers reach
// neither the other end nor its capture.
func TestCaptureEnds(t *testing.T) {
	l, _ := newLink(t, link.Config{DelayToServer: 5 * time.Millisecond, DelayToClient: 5 * time.Millisecond})
	ln := listen(t, l)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var caps [2]*capture.Capture
	var seen [2]packets
	for i, in := range []func(func() error) error{l.InClient, l.InServer} {
		ifname := []string{link.ClientInterface, link.ServerInterface}[i]
		err := in(func() (err error) {
			caps[i], err = capture.Open(capture.Config{Interface: ifname, TCPPorts: []uint16{port}, MarkerTo: link.MarkerAddr, Handler: seen[i].add})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range caps {
			if _, err := c.Close(); err != nil {
				t.Error(err)
			}
		}
	}()
	done := serve(ln, func(c net.Conn) error {
		_, err := io.Copy(io.Discard, c)
		if err == nil {
			err = c.Close()
		}
		return err
	})
	c := dial(t, l, ln.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The client's capture has its SYN and the SYN-ACK once connect
	// returns and Sync does.
	start := time.Now()
	if err := caps[0].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Sync took %v", took)
	}
	got, _ := seen[0].tcp()
	want := []string{"SYN 192.0.2.1→192.0.2.2", "SYN ACK 192.0.2.2→192.0.2.1", "ACK 192.0.2.1→192.0.2.2"}
	if len(got) < 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("the client's end saw %q, want %q first", got, want)
	}
	// The client's FIN, then the server's once it has read to the end:
	// the client reads to the end too, the server's FIN in.
	c.(*net.TCPConn).CloseWrite()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Error(err)
	}
	for i := range caps {
		if err := caps[i].Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, who := range []string{"client", "server"} {
		got, udp := seen[i].tcp()
		if udp != 0 {
			t.Errorf("the %s's capture handed over %d UDP datagrams (markers?)", who, udp)
		}
		// Both ends see both directions: the handshake's three and
		// at least a FIN each way.
		var fins int
		for _, s := range got {
			if s[:3] == "FIN" {
				fins++
			}
		}
		if len(got) < 5 || fins < 2 {
			t.Errorf("the %s's end saw %q: want the handshake and both FINs", who, got)
		}
	}
}

// Rules set between connections count the segments of the next one from
// its first.
func TestSetRulesPerConnection(t *testing.T) {
	l, rec := newLink(t, link.Config{})
	ln := listen(t, l)
	for range 2 {
		done := serve(ln, func(c net.Conn) error {
			_, err := io.Copy(c, c)
			return err
		})
		if err := l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.Data, Index: 1, Action: link.Duplicate}); err != nil {
			t.Fatal(err)
		}
		c := dial(t, l, ln.Addr())
		if _, err := c.Write([]byte("once")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	events, _ := rec.lists()
	if len(events) != 2 {
		t.Errorf("%d events, want 2 (the first data segment of each connection): %v", len(events), events)
	}
	if got := l.Rules(); len(got) != 1 || got[0].Action != link.Duplicate {
		t.Errorf("Rules() = %v", got)
	}
}

// Each end has a thread of the program parked in it, whose namespace
// another program can join (nsenter -t TID).
func TestEndsJoinable(t *testing.T) {
	l, _ := newLink(t, link.Config{})
	for _, end := range []struct {
		name string
		tid  int
		in   func(func() error) error
	}{{"client", l.ClientTID(), l.InClient}, {"server", l.ServerTID(), l.InServer}} {
		var want string
		if err := end.in(func() (err error) {
			want, err = os.Readlink("/proc/thread-self/ns/net")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", end.tid))
		if err != nil {
			t.Fatalf("the %s's thread %d: %v", end.name, end.tid, err)
		}
		if got != want {
			t.Errorf("the %s's thread %d is in %s, the %s's namespace is %s", end.name, end.tid, got, end.name, want)
		}
		// As another program joins it (the test is root in its
		// namespaces, as a lab's owner is in the lab's).
		nsenter, err := exec.LookPath("nsenter")
		if err != nil {
			t.Log("no nsenter here: joining an end is not tried")
			continue
		}
		out, err := exec.Command(nsenter, "-t", strconv.Itoa(end.tid), "-n", "cat", "/proc/net/dev").CombinedOutput()
		if err != nil {
			t.Fatalf("nsenter -t %d -n: %v\n%s", end.tid, err, out)
		}
		ifname := map[string]string{"client": link.ClientInterface, "server": link.ServerInterface}[end.name]
		if !strings.Contains(string(out), ifname+":") {
			t.Errorf("nsenter -t %d -n: no %s there:\n%s", end.tid, ifname, out)
		}
	}
}

// Without a delay the link sends a frame as soon as it has read it,
// unless frames wait before it: a held segment goes after the next one,
// the segments read while another is delayed overtake it, and a
// duplicate arrives twice, as the server's capture sees them.
func TestOrderWithoutDelay(t *testing.T) {
	rules := []link.Rule{
		{Dir: link.FromClient, Kind: link.Data, Index: 3, Action: link.Hold},
		{Dir: link.FromClient, Kind: link.Data, Index: 6, Action: link.Delay, Extra: 30 * time.Millisecond},
		{Dir: link.FromClient, Kind: link.Data, Index: 8, Action: link.Duplicate},
	}
	l, rec := newLink(t, link.Config{Rules: rules})
	var seen packets
	var c *capture.Capture
	err := l.InServer(func() (err error) {
		c, err = capture.Open(capture.Config{Interface: link.ServerInterface, TCPPorts: []uint16{7000}, MarkerTo: link.MarkerAddr, Handler: seen.add})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	// Reno sends its first 10 segments at once.
	bulkWith(t, l, 64<<10, "reno")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	events, segs := rec.lists()
	if len(events) != 3 {
		t.Errorf("events %v, want 3", events)
	}
	// The client's data segments by sequence number, as the link
	// numbered them.
	index := map[uint32]int{}
	for _, s := range segs {
		if s.Dir == link.FromClient && s.Kind == link.Data {
			index[s.Seq] = s.Index
		}
	}
	var arrived []int // indexes, in the order the server's end saw them
	first := map[int]int{}
	seen.mu.Lock()
	for _, d := range seen.list {
		if d.TCP == nil || d.Src.Addr() != link.ClientAddr || d.TCP.PayloadLen == 0 {
			continue
		}
		i := index[d.TCP.Seq]
		if _, ok := first[i]; !ok {
			first[i] = len(arrived)
		}
		arrived = append(arrived, i)
	}
	seen.mu.Unlock()
	t.Logf("data segments at the server's end, by index: %v", arrived)
	for _, i := range []int{1, 2, 3, 4, 5, 6, 7, 8} {
		if _, ok := first[i]; !ok {
			t.Fatalf("data segment %d never arrived: %v", i, arrived)
		}
	}
	if !(first[1] < first[2] && first[2] < first[4] && first[4] < first[3] && first[3] < first[5]) {
		t.Errorf("the 3rd segment held: arrivals %v, want 1 2 4 3 5 first", arrived)
	}
	if first[7] > first[6] || first[8] > first[6] {
		t.Errorf("the 6th segment delayed: arrivals %v, want the 7th and 8th before it", arrived)
	}
	if first[8]+1 >= len(arrived) || arrived[first[8]+1] != 8 {
		t.Errorf("the 8th segment duplicated: arrivals %v, want it twice in a row", arrived)
	}
}
