package quiz

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheck(t *testing.T) {
	port := Question{Answer: "43210", number: 43210}
	ms := Question{Answer: "0.028 ms", number: 0.028, unit: "ms", tol: 0.002}
	side := Question{Answer: "client", words: sideWords("client")}
	both := Question{Answer: "both", words: []string{"both", "client and server"}}
	state := Question{Answer: "CLOSE_WAIT", words: []string{"CLOSE_WAIT"}}
	for _, c := range []struct {
		q     Question
		reply string
		want  Verdict
	}{
		{port, "43210\n", Right},
		{port, "port 43210", Right},
		{port, "43,210", Right},
		{port, "43 210", Right},
		{port, "it was 43210, I think", Right},
		{port, "43211", Wrong},
		{port, "4321", Wrong},
		{port, "no idea", Skipped},
		{port, "I don't know", Skipped},
		{port, "?", Skipped},
		{port, "??", Skipped},
		{port, "skip", Skipped},
		{port, "Pass.", Skipped},
		{port, "idk", Skipped},
		{port, "dunno", Skipped},
		{port, "no", Wrong},
		{Question{Answer: "3", number: 3}, "three", Right},
		{Question{Answer: "3", number: 3}, "Three segments", Right},
		{Question{Answer: "3", number: 3}, "four", Wrong},
		{Question{Answer: "10", number: 10}, "ten", Right},
		{Question{Answer: "0", number: 0}, "zero", Right},
		{side, "?", Skipped},
		{side, "I don't know", Skipped},
		{port, "", Skipped},
		{port, "  \n", Skipped},
		{ms, "0.028", Right},
		{ms, "0.029 ms", Right},
		{ms, "0,028 ms", Right},
		{ms, "28 µs", Right},
		{ms, "28us", Right},
		{ms, "0.000028 s", Right},
		{ms, "0.035", Wrong},
		{ms, "28", Wrong},   // milliseconds when no unit is given
		{ms, "28μs", Right}, // Greek mu, U+03BC
		{ms, "28 usec", Right},
		{ms, "28 µsec", Right},
		{ms, "28 microseconds", Right},
		{ms, "28000 ns", Right},
		{ms, "28,000 nanoseconds", Right},
		{ms, "0.028 msec", Right},
		{ms, "0.028 milliseconds", Right},
		{ms, "0.000028 sec", Right},
		{ms, "0.028 or so", Right},
		{ms, "28 ns", Wrong},
		{ms, "28 ticks", Wrong}, // an unknown unit: not read as ms
		{ms, "0.028 ticks", Wrong},
		{side, "client", Right},
		{side, "The Client", Right},
		{side, "client side", Right},
		{side, "the client's", Right},
		{side, "client's socket", Right},
		{side, "c", Right},
		{side, "C.", Right},
		{side, "server", Wrong},
		{side, "s", Wrong},
		{side, "client and server", Wrong},
		{side, "the", Wrong},
		{Question{Answer: "server", words: sideWords("server")}, "s", Right},
		{Question{Answer: "server", words: sideWords("server")}, "the", Wrong},
		{Question{Answer: "server", words: sideWords("server")}, "server's", Right},
		{side, "", Skipped},
		{both, "both sides", Right},
		{both, "the client and the server", Right},
		{both, "client", Wrong},
		{state, "close_wait", Right},
		{state, "Close wait", Right},
		{state, "CLOSE-WAIT", Right},
		{state, "closewait", Right},
		{state, "TIME_WAIT", Wrong},
	} {
		if got := c.q.Check(c.reply); got != c.want {
			t.Errorf("%s: reply %q: %v, want %v", c.q.Answer, c.reply, got, c.want)
		}
	}
}

