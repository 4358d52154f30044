package quiz

import (
	"cmp"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// frame is what tshark says of one TCP segment.
type frame struct {
	stream           int
	time             float64 // seconds since the epoch
	iface            string
	srcPort          int
	syn, ack, fin    bool
	rst              bool
	seq, ackNo, len_ int64
	nxtseq           int64
	win, mss         int64
}

// fields are what tsharkFrames asks tshark for.
var fields = []string{"tcp.stream", "frame.time_epoch", "frame.interface_name", "tcp.srcport",
	"tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
	"tcp.seq", "tcp.ack", "tcp.len", "tcp.window_size_value", "tcp.options.mss_val", "tcp.nxtseq"}

// tsharkOutput runs tshark on a capture for the fields, a line per TCP
// segment.
func tsharkOutput(tshark, path string) ([]byte, error) {
	args := []string{"-r", path, "-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	return exec.Command(tshark, args...).Output()
}

// tsharkFrames reads tshark's lines for a capture's TCP segments:
// relative sequence numbers, tcp.stream numbering the connections from
// 0.
func tsharkFrames(t *testing.T, out []byte) []frame {
	t.Helper()
	var frames []frame
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != len(fields) {
			t.Fatalf("tshark: %q", line)
		}
		num := func(s string) int64 {
			if s == "" {
				return 0
			}
			n, err := strconv.ParseInt(s, 0, 64)
			if err != nil {
				t.Fatalf("tshark: %q in %q", s, line)
			}
			return n
		}
		flag := func(s string) bool { return s == "1" || s == "True" }
		tm, _ := strconv.ParseFloat(f[1], 64)
		frames = append(frames, frame{stream: int(num(f[0])), time: tm, iface: f[2], srcPort: int(num(f[3])),
			syn: flag(f[4]), ack: flag(f[5]), fin: flag(f[6]), rst: flag(f[7]),
			seq: num(f[8]), ackNo: num(f[9]), len_: num(f[10]), win: num(f[11]), mss: num(f[12]), nxtseq: num(f[13])})
	}
	return frames
}

// tsharkAnswers works out, from tshark's frames of one connection,
// the answer to each kind of question the connection can answer: each
// segment counted once, on a link where it was sent.
func tsharkAnswers(frames []frame, link bool) map[string]string {
	// A file of several interfaces need not be in time order.
	slices.SortStableFunc(frames, func(a, b frame) int { return cmp.Compare(a.time, b.time) })
	var syn *frame
	for i := range frames {
		if frames[i].syn && !frames[i].ack {
			syn = &frames[i]
			break
		}
	}
	if syn == nil {
		return nil
	}
	side := func(f *frame) string {
		if f.srcPort == syn.srcPort {
			return "client"
		}
		return "server"
	}
	var kept []*frame
	for i := range frames {
		f := &frames[i]
		if !link || f.iface == side(f) {
			kept = append(kept, f)
		}
	}
	a := map[string]string{}
	ms := func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
	a["client-port"] = strconv.Itoa(syn.srcPort)
	a["syn-window"] = strconv.FormatInt(syn.win, 10)
	var synAck, hsAck *frame
	nSYN := 0
	for _, f := range kept {
		switch {
		case synAck == nil && side(f) == "server" && f.syn && f.ack:
			synAck = f
		case synAck != nil && hsAck == nil && side(f) == "client" && f.ack && !f.syn && !f.rst && f.ackNo == 1:
			hsAck = f
		}
		if hsAck == nil && f.syn {
			nSYN++
		}
	}
	if synAck != nil && synAck.mss != 0 {
		a["server-mss"] = strconv.FormatInt(synAck.mss, 10)
	}
	if hsAck != nil {
		a["handshake-segments"] = strconv.Itoa(nSYN + 1)
		a["handshake-time"] = ms((hsAck.time-syn.time)*1000) + " ms"
	}
	if synAck == nil {
		return a
	}
	fins := map[string]*frame{}
	for _, s := range []string{"client", "server"} {
		var end int64
		for _, f := range kept {
			if side(f) != s {
				continue
			}
			if f.len_ > 0 && !f.rst {
				e := f.seq + f.len_ - 1
				if f.syn {
					e++
				}
				end = max(end, e)
			}
			if f.fin && fins[s] == nil {
				fins[s] = f
				// The FIN takes the last number of the segment's
				// sequence space, after its data: Wireshark's
				// next sequence number less one.
				a[s+"-fin-seq"] = strconv.FormatInt(f.nxtseq-1, 10)
			}
		}
		if end > 0 {
			a[s+"-bytes"] = strconv.FormatInt(end, 10)
		}
	}
	if link {
		// Sent again: a segment that carries sequence space its
		// sender had sent before, seen where it was sent.
		for _, sd := range []string{"client", "server"} {
			var next int64
			n := 0
			for _, f := range kept {
				if side(f) != sd {
					continue
				}
				space := f.len_
				if f.syn || f.fin {
					space++
				}
				if space == 0 || f.rst {
					continue
				}
				if f.seq < next {
					n++
				}
				next = max(next, f.seq+space)
			}
			if n > 0 {
				a[sd+"-resent"] = strconv.Itoa(n)
			}
		}
	}
	c, s := fins["client"], fins["server"]
	switch {
	case c != nil && s == nil:
		a["first-fin"] = "client"
	case s != nil && c == nil:
		a["first-fin"] = "server"
	case c != nil && c.time < s.time && s.ack && s.ackNo >= c.seq+c.len_+1:
		a["first-fin"] = "client"
	case s != nil && s.time < c.time && c.ack && c.ackNo >= s.seq+s.len_+1:
		a["first-fin"] = "server"
	}
	return a
}

// tsharkFiles are the captures checked against tshark: a lesson on
// loopback (two connections, their FINs), a lesson's link at both ends
// (out of time order in the file), one dropped SYN-ACK (a handshake of
// six segments), data in the SYN (TCP Fast Open), a simultaneous
// close, a zero window, FINs that come with data (gap, zerowindow), a connection's five-tuple used again and
// again. Not every file: each tshark takes half a second of CPU.
var tsharkFiles = []string{
	"../inspect/testdata/lesson03.pcapng",
	"../inspect/testdata/lesson15-both.pcapng",
	"../inspect/testdata/lesson16-both.pcapng",
	"../inspect/testdata/link-sack.pcap",
	"../wire/testdata/synack.pcapng",
	"../wire/testdata/tfo.pcapng",
	"../wire/testdata/simclose.pcapng",
	"../wire/testdata/zerowindow.pcapng",
	"../wire/testdata/gap.pcapng",
	"../wire/testdata/reuse.pcapng",
}

// Every question every capture of the tests can answer, checked against
// tshark's reading of the same packets: the same questions asked, the
// same answers, each answered by the event it shows.
func TestAnswersAgreeWithTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: nothing to compare the answers with")
	}
	asked := map[string]int{}
	// Each tshark takes half a second to start: all at once.
	outs := make([][]byte, len(tsharkFiles))
	errs := make([]error, len(tsharkFiles))
	var wg sync.WaitGroup
	for i, path := range tsharkFiles {
		wg.Go(func() { outs[i], errs[i] = tsharkOutput(tshark, path) })
	}
	wg.Wait()
	for i, path := range tsharkFiles {
		if errs[i] != nil {
			t.Fatalf("tshark %s: %v", path, errs[i])
		}
		frames := tsharkFrames(t, outs[i])
		byStream := map[int][]frame{}
		ifaces := map[string]bool{}
		for _, f := range frames {
			byStream[f.stream] = append(byStream[f.stream], f)
			ifaces[f.iface] = true
		}
		// Captured at a link's two ends: a segment counts where it was
		// sent.
		link := len(ifaces) == 2 && ifaces["client"] && ifaces["server"]
		if len(ifaces) > 1 && !link {
			t.Fatalf("%s: interfaces %v: the test knows a link's two ends only", path, ifaces)
		}
		for _, c := range connsOf(eventsOf(t, path)) {
			want := tsharkAnswers(byStream[c.id-1], link)
			got := map[string]Question{}
			for _, q := range c.questions() {
				got[q.Name] = q
			}
			for name, w := range want {
				q, ok := got[name]
				if !ok {
					t.Errorf("%s #%d: no %s question; tshark's answer is %s", filepath.Base(path), c.id, name, w)
					continue
				}
				asked[name]++
				if name == "handshake-time" {
					// The capture's microseconds: tshark rounds them
					// as the answer does.
					g, _, _ := firstNumber(q.Answer)
					x, _, _ := firstNumber(w)
					if math.Abs(g-x) > 0.0015 {
						t.Errorf("%s #%d: %s %s, tshark says %s", filepath.Base(path), c.id, name, q.Answer, w)
					}
				} else if q.Answer != w {
					t.Errorf("%s #%d: %s %s, tshark says %s", filepath.Base(path), c.id, name, q.Answer, w)
				}
				if q.Check(w) != Right {
					t.Errorf("%s #%d: %s: tshark's answer %q is not taken as right", filepath.Base(path), c.id, name, w)
				}
				if q.Event.Packet == nil || q.Event.Conn != c.id {
					t.Errorf("%s #%d: %s: answered by %+v, not a packet of the connection", filepath.Base(path), c.id, name, q.Event)
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok {
					t.Errorf("%s #%d: a %s question (%s) tshark's packets cannot answer", filepath.Base(path), c.id, name, got[name].Answer)
				}
			}
		}
	}
	for _, k := range kinds {
		if k != "time-wait" && k != "fin-state" && asked[k] == 0 {
			t.Errorf("no capture asked a %s question", k)
		}
	}
	t.Logf("questions checked: %v", asked)
}
