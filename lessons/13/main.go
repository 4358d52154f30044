// Lesson 13 sends a few megabytes over a link with a round trip of
// 20 ms and watches the sender's congestion window (cwnd) as the kernel
// reports it in TCP_INFO, once a round trip: slow start doubling it,
// a lost segment cutting it (Reno by half, CUBIC by 30 %, BBR its own
// way), and a slower link with a long queue, where the window fills the
// queue and the round trip grows with it (bufferbloat). A chart in the
// terminal draws the window and the segments in flight against time.
//
// It answers the seed's "full duplex" socket with what a program never
// sees: how fast the kernel lets the bytes of one Write go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/chart"
	"tcptour/tracer/kernel"
	"tcptour/tracer/link"
)

// The link's delay each way: a round trip of 20 ms.
const oneWay = 10 * time.Millisecond

// The transfers: 1 MB to watch slow start, 2 MB with a loss, long
// enough to see the window after it.
const (
	small = 1 << 20
	large = 2 << 20
)

// sent and received hold the bytes of a transfer at each end, made
// once: a few megabytes made for each transfer would keep Go's garbage
// collector busy, in the process that also forwards the link's frames.
var sent, received = make([]byte, large), make([]byte, large)

// lost is the data segment the link drops in steps 2 to 4: far enough
// in for slow start to have grown the window to about 80 segments.
const lost = 100

// The slower link of step 5: 1 MB a second (a frame of 1514 bytes
// takes 1.5 ms), with a queue of 1,000 frames, more than the transfer
// has segments, so that nothing is lost and the queue only fills.
const (
	rate  = 1_000_000
	queue = 1000
)

var info = lesson.Lesson{
	Number: "13",
	Title:  "Round trips and the congestion window",
	Intro: "The client sends megabytes to the server over a link with a round trip of 20 ms, and the " +
		"lesson reads the client's TCP_INFO four times a round trip: how many segments the kernel lets be in " +
		"flight (the congestion window, cwnd) and how many are. Slow start; a loss and how Reno, CUBIC " +
		"and BBR cut the window; a slower link with a long queue, where the round trip grows as the " +
		"queue fills. A chart draws each transfer.",
	Steps: 5,
	Link:  &link.Config{DelayToServer: oneWay, DelayToClient: oneWay},
	Recap: []string{
		"A sender may have cwnd segments in flight, unacknowledged: the congestion window, its\n" +
			"guess of what the path holds. It is the kernel's, per connection; TCP_INFO (ss -ti)\n" +
			"shows it. The program's Write returns long before the bytes are sent.",
		"Slow start: a new connection starts at 10 segments (RFC 6928) and adds one for each\n" +
			"segment acknowledged, so the window doubles every round trip until a loss.",
		"A loss halves the window with Reno (ssthresh = cwnd / 2), cuts it to 70 % with CUBIC,\n" +
			"Linux's default; both then grow it slowly (congestion avoidance). BBR does not take a\n" +
			"loss as its signal: it measures the bottleneck's rate and the shortest round trip.",
		"A queue in front of a slower link turns a larger window into a longer round trip, not\n" +
			"more throughput: bufferbloat. A window that fits the path (rate × round trip) fills it.",
	},
	TryThis: []string{
		"go run ./lessons/13 --json | grep '\"phase\":\"sample\"' | head: each sample is one\n" +
			"reading of TCP_INFO, with snd_cwnd, snd_ssthresh, unacked and rtt_ns.",
		"In lessons/13/main.go, make step 5's queue 50 frames (queue = 50): the sender overflows\n" +
			"it, the link drops what does not fit (tail drop), and the window is cut as in step 2;\n" +
			"the round trip grows less. Which frames are lost then differs from run to run.",
		"go run ./lessons/13 --pcap cwnd.pcapng, then open it in Wireshark: keep the client's\n" +
			"interface (frame.interface_name == \"client\"), pick a data segment, and Statistics →\n" +
			"TCP Stream Graphs → Stevens: the sequence numbers against time, steeper each round\n" +
			"trip in slow start, a notch at the loss.",
	},
}

func main() { lesson.Main(info, run) }