func TestFirstNumber(t *testing.T) {
	for _, c := range []struct {
		text string
		n    float64
		unit string
		ok   bool
	}{
		{"port 43210", 43210, "", true},
		{"1,234,567", 1234567, "", true},
		{"1,5 ms", 1.5, "ms", true},
		{"0.5s", 0.5, "s", true},
		{"3 segments", 3, "segments", true},
		{"25μs", 25, "μs", true},
		{"25000 ns", 25000, "ns", true},
		{"none", 0, "", false},
	} {
		n, unit, ok := firstNumber(c.text)
		if n != c.n || unit != c.unit || ok != c.ok {
			t.Errorf("%q: %v %q %v, want %v %q %v", c.text, n, unit, ok, c.n, c.unit, c.ok)
		}
	}
}

// The questions of a capture: three to five here, the same each time, each
// true of the capture (TestAnswersAgreeWithTshark checks the answers),
// in the order the capture answers them.
func TestMakeFromCaptures(t *testing.T) {
	for _, path := range []string{
		"../inspect/testdata/lesson03.pcapng",
		"../inspect/testdata/lesson11.pcapng",
		"../inspect/testdata/lesson16-both.pcapng",
		"../inspect/testdata/link-tlp.pcap",
		"../wire/testdata/synack.pcapng",
	} {
		events := eventsOf(t, path)
		q := Make(events)
		if n := len(q.Questions); n < 3 || n > 5 || q.Why != "" {
			t.Errorf("%s: %d questions, why %q", path, n, q.Why)
		}
		again := Make(eventsOf(t, path))
		var names, namesAgain []string
		for i, qu := range q.Questions {
			names = append(names, qu.Name)
			namesAgain = append(namesAgain, again.Questions[i].Name)
			if i > 0 && qu.Event.Time.Before(q.Questions[i-1].Event.Time) {
				t.Errorf("%s: question %d is answered before question %d", path, i+1, i)
			}
		}
		if slices.Contains(names, "client-port") && slices.Contains(names, "syn-window") {
			t.Errorf("%s: the client's port and its SYN's window both asked: %v", path, names)
		}
		if strings.Join(names, " ") != strings.Join(namesAgain, " ") {
			t.Errorf("%s: %v, then %v", path, names, namesAgain)
		}
		t.Logf("%s: %v", path, names)
	}
}

// Lessons of other titles get other questions.
func TestLessonsVary(t *testing.T) {
	events := eventsOf(t, "../inspect/testdata/lesson03.pcapng")
	seen := map[string]bool{}
	for _, title := range []string{"lesson 01", "lesson 02", "lesson 03", "lesson 04", "lesson 05"} {
		ev := append([]tracer.Event{{Phase: tracer.PhaseLesson, Text: title}}, events...)
		var names []string
		kinds := map[string]bool{}
		for _, qu := range Make(ev).Questions {
			names = append(names, qu.Name+" #"+string(rune('0'+qu.Conn)))
			kinds[qu.Name] = true
		}
		if kinds["client-port"] && kinds["syn-window"] {
			t.Errorf("%s: the client's port and its SYN's window both asked: %v", title, names)
		}
		seen[strings.Join(names, ",")] = true
	}
	if len(seen) < 3 {
		t.Errorf("5 lessons, %d sets of questions: %v", len(seen), seen)
	}
}

// No packets and no states: a line says why, and nothing is asked.
// States alone: only what the kernel said is asked.
func TestNothingToAsk(t *testing.T) {
	q := Make([]tracer.Event{{Phase: tracer.PhaseLesson, Text: "x"}, {Actor: "client", Phase: tracer.PhaseConnectDone, Conn: 1}})
	if len(q.Questions) != 0 || q.Why != "No questions: this run holds no connection's packets or states to ask about." {
		t.Errorf("%+v", q)
	}
	var out bytes.Buffer
	if err := Ask(context.Background(), nil, &out, q, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "No questions") || strings.Contains(got, "1.") {
		t.Errorf("output:\n%s", got)
	}

	t0 := time.Now()
	states := []tracer.Event{
		{Time: t0, Conn: 1, Phase: tracer.PhaseState, State: &tracer.StateChange{Side: "server", From: kernel.Established, To: kernel.CloseWait, CauseFlags: "FIN ACK"}},
		{Time: t0.Add(time.Millisecond), Conn: 1, Phase: tracer.PhaseState, State: &tracer.StateChange{Side: "client", From: kernel.FinWait2, To: kernel.TimeWait, Kept: true}},
	}
	q = Make(states)
	if len(q.Questions) != 2 || !strings.Contains(q.Why, "kernel's states alone") {
		t.Fatalf("%+v", q)
	}
	if q.Questions[0].Name != "fin-state" || q.Questions[0].Answer != "CLOSE_WAIT" ||
		q.Questions[1].Name != "time-wait" || q.Questions[1].Answer != "client" {
		t.Errorf("%+v", q.Questions)
	}
}

