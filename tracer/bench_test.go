package tracer_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tcptour/tracer"
)

// The overhead benchmarks run the seed's exchange on loopback — connect,
// "I am Chuck Norris!", `You said "I am Chuck Norris!"` back, close — with
// the client and the server in this process, untraced and traced, and
// report the traced rate as a ratio to the untraced one measured in the
// same run:
//
//	go test ./tracer -run '^$' -bench 'Echo|RoundTrip' -benchtime 3s
//
// Each traced benchmark interleaves chunks of traced operations (timed)
// with chunks of untraced ones (timed apart, with the benchmark's timer
// stopped), so that both see the same machine at the same moment; the
// "x-untraced" metric is the ratio of their rates (1 means no overhead).
// "tracer-allocs/event" is the allocations the tracer adds per event: the
// allocations per operation traced minus those untraced, divided by the
// events per operation. Both ends are traced into one trace with no
// history (tracer.NoHistory), as a long-running program would, live or
// batched (see benchMode). docs/performance.md has the figures.

const (
	benchMsg   = "I am Chuck Norris!"
	benchReply = `You said "I am Chuck Norris!"`
	chunk      = 100 // operations per chunk of the interleaving
)

// benchPrinters are the printers compared.
var benchPrinters = []struct {
	name    string
	printer func(b *testing.B) tracer.Printer
}{
	{"json-discard", func(*testing.B) tracer.Printer { return tracer.NewJSON(io.Discard) }},
	{"pretty-discard", func(*testing.B) tracer.Printer { return tracer.NewPretty(io.Discard, false) }},
	{"json-file", func(b *testing.B) tracer.Printer {
		f, err := os.Create(filepath.Join(b.TempDir(), "trace.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return tracer.NewJSON(f)
	}},
}

// A traced benchmark delivers the events to the printer in one of two
// ways:
//
//   - live: a trace with Options.Live, which prints each event before
//     its hook returns (the README's "Tracing your own program");
//   - batched: a trace that is not live, flushed every 100 ms by a
//     goroutine of its own, as wire.Timeline is in the server, the
//     client and the lessons.
type benchMode struct {
	name string // "untraced", "live/json-file", …
	live bool
	// tcpInfo: the trace reads TCP_INFO at each event, as the
	// lessons', server's and client's traces do.
	tcpInfo bool
	printer func(b *testing.B) tracer.Printer // nil: untraced
}

func benchModes() []benchMode {
	modes := []benchMode{{name: "untraced"}}
	for _, live := range []bool{true, false} {
		for _, p := range benchPrinters {
			name := "batched/" + p.name
			if live {
				name = "live/" + p.name
			}
			modes = append(modes, benchMode{name: name, live: live, printer: p.printer})
		}
	}
	// The timeline's trace (lessons, server, client): TCP_INFO at each
	// event, batched, JSON to a file.
	return append(modes, benchMode{name: "batched/json-file+tcp_info", tcpInfo: true, printer: benchPrinters[2].printer})
}

// eventCounter counts the events printed. It is a batch printer, as the
// printers measured are, so that it asks the trace for nothing they do
// not (a plain printer gets each event with its note built).
type eventCounter struct{ n *atomic.Int64 }

func (c eventCounter) Print(tracer.Event) error { c.n.Add(1); return nil }

func (c eventCounter) PrintBatch(evs []tracer.Event) error {
	c.n.Add(int64(len(evs)))
	return nil
}

// flushEvery is how often a batched trace is printed (as the server's).
const flushEvery = 100 * time.Millisecond

// echoEnv is a server and a way to dial it, traced into one trace or not.
type echoEnv struct {
	ln     net.Listener
	dialer interface {
		DialContext(ctx context.Context, network, address string) (net.Conn, error)
	}
	events atomic.Int64  // events printed (traced only)
	stop   chan struct{} // stops the flushing goroutine (batched only)
	wg     sync.WaitGroup
}

// newEchoEnv starts an echo server traced as m says (nil: untraced).
func newEchoEnv(b *testing.B, m *benchMode) *echoEnv {
	b.Helper()
	env := &echoEnv{}
	ctx := context.Background()
	var err error
	if m == nil || m.printer == nil {
		env.ln, err = net.Listen("tcp4", "127.0.0.1:0")
		env.dialer = &net.Dialer{}
	} else {
		count := eventCounter{&env.events}
		tr := tracer.New(tracer.Options{Printers: []tracer.Printer{m.printer(b), count}, Live: m.live, History: tracer.NoHistory, TCPInfo: m.tcpInfo})
		env.ln, err = tracer.Listen(ctx, tr.Hooks("server"), "tcp4", "127.0.0.1:0")
		env.dialer = &tracer.Dialer{Hooks: tr.Hooks("client")}
		if !m.live {
			stop := make(chan struct{})
			env.stop = stop
			env.wg.Go(func() {
				t := time.NewTicker(flushEvery)
				defer t.Stop()
				for {
					select {
					case <-stop:
						_ = tr.Flush()
						return
					case <-t.C:
						_ = tr.Flush()
					}
				}
			})
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	env.wg.Go(func() {
		for {
			c, err := env.ln.Accept()
			if err != nil {
				return
			}
			env.wg.Go(func() { serveEcho(c) })
		}
	})
	b.Cleanup(func() {
		env.ln.Close()
		if env.stop != nil {
			close(env.stop)
		}
		env.wg.Wait()
	})
	return env
}

// serveEcho is the seed's server: `You said "…"` for each message, close
// after the client's FIN.
func serveEcho(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			reply := make([]byte, 0, n+11)
			reply = append(reply, `You said "`...)
			reply = append(reply, buf[:n]...)
			reply = append(reply, '"')
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (env *echoEnv) dial() (net.Conn, error) {
	return env.dialer.DialContext(context.Background(), "tcp4", env.ln.Addr().String())
}

// roundTrip writes the message and reads the whole reply.
func roundTrip(c net.Conn, buf []byte) error {
	if _, err := io.WriteString(c, benchMsg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf[:len(benchReply)])
	return err
}

// echoOnce is one connection's whole life.
func (env *echoEnv) echoOnce(buf []byte) error {
	c, err := env.dial()
	if err != nil {
		return err
	}
	if err := roundTrip(c, buf); err != nil {
		c.Close()
		return err
	}
	return c.Close()
}

// measure runs b.N operations of traced (timed by the benchmark) and, when
// untraced is not nil, as many of untraced between them in chunks (not
// timed by the benchmark), and reports the rate, the ratio and the
// tracer's allocations per event.
func measure(b *testing.B, unit string, traced, untraced func() error, events *atomic.Int64) {
	var tracedT, untracedT time.Duration
	var tracedA, untracedA uint64
	var tracedN, untracedN int
	var ms runtime.MemStats
	run := func(op func() error, n int, d *time.Duration, allocs *uint64) {
		runtime.ReadMemStats(&ms)
		a0 := ms.Mallocs
		t0 := time.Now()
		for range n {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		*d += time.Since(t0)
		runtime.ReadMemStats(&ms)
		*allocs += ms.Mallocs - a0
	}
	b.ReportAllocs()
	var ev0 int64
	if events != nil {
		ev0 = events.Load()
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		run(traced, n, &tracedT, &tracedA)
		tracedN += n
		done += n
		if untraced != nil {
			b.StopTimer()
			run(untraced, n, &untracedT, &untracedA)
			untracedN += n
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(tracedN)/tracedT.Seconds(), unit+"/s")
	if untraced == nil {
		return
	}
	b.ReportMetric(untracedT.Seconds()/float64(untracedN)/(tracedT.Seconds()/float64(tracedN)), "x-untraced")
	if events != nil {
		// Events printed during the run: a batched trace prints them up to
		// 100 ms late, and the server's last ones may still be on their
		// way; the count is close enough for a ratio.
		perOp := float64(events.Load()-ev0) / float64(tracedN)
		b.ReportMetric(perOp, "events/op")
		if perOp > 0 {
			extra := float64(tracedA)/float64(tracedN) - float64(untracedA)/float64(untracedN)
			b.ReportMetric(extra/perOp, "tracer-allocs/event")
		}
	}
}

// BenchmarkEcho measures connections per second: each operation is a
// whole connection (connect, message, reply, close).
func BenchmarkEcho(b *testing.B) {
	for _, m := range benchModes() {
		b.Run(m.name, func(b *testing.B) {
			buf := make([]byte, 64)
			if m.printer == nil {
				env := newEchoEnv(b, nil)
				measure(b, "conns", func() error { return env.echoOnce(buf) }, nil, nil)
				return
			}
			env := newEchoEnv(b, &m)
			base := newEchoEnv(b, nil)
			ubuf := make([]byte, 64)
			measure(b, "conns", func() error { return env.echoOnce(buf) }, func() error { return base.echoOnce(ubuf) }, &env.events)
		})
	}
}

// BenchmarkRoundTrip measures round trips per second on one connection
// kept open: each operation is the message and its reply.
func BenchmarkRoundTrip(b *testing.B) {
	for _, m := range benchModes() {
		b.Run(m.name, func(b *testing.B) {
			keep := func(env *echoEnv) net.Conn {
				c, err := env.dial()
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				return c
			}
			buf := make([]byte, 64)
			if m.printer == nil {
				c := keep(newEchoEnv(b, nil))
				measure(b, "round-trips", func() error { return roundTrip(c, buf) }, nil, nil)
				return
			}
			env := newEchoEnv(b, &m)
			c := keep(env)
			u := keep(newEchoEnv(b, nil))
			ubuf := make([]byte, 64)
			measure(b, "round-trips", func() error { return roundTrip(c, buf) }, func() error { return roundTrip(u, ubuf) }, &env.events)
		})
	}
}

// BenchmarkTraceAdd measures the trace alone, without the network: the
// events of one traced echo (both ends) added to a live trace with no
// history, printed by each printer. allocs/op here is per event.
func BenchmarkTraceAdd(b *testing.B) {
	local := netip.MustParseAddrPort("127.0.0.1:52844")
	remote := netip.MustParseAddrPort("127.0.0.1:6969")
	now := time.Now()
	client := tracer.IOInfo{Time: now, Local: local, Remote: remote, N: len(benchMsg), Data: []byte(benchMsg)}
	printers := map[string]func(b *testing.B) []tracer.Printer{
		"none":           func(*testing.B) []tracer.Printer { return nil },
		"json-discard":   func(b *testing.B) []tracer.Printer { return []tracer.Printer{benchPrinters[0].printer(b)} },
		"pretty-discard": func(b *testing.B) []tracer.Printer { return []tracer.Printer{benchPrinters[1].printer(b)} },
	}
	for _, name := range []string{"none", "json-discard", "pretty-discard"} {
		b.Run(name, func(b *testing.B) {
			tr := tracer.New(tracer.Options{Printers: printers[name](b), Live: true, History: tracer.NoHistory})
			h := tr.Hooks("client")
			events := []func(){
				func() { h.Write(client) },
				func() { h.Read(client) },
				func() {
					h.Close(tracer.CloseInfo{Time: now, Local: local, Remote: remote, BytesIn: 29, BytesOut: 18, Lifetime: time.Millisecond})
				},
				func() { h.Accept(tracer.AcceptInfo{Time: now, Local: remote, Remote: local}) },
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				events[i%len(events)]()
			}
		})
	}
}

// BenchmarkJSONPacket measures printing one captured packet's event
// as JSON, a note of a typical length with it (what a capturing server
// prints for each packet), against encoding/json's Encoder printing the
// same event ("x-encoding-json" is our time over its).
func BenchmarkJSONPacket(b *testing.B) {
	e := tracer.Event{Seq: 123456, Time: time.Now(), Elapsed: 1234567, Actor: "wire", Conn: 42, Phase: tracer.PhasePacket, Proto: "tcp",
		Local: netip.MustParseAddrPort("127.0.0.1:52844"), Remote: netip.MustParseAddrPort("127.0.0.1:6969"),
		Packet: &tracer.Packet{Proto: "tcp", From: "client", To: "server", Flags: "PSH ACK", Seq: 1, Ack: 1, Len: 18, Window: 65536, Size: 84,
			Src: netip.MustParseAddrPort("127.0.0.1:52844"), Dst: netip.MustParseAddrPort("127.0.0.1:6969")},
		Note: "The client's 18 bytes of data, bytes 1 to 18 of its stream, with the ACK of everything the server sent so far (seq 1): " +
			"the kernel sends the Write's bytes at once, in one segment, as nothing of the client's is unacknowledged (Nagle waits only then)."}
	ours := tracer.NewJSON(io.Discard)
	ref := json.NewEncoder(io.Discard)
	var refNs float64
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if err := ref.Encode(e); err != nil {
				b.Fatal(err)
			}
		}
		refNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			if err := ours.Print(e); err != nil {
				b.Fatal(err)
			}
		}
		if refNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/refNs, "x-encoding-json")
		}
	})
}

// BenchmarkRecordPackets measures recording captured packets' events in
// a trace without history, as a capturing server does: 50 connections'
// segments in turn, either direction, flushed every 1,024 events.
// "tuple" finds each event's connection by its five-tuple (Record),
// "ref" through the connection's ConnRef (RecordFor, as the annotator's
// events are recorded).
func BenchmarkRecordPackets(b *testing.B) {
	const conns = 50
	server := netip.MustParseAddrPort("127.0.0.1:7000")
	events := make([]tracer.Event, 2*conns)
	for i := range conns {
		client := netip.AddrPortFrom(server.Addr(), uint16(40000+i))
		events[2*i] = tracer.Event{Actor: "wire", Phase: tracer.PhasePacket, Proto: "tcp", Local: client, Remote: server, Note: "a note"}
		events[2*i+1] = tracer.Event{Actor: "wire", Phase: tracer.PhasePacket, Proto: "tcp", Local: server, Remote: client, Note: "a note"}
	}
	for _, byRef := range []bool{false, true} {
		name := map[bool]string{false: "tuple", true: "ref"}[byRef]
		b.Run(name, func(b *testing.B) {
			tr := tracer.New(tracer.Options{History: tracer.NoHistory})
			refs := make([]tracer.ConnRef, conns)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				n := i % len(events)
				e := events[n]
				if byRef {
					tr.RecordFor(&e, &refs[n/2])
				} else {
					tr.Record(&e)
				}
				if i%1024 == 1023 {
					_ = tr.Flush()
				}
			}
		})
	}
}