func run(l *lesson.Run) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lesson 13 needs Linux: its link joins two network namespaces; this is %s", runtime.GOOS)
	}
	l.Step("Slow start",
		"The server listens in its namespace, at 192.0.2.2; the client dials from 192.0.2.1, with Reno as "+
			"its congestion control, and writes 1 MB in one Write. Write returns once the bytes are in the "+
			"kernel's send buffer; the kernel sends them as fast as the congestion window lets it. A new "+
			"connection starts with a window of 10 segments; each segment acknowledged adds one, so each "+
			"round trip the window doubles: slow start. The lesson reads the client's TCP_INFO every 5 ms, "+
			"four times a round trip (each reading is a sample event in --json), and draws the window and "+
			"the segments in flight below.")
	if err := l.SetSysctl("net.ipv4.tcp_early_retrans", "0",
		"No tail loss probes (lesson 12): the server's kernel may hold its ACK of a transfer's last segment "+
			"(a delayed ACK) past the client's probe timeout, two round trips, and the probe would send again "+
			"a segment that was not lost, in some runs and not in others."); err != nil {
		return err
	}
	var ln net.Listener
	err := l.Server(func() (err error) {
		ln, err = tracer.Listen(l.Context(), l.Hooks("server"), "tcp4", net.JoinHostPort(link.ServerAddr.String(), "0"))
		return err
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	t, err := transfer(l, ln, "reno", small)
	if err != nil {
		return err
	}
	l.Printf("%s\n%s", t.chart(l, "Reno, 1 MB: slow start"), t.slowStart())

	l.Step("A loss: Reno halves the window",
		"The same with 2 MB, and the link drops the 100th data segment from the client. By then slow "+
			"start has grown the window to about 80 segments. The server's ACKs ask again for the missing "+
			"segment, with SACK blocks for what came after it (lesson 12), and about a round trip after the "+
			"loss the client's kernel sends it again, while new data still flows (so tshark, and this trace, "+
			"call that copy out of order), and cuts the window: Reno sets the slow-start threshold (ssthresh) "+
			"to half the window and brings the window down to it. From then on it grows by one segment a "+
			"round trip, no longer doubling (congestion avoidance).")
	l.SetRules(link.Rule{Dir: link.FromClient, Kind: link.Data, Index: lost, Action: link.Drop})
	t, err = transfer(l, ln, "reno", large)
	if err != nil {
		return err
	}
	l.Printf("%s\n%s", t.chart(l, "Reno, 2 MB, the 100th segment lost"), t.cut("Reno", 0.5))

	l.Step("The same loss with CUBIC",
		"CUBIC, Linux's default, cuts less: to 70 % of the window (ssthresh = 0.7 × cwnd). It then grows the "+
			"window along a cubic curve of the time since the loss, fast at first, slowly as it nears the "+
			"window it had, so that it finds the path's limit again sooner on a fast, long path.")
	t, err = transfer(l, ln, "cubic", large)
	if err != nil {
		return err
	}
	l.Printf("%s\n%s", t.chart(l, "CUBIC, 2 MB, the 100th segment lost"), t.cut("CUBIC", 0.7))

	l.Step("The same loss with BBR",
		"BBR (Google's, in Linux since 4.9) does not read a loss as a sign of a full path. It measures "+
			"the rate at which the data is delivered and the shortest round trip, and keeps in flight about "+
			"their product, whatever is lost. Where the kernel refuses it (no tcp_bbr module here), the "+
			"client says so and the step sends nothing.")
	t, err = transfer(l, ln, "bbr", large)
	var refused *ccRefused
	switch {
	case errors.As(err, &refused):
		l.Note("client", fmt.Sprintf("setsockopt TCP_CONGESTION bbr: %v: this kernel does not offer BBR here (/proc/sys/net/ipv4/tcp_available_congestion_control lists what it has)", refused.err))
	case err != nil:
		return err
	default:
		l.Printf("%s\n%s", t.chart(l, "BBR, 2 MB, the 100th segment lost"), t.bbr())
	}

	l.Step("A slower link with a long queue: bufferbloat",
		"No loss now. The link sends no faster than 1 MB a second: a full frame takes 1.5 ms to go. What "+
			"the client sends faster waits in the link's queue, which holds up to 1,000 frames; each frame "+
			"then waits for those before it. The path itself holds 20 ms × 1 MB/s = 20 kB, about 14 segments; "+
			"a window larger than that sends no faster, it only fills the queue, and every segment's round trip "+
			"grows by the time it waits there. Reno in slow start doubles the window each round trip, so the "+
			"round trip the kernel measures (its smoothed RTT) grows with it: bufferbloat.")
	l.SetRules()
	l.SetRate(rate, 0, queue, "To the server only: the client's data waits in the queue, the server's ACKs go at once.")
	t, err = transfer(l, ln, "reno", small)
	if err != nil {
		return err
	}
	l.Printf("%s\n%s\n%s", t.chart(l, "Reno, 1 MB through 1 MB/s and a queue of 1,000 frames"), t.rttChart(l), t.bloat(tailDrops(l)))
	return ln.Close()
}

// sampleEvery is how often the lesson reads the client's TCP_INFO: four
// times a round trip of the link. Once a round trip would miss the
// window's top: in slow start it doubles in one.
const sampleEvery = 5 * time.Millisecond

// ccRefused is the error of a congestion control the kernel refused.
type ccRefused struct{ err error }

func (e *ccRefused) Error() string { return "congestion control refused: " + e.err.Error() }

// result is a transfer as the client's TCP_INFO samples saw it.
type result struct {
	samples []kernel.Sample
	took    time.Duration // from the client's Write to the server's answer
	size    int
}

// transfer dials the server with the congestion control cc, has the
// client write size bytes in one Write and the server read them in one
// Read, while the client's TCP_INFO is read about once a round trip;
// the samples go into the trace. The server answers "ok" and both
// close, the client first.
func transfer(l *lesson.Run, ln net.Listener, cc string, size int) (*result, error) {
	var ccErr error
	dialer := tracer.Dialer{Hooks: l.Hooks("client"), Net: net.Dialer{
		Control: func(network, address string, c syscall.RawConn) error {
			// The congestion control is the socket's own, set before
			// it connects.
			err := c.Control(func(fd uintptr) {
				ccErr = setCongestion(fd, cc)
			})
			if err == nil && ccErr != nil {
				err = &ccRefused{ccErr}
			}
			return err
		}}}
	var client net.Conn
	err := l.Client(func() (err error) {
		client, err = dialer.DialContext(l.Context(), "tcp4", ln.Addr().String())
		return err
	})
	var refused *ccRefused
	if errors.As(err, &refused) {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer server.Close()
	// The pretty output shows of its thousands of segments only those
	// that tell something; --json has them all.
	l.Bulk(client)
	// The server reads once all the bytes are in: one Read in the
	// trace, not hundreds. Its receive buffer holds them all.
	if err := bigBuffer(server, size); err != nil {
		return nil, err
	}

	res := &result{size: size}
	got := make(chan error, 1)
	go func() {
		err := arrived(l, server, size)
		if err == nil {
			_, err = io.ReadFull(server, received[:size])
		}
		if err == nil {
			_, err = server.Write([]byte("ok"))
		}
		got <- err
	}()
	s, err := kernel.StartSampler(client, sampleEvery)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	_, werr := client.Write(sent[:size])
	answer := make([]byte, 2)
	_, rerr := io.ReadFull(client, answer)
	res.took = time.Since(start)
	res.samples, err = s.Stop()
	if err := errors.Join(werr, rerr, err, <-got); err != nil {
		return nil, err
	}
	local, remote := addrPort(client.LocalAddr()), addrPort(client.RemoteAddr())
	for _, smp := range res.samples {
		i := smp.Info
		l.Trace().Add(tracer.Event{Time: smp.Time, Actor: "kernel", Phase: tracer.PhaseSample,
			Proto: "tcp", Local: local, Remote: remote, TCP: &i,
			Text: fmt.Sprintf("client: cwnd %d, %d segments in flight", i.SndCwnd, i.InFlight())})
	}
	if err := client.Close(); err != nil {
		return nil, err
	}
	if _, err := server.Read(answer); err != io.EOF {
		return nil, fmt.Errorf("the server's read after the client closed: %v, want io.EOF", err)
	}
	return res, server.Close()
}

func addrPort(a net.Addr) (ap netip.AddrPort) {
	if t, ok := a.(*net.TCPAddr); ok {
		ap = t.AddrPort()
	}
	return ap
}

// arrived waits until c's kernel has received n bytes in order, as its
// TCP_INFO says (bytes_received), asking every millisecond.
func arrived(l *lesson.Run, c net.Conn, n int) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		i, err := kernel.TCPInfo(c)
		if err != nil {
			return err
		}
		if i.BytesReceived >= uint64(n) {
			return nil
		}
		select {
		case <-l.Context().Done():
			return context.Cause(l.Context())
		case <-tick.C:
		}
	}
}