// Both sides in TIME_WAIT (a simultaneous close): the answer is both.
func TestTimeWaitBoth(t *testing.T) {
	t0 := time.Now()
	q := Make([]tracer.Event{
		{Time: t0, Conn: 1, Phase: tracer.PhaseState, State: &tracer.StateChange{Side: "client", From: kernel.Closing, To: kernel.TimeWait}},
		{Time: t0, Conn: 1, Phase: tracer.PhaseState, State: &tracer.StateChange{Side: "server", From: kernel.Closing, To: kernel.TimeWait}},
	})
	if len(q.Questions) != 1 || q.Questions[0].Answer != "both" || q.Questions[0].Check("both sides") != Right {
		t.Errorf("%+v", q.Questions)
	}
}

func TestAskNotInteractive(t *testing.T) {
	q := Make(eventsOf(t, "../inspect/testdata/lesson03.pcapng"))
	var out bytes.Buffer
	if err := Ask(context.Background(), strings.NewReader("never read\n"), &out, q, Options{Width: 80}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for i, qu := range q.Questions {
		for _, want := range []string{strings.Fields(qu.Text)[0], "Answer: " + qu.Answer + "."} {
			if !strings.Contains(got, want) {
				t.Errorf("question %d: output lacks %q:\n%s", i+1, want, got)
			}
		}
		if !strings.Contains(got, "wire   #") {
			t.Errorf("no packet line:\n%s", got)
		}
	}
	if strings.Contains(got, "> ") || strings.Contains(got, "Right:") || strings.Contains(got, "Not quite") || strings.Contains(got, "right.") {
		t.Errorf("asked, not told:\n%s", got)
	}
}

// Answers fed in: right, wrong, skipped, and the input ends at the
// fourth question: the fifth is then shown with its answer.
func TestAskInteractive(t *testing.T) {
	q := Make(eventsOf(t, "../inspect/testdata/lesson03.pcapng"))
	if len(q.Questions) != 5 {
		t.Fatalf("%d questions", len(q.Questions))
	}
	replies := q.Questions[0].Answer + "\n" + "wrong\n" + "\n"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	if err := Ask(ctx, strings.NewReader(replies), &out, q, Options{Interactive: true, Width: 80}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"an empty line skips",
		"Right: " + q.Questions[0].Answer + ".",
		"Not quite: the answer is " + q.Questions[1].Answer + ".",
		"Skipped: the answer is " + q.Questions[2].Answer + ".",
		"Skipped: the answer is " + q.Questions[3].Answer + ".", // the input's end
		"Answer: " + q.Questions[4].Answer + ".",
		"1 of " + string(rune('0'+len(q.Questions))) + " right, " + string(rune('0'+len(q.Questions)-2)) + " skipped.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "> "); n != 4 {
		t.Errorf("%d prompts, want 4 (the fourth finds the input's end):\n%s", n, got)
	}
}

// A reader that blocks: a Ctrl-C while a question waits ends Ask with
// the context's cause.
func TestAskInterrupted(t *testing.T) {
	q := Make(eventsOf(t, "../inspect/testdata/lesson03.pcapng"))
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("interrupted")
	prompted := make(chan struct{})
	out := &syncBuffer{prompted: prompted}
	done := make(chan error, 1)
	go func() { done <- Ask(ctx, pr, out, q, Options{Interactive: true}) }()
	<-prompted
	cancel(stop)
	if err := <-done; !errors.Is(err, stop) {
		t.Errorf("Ask: %v, want %v", err, stop)
	}
	pw.Close() // the reading goroutine ends
}

// syncBuffer, a writer only (no WriteString), closes prompted on its first write that ends in a prompt.
type syncBuffer struct {
	buf      bytes.Buffer
	prompted chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	n, err := b.buf.Write(p)
	if bytes.HasSuffix(p, []byte("> ")) && b.prompted != nil {
		close(b.prompted)
		b.prompted = nil
	}
	return n, err
}

// A FIN ACK that moves the first closer from FIN_WAIT_1 to FIN_WAIT_2
// does so by its ACK: no fin-state question about it.
func TestFinStateNotFinWait2(t *testing.T) {
	q := Make([]tracer.Event{{Time: time.Now(), Conn: 1, Phase: tracer.PhaseState,
		State: &tracer.StateChange{Side: "client", From: kernel.FinWait1, To: kernel.FinWait2, CauseFlags: "FIN ACK"}}})
	if len(q.Questions) != 0 {
		t.Errorf("%+v", q.Questions)
	}
}

// A time with a unit Check does not know is wrong, and Ask says to give
// the unit.
func TestTimeUnknownUnit(t *testing.T) {
	ms := Question{Text: "How long?", Answer: "0.028 ms", number: 0.028, unit: "ms", tol: 0.002}
	if h := ms.Hint("0.028 ticks"); !strings.Contains(h, "give the time with its unit") {
		t.Errorf("hint %q", h)
	}
	if h := ms.Hint("0.028 ms"); h != "" {
		t.Errorf("hint %q", h)
	}
	var out bytes.Buffer
	if err := Ask(context.Background(), strings.NewReader("0.028 ticks\n"), &out, Quiz{Questions: []Question{ms}}, Options{Interactive: true, Width: 300}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `Not quite ("0.028 ticks": give the time with its unit (ms, µs, ns or s); a number alone is read as ms): the answer is 0.028 ms.`) {
		t.Errorf("output:\n%s", out.String())
	}
}

// Every capture of the tests: no panic, and every question takes its
// own answer as right and a blank as skipped.
func TestEveryCapture(t *testing.T) {
	files, _ := filepath.Glob("../inspect/testdata/*.pcap*")
	more, _ := filepath.Glob("../wire/testdata/*.pcap*")
	for _, path := range append(files, more...) {
		for _, c := range connsOf(eventsOf(t, path)) {
			for _, q := range c.questions() {
				if q.Check(q.Answer) != Right || q.Check(" ") != Skipped || q.Event.Packet == nil && q.Event.State == nil {
					t.Errorf("%s #%d %s: answer %q", path, c.id, q.Name, q.Answer)
				}
			}
		}
		if q := Make(eventsOf(t, path)); len(q.Questions) == 0 {
			t.Errorf("%s: no questions: %s", path, q.Why)
		}
	}
}

// A FIN that comes with data takes the number after the data, not the
// segment's seq (tshark: tcp.nxtseq-1), and the Why says so.
func TestFinWithData(t *testing.T) {
	for _, c := range []struct {
		path, answer, why string
	}{
		{"../wire/testdata/zerowindow.pcapng", "12001", "FIN follows 288 bytes of data in this segment, whose seq is 11713: it takes number 12001"},
		{"../wire/testdata/gap.pcapng", "6001", "FIN follows 172 bytes of data in this segment, whose seq is 5829: it takes number 6001"},
		{"../wire/testdata/lossy.pcapng", "12001", "whose seq is 11845: it takes number 12001"},
	} {
		found := false
		for _, q := range connsOf(eventsOf(t, c.path))[0].questions() {
			if q.Name != "client-fin-seq" {
				continue
			}
			found = true
			if q.Answer != c.answer || !strings.Contains(q.Why, c.why) || q.Check(c.answer) != Right {
				t.Errorf("%s: answer %s, why %q; want %s, %q", c.path, q.Answer, q.Why, c.answer, c.why)
			}
		}
		if !found {
			t.Errorf("%s: no client-fin-seq question", c.path)
		}
	}
}

// A segment sent again that Wireshark flags out-of-order, not a
// retransmission (lossy.pcapng: tshark's out_of_order): the Why says so,
// and the segment shown is one Wireshark calls a retransmission.
func TestResentOutOfOrder(t *testing.T) {
	for _, q := range connsOf(eventsOf(t, "../wire/testdata/lossy.pcapng"))[0].questions() {
		if q.Name != "client-resent" {
			continue
		}
		want := "Wireshark flags one of them out-of-order, not a retransmission: it came after later data, but the client had sent this sequence space before"
		if q.Answer != "2" || !strings.Contains(q.Why, want) || !wiresharkRetransmission(q.Event.Packet) || q.clean {
			t.Errorf("answer %s, why %q, shown %v", q.Answer, q.Why, q.Event.Packet.Analysis)
		}
		return
	}
	t.Error("no client-resent question")
}

// On a link, the handshake's segments are counted each at the end that
// sent it (synack.pcapng: the SYNs at the client, the SYN-ACKs at the
// server), and the Why says so.
func TestHandshakeWhyOnLink(t *testing.T) {
	for _, q := range connsOf(eventsOf(t, "../wire/testdata/synack.pcapng"))[0].questions() {
		if q.Name != "handshake-segments" {
			continue
		}
		if !strings.Contains(q.Why, "each counted once, at the end of the link that sent it") || strings.Contains(q.Why, "the client's end") {
			t.Errorf("answer %s, why %q", q.Answer, q.Why)
		}
		return
	}
	t.Error("no handshake-segments question")
}

// One segment sent again, which Wireshark flags out-of-order (as in
// lesson 13): the Why speaks of it alone.
func TestResentOneOutOfOrder(t *testing.T) {
	t0 := time.Now()
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	server := netip.MustParseAddrPort("10.0.0.2:7000")
	seg := func(ms int, at, from, flags string, seq, ack uint32, n int, resent bool, analysis ...string) tracer.Event {
		p := &tracer.Packet{Proto: "tcp", At: at, From: from, Flags: flags, Seq: seq, Ack: ack, Len: n,
			Src: client, Dst: server, To: "server", Resent: resent, Analysis: analysis}
		if from == "server" {
			p.Src, p.Dst, p.To = server, client, "client"
		}
		d := time.Duration(ms) * time.Millisecond
		return tracer.Event{Time: t0.Add(d), Elapsed: d, Actor: "wire", Conn: 1, Phase: tracer.PhasePacket, Packet: p}
	}
	events := []tracer.Event{
		seg(0, "client", "client", "SYN", 0, 0, 0, false),
		seg(1, "server", "server", "SYN ACK", 0, 1, 0, false),
		seg(2, "client", "client", "ACK", 1, 1, 0, false),
		seg(3, "client", "client", "ACK", 1, 1, 100, false),
		seg(4, "client", "client", "ACK", 101, 1, 100, false),
		seg(5, "client", "client", "ACK", 1, 1, 100, true, "out-of-order"),
	}
	for _, q := range connsOf(events)[0].questions() {
		if q.Name != "client-resent" {
			continue
		}
		want := "One segment carries sequence space the client had sent already (Wireshark flags it out-of-order, not a retransmission: it came after later data, but the client had sent this sequence space before) (the client's end of the link, where it was sent):"
		if q.Answer != "1" || q.Why != want {
			t.Errorf("answer %s, why %q", q.Answer, q.Why)
		}
		return
	}
	t.Error("no client-resent question")
}