// ms is t's time since the first sample, in milliseconds.
func (r *result) ms(t time.Time) float64 {
	return float64(t.Sub(r.samples[0].Time)) / float64(time.Millisecond)
}

// chart draws the window and the segments in flight against time, to
// fit the lesson's output (Unicode and colour on a terminal).
func (r *result) chart(l *lesson.Run, title string) string {
	var cwnd, inFlight []chart.Point
	for _, s := range r.samples {
		cwnd = append(cwnd, chart.Point{X: r.ms(s.Time), Y: float64(s.Info.SndCwnd)})
		inFlight = append(inFlight, chart.Point{X: r.ms(s.Time), Y: float64(s.Info.InFlight())})
	}
	c := chart.Chart{
		Title:  title,
		Series: []chart.Series{{Name: "cwnd", Points: cwnd}, {Name: "in flight", Points: inFlight}},
		XUnit:  "ms", YUnit: "segments",
		Width: l.Width() - 2, Height: 10,
		Unicode: l.Color(), Color: l.Color(), Steps: true,
	}
	return strings.TrimSuffix(c.String(), "\n")
}

// rttChart draws the smoothed round-trip time against time.
func (r *result) rttChart(l *lesson.Run) string {
	var rtt []chart.Point
	for _, s := range r.samples {
		rtt = append(rtt, chart.Point{X: r.ms(s.Time), Y: float64(s.Info.RTT) / float64(time.Millisecond)})
	}
	c := chart.Chart{
		Title:  "The round trip the client's kernel measured (smoothed RTT)",
		Series: []chart.Series{{Name: "srtt", Points: rtt}},
		XUnit:  "ms", YUnit: "ms",
		Width: l.Width() - 2, Height: 8,
		Unicode: l.Color(), Color: l.Color(), Steps: true,
	}
	return strings.TrimSuffix(c.String(), "\n")
}

// beforeLoss returns the samples taken before the sender found a loss,
// and the rest. The kernel finds it (and sets ssthresh) in fast recovery
// or when its timer fires, which a sample can see before the segment is
// sent again.
func (r *result) beforeLoss() (before, after []kernel.Info) {
	for _, s := range r.samples {
		if !lossFound(s.Info) {
			before = append(before, s.Info)
		} else {
			after = append(after, s.Info)
		}
	}
	return before, after
}

// perRoundTrip lists the window once a round trip, from the first
// sample: at the first sample taken at or after each multiple of the
// shortest round trip the kernel measured. The samples themselves come
// four times as often.
func (r *result) perRoundTrip(until time.Time) string {
	rtt := r.last().MinRTT
	if rtt <= 0 {
		return ""
	}
	var w []string
	next := r.samples[0].Time
	for _, s := range r.samples {
		if s.Time.After(until) {
			break
		}
		if !s.Time.Before(next) {
			w = append(w, fmt.Sprint(s.Info.SndCwnd))
			next = next.Add(rtt)
		}
	}
	return strings.Join(w, " → ")
}

// last is the last sample.
func (r *result) last() *kernel.Info { return &r.samples[len(r.samples)-1].Info }

// byCwnd orders samples by their window.
func byCwnd(a, b kernel.Info) int { return int(a.SndCwnd) - int(b.SndCwnd) }

// rate is the transfer's rate as the client saw it, from the start of
// its Write to the server's answer.
func (r *result) rate() string {
	return fmt.Sprintf("%d MB in %v, %.2f MB/s", r.size>>20, r.took.Round(time.Millisecond), float64(r.size)/r.took.Seconds()/1e6)
}

// lossFound says whether the sender had found a loss when i was read:
// it was in fast recovery or its timer had fired (TCP_INFO's ca_state),
// or it had sent a segment again.
func lossFound(i kernel.Info) bool {
	return i.TotalRetrans > 0 || i.CAState == kernel.CARecovery || i.CAState == kernel.CALoss
}

// lossFoundAt is the time of the first sample after the sender found a
// loss, or the last sample's.
func (r *result) lossFoundAt() time.Time {
	for _, s := range r.samples {
		if lossFound(s.Info) {
			return s.Time
		}
	}
	return r.samples[len(r.samples)-1].Time
}

// slowStart says what the samples of a transfer without loss show.
func (r *result) slowStart() string {
	before, after := r.beforeLoss()
	rtt := tracer.FormatDuration(r.last().MinRTT)
	if len(after) > 0 {
		return fmt.Sprintf("In this run the client's kernel sent %d segments again: something was lost. The window, once a round trip (%s): %s.",
			r.last().TotalRetrans, rtt, r.perRoundTrip(r.end()))
	}
	how := "it only grew"
	if !slices.IsSortedFunc(before, byCwnd) {
		how = "it did not only grow"
	}
	threshold := "ssthresh stayed infinite (TCP_INFO's 2147483647): nothing was lost, and slow start never ended"
	if !r.last().SsthreshInfinite() {
		threshold = fmt.Sprintf("ssthresh became %d without a loss", r.last().SndSsthresh)
	}
	return fmt.Sprintf("In this run, the window once a round trip (%s, the shortest the kernel measured): %s; of %d samples, %s; %s. %s.",
		rtt, r.perRoundTrip(r.end()), len(r.samples), how, threshold, r.rate())
}

// end is the time of the last sample.
func (r *result) end() time.Time { return r.samples[len(r.samples)-1].Time }

// cut says how the loss changed the window, from the samples on either
// side of the first retransmission.
func (r *result) cut(name string, share float64) string {
	before, after := r.beforeLoss()
	if len(before) == 0 || len(after) == 0 {
		return fmt.Sprintf("In this run the samples saw no retransmission before the end: the window once a round trip: %s.", r.perRoundTrip(r.end()))
	}
	top := slices.MaxFunc(before, byCwnd).SndCwnd
	low := slices.MinFunc(after, byCwnd).SndCwnd
	end := r.last()
	var b strings.Builder
	fmt.Fprintf(&b, "In this run, %s: the window once a round trip until the loss: %s; at most %d", name, r.perRoundTrip(r.lossFoundAt()), top)
	if i := &before[len(before)-1]; !i.SsthreshInfinite() {
		// Only HyStart sets a threshold without a loss.
		fmt.Fprintf(&b, ", with ssthresh already %d and nothing lost: %s's HyStart had seen the round trip grow and left slow start early", i.SndSsthresh, name)
	}
	fall := fmt.Sprintf("cwnd down to %d", low)
	if low >= top {
		fall = fmt.Sprintf("cwnd %d at the lowest", low)
	}
	then := float64(end.SndSsthresh) / share
	seen := "more than the samples saw, as the ACKs that came in the last few milliseconds before still grew it"
	if then <= float64(top) {
		seen = "no more than the samples saw"
	}
	fmt.Fprintf(&b, ". After the loss: ssthresh %d, %s, then %d at the end; segments sent again: %d. "+
		"%s sets ssthresh to %.1f × the window it has when it learns of the loss: by that rule the window was then about %.0f, %s. %s.",
		end.SndSsthresh, fall, end.SndCwnd, end.TotalRetrans, name, share, then, seen, r.rate())
	return b.String()
}

// bbr says what BBR did with the loss.
func (r *result) bbr() string {
	before, after := r.beforeLoss()
	if len(before) == 0 || len(after) == 0 {
		return fmt.Sprintf("In this run the samples saw no retransmission before the end: the window once a round trip: %s.", r.perRoundTrip(r.end()))
	}
	top := slices.MaxFunc(before, byCwnd).SndCwnd
	low := slices.MinFunc(after, byCwnd).SndCwnd
	end := r.last()
	fall := fmt.Sprintf("the window fell to %d at the lowest", low)
	if low >= top {
		fall = fmt.Sprintf("the window was not cut: %d at the lowest", low)
	}
	threshold := fmt.Sprintf("ssthresh %d", end.SndSsthresh)
	if end.SsthreshInfinite() {
		threshold = "ssthresh still infinite: BBR sets none"
	}
	return fmt.Sprintf("In this run, BBR: cwnd at most %d before the loss; after it %s, and %d at the end; %s; segments sent again: %d. "+
		"BBR sets its window to two or three times the rate it measures times the shortest round trip; this link has no rate limit, so the rate it measures keeps growing. %s.",
		top, fall, end.SndCwnd, threshold, end.TotalRetrans, r.rate())
}

// tailDrops counts the frames the link's full queue dropped in this
// step.
func tailDrops(l *lesson.Run) int {
	n, step := 0, 0
	for _, e := range l.Events() {
		if e.Phase == tracer.PhaseStep {
			step = e.Step
		}
		if e.Step == step && e.Actor == "link" && strings.HasPrefix(e.Text, "dropped: the queue") {
			n++
		}
	}
	return n
}

// bloat says how the round trip grew.
func (r *result) bloat(dropped int) string {
	lo, hi := r.samples[0].Info.RTT, r.samples[0].Info.RTT
	var top uint32
	for _, s := range r.samples {
		lo, hi = min(lo, s.Info.RTT), max(hi, s.Info.RTT)
		top = max(top, s.Info.SndCwnd)
	}
	lost := "nothing was lost"
	if n := r.last().TotalRetrans; n > 0 || dropped > 0 {
		lost = fmt.Sprintf("the queue dropped %d frames and the client sent %d segments again", dropped, n)
	}
	return fmt.Sprintf("In this run: the smoothed RTT went from %v to %v, while cwnd grew to %d; %s; %s (the link's 1 MB/s, less 66 bytes of headers in each 1514-byte frame: 0.96 MB/s at most).",
		tracer.FormatDuration(lo), tracer.FormatDuration(hi), top, lost, r.rate())
}
