package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"tcptour/lessons/internal/lesson"
	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The states of the acceptance, in the order the lesson shows
// them.
var walk = []string{
	"kernel note the server's listening socket: LISTEN",
	"kernel note the client's socket: SYN_SENT",
	"kernel note the client's socket: ESTABLISHED",
	"kernel note the client's socket: FIN_WAIT_1",
	"kernel note the client's socket: FIN_WAIT_2",
	"kernel note the server's socket: CLOSE_WAIT",
	"kernel note the server's socket: LAST_ACK",
	"kernel note the client's socket: TIME_WAIT",
}

// The lesson's link is made in a network namespace of the test's own.
func TestMain(m *testing.M) { lessontest.InLab(m) }

func TestLesson(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lesson needs Linux's socket diagnostics and network namespaces")
	}
	res := lessontest.Run(t, info, run)
	// The walk itself, then each state with what caused it.
	lessontest.Order(t, res.Events, walk...)
	lessontest.Order(t, res.Events,
		"server listen",
		"kernel note the server's listening socket: LISTEN",
		// A full queue: the first client fills it, the second one's
		// SYN is dropped: SYN_SENT until the dial is cancelled.
		"server listen",
		"client connect-done",
		"kernel note the busy server's listening socket: LISTEN",
		"client connect-start",
		"kernel note the client's socket: SYN_SENT",
		"client error operation was canceled",
		"kernel note the client's socket: gone",
		"client close",
		"server close listener",
		// The real connection.
		"client connect-done",
		"server accept",
		"client write I am Chuck Norris!",
		"client read You said",
		"kernel note the client's socket: ESTABLISHED",
		"kernel note the server's socket: ESTABLISHED",
		// The link loses the client's FIN: FIN_WAIT_1, the server
		// still open.
		"link note rule: drop the 1st FIN from the client",
		"client close-write",
		"kernel note the client's socket: FIN_WAIT_1",
		"kernel note the server's socket: ESTABLISHED",
		// Its second copy gets through.
		"server eof",
		"kernel note the server's socket: CLOSE_WAIT",
		"kernel note the client's socket: FIN_WAIT_2",
		// The server forgets to close; the client waits in vain.
		"client error i/o timeout",
		"kernel note the server's socket: CLOSE_WAIT",
		"kernel note the client's socket: FIN_WAIT_2",
		// The link loses the server's FIN: LAST_ACK.
		"link note rule: drop the 1st FIN from the server",
		"server close",
		"kernel note the server's socket: LAST_ACK",
		"kernel note the client's socket: FIN_WAIT_2",
		// Its second copy gets through.
		"client eof",
		"kernel note the server's socket: gone",
		"kernel note the client's socket: TIME_WAIT",
		"kernel note the client's own socket: CLOSE",
		"client close",
		"server close listener",
		"kernel note the server's listening socket: gone",
		"kernel note the client's socket: TIME_WAIT",
	)
	// Each lost FIN went again as a tail loss probe, and the notes say
	// so from the kernel's own counts: the client's through its
	// socket, the server's from the kernel's report of its end.
	probes := 0
	for _, e := range res.Events {
		if e.Actor == "kernel" && strings.Contains(e.Note, "It was a tail loss probe (RFC 8985): TCP_INFO's "+
			"total_retrans went up by 1, total_rto did not.") {
			probes++
		}
	}
	if probes != 2 {
		t.Errorf("%d notes name a tail loss probe, want 2 (the client's FIN, the server's)", probes)
	}
	for _, e := range res.Events {
		if e.Actor == "kernel" && strings.Contains(e.Note, "expected") {
			t.Errorf("the kernel said something the lesson did not expect: %s: %s", e.Text, e.Note)
		}
	}
	// The diagram, with the states visited marked, is in the pretty
	// output only.
	for _, want := range []string{"[LISTEN]", "[SYN_SENT]", "[ESTABLISHED]", "[FIN_WAIT_1]", "[FIN_WAIT_2]",
		"[CLOSE_WAIT]", "[LAST_ACK]", "[TIME_WAIT]", " SYN_RECV ", " CLOSING "} {
		if !strings.Contains(res.Pretty, want) {
			t.Errorf("the diagram lacks %q:\n%s", want, res.Pretty)
		}
	}
	order := "In the order the kernel first reported them: LISTEN (server) → SYN_SENT (client) → ESTABLISHED (client) → " +
		"ESTABLISHED (server) → FIN_WAIT_1 (client) → CLOSE_WAIT (server) → FIN_WAIT_2 (client) → " +
		"LAST_ACK (server) → TIME_WAIT (client)."
	if !strings.Contains(strings.Join(strings.Fields(res.Pretty), " "), order) {
		t.Errorf("the pretty output lacks %q", order)
	}
}

func TestLessonOnTheWire(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lesson needs Linux")
	}
	// The lesson's binary runs in its lab, with its link, root or not.
	ev := lessontest.RunCapture(t, info, run)
	lessontest.Order(t, ev,
		// The first client fills the busy server's queue; the second
		// one's SYN gets nothing back (it reaches the server: the
		// segments at each end are checked below).
		"wire packet SYN client→server len 0 at server",
		"wire packet SYN ACK server→client len 0 at client",
		"wire packet ACK client→server len 0 at server",
		"kernel note the busy server's listening socket: LISTEN",
		"client connect-start",
		"wire packet SYN client→server len 0 at client",
		"kernel note the client's socket: SYN_SENT",
		"kernel note the client's socket: gone",
		// The first client's FIN reaches the queued connection; closing
		// the busy listener resets it.
		"wire packet FIN ACK client→server len 0 at server",
		"server close listener",
		"wire packet RST ACK server→client len 0 at server",
		"wire packet RST ACK server→client len 0 at client",
		// The connection.
		"wire packet SYN client→server len 0 at client",
		"wire packet SYN ACK server→client len 0 at client",
		"wire packet ACK client→server len 0 at server",
		"kernel note the client's socket: ESTABLISHED",
		// The client's FIN, dropped by the link, and sent again.
		"client close-write",
		"wire packet FIN ACK client→server len 0 at client",
		"link note dropped on purpose: the 1st FIN from the client",
		"kernel note the client's socket: FIN_WAIT_1",
		"kernel note the server's socket: ESTABLISHED",
		"wire packet FIN ACK client→server len 0 at client",
		"wire packet FIN ACK client→server len 0 at server",
		"server eof",
		"wire packet ACK server→client len 0 at server",
		"wire packet ACK server→client len 0 at client",
		"kernel note the client's socket: FIN_WAIT_2",
		// The server's FIN, dropped by the link, and sent again; the
		// client's ACK.
		"server close",
		"wire packet FIN ACK server→client len 0 at server",
		"link note dropped on purpose: the 1st FIN from the server",
		"kernel note the server's socket: LAST_ACK",
		"wire packet FIN ACK server→client len 0 at server",
		"wire packet FIN ACK server→client len 0 at client",
		"wire packet ACK client→server len 0 at client",
		"wire packet ACK client→server len 0 at server",
		"kernel note the server's socket: gone",
		"kernel note the client's socket: TIME_WAIT",
	)
	// Per connection and end, the segments in order; and at the
	// sender's end, the time between each FIN and its copy: a tail loss
	// probe's timeout, about 200 ms (two round trips plus 200 ms for a
	// single segment in flight, or the RTO if that is sooner).
	segs := map[string][]string{}
	fins := map[string][]time.Time{}
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" {
			continue
		}
		key := fmt.Sprintf("#%d at %s", e.Conn, p.At)
		segs[key] = append(segs[key], fmt.Sprintf("%s %s→%s", p.Flags, p.From, p.To))
		if strings.Contains(p.Flags, "FIN") && e.Conn == 3 && p.At == p.From {
			fins[p.From] = append(fins[p.From], e.Time)
		}
	}
	for _, at := range []string{"client", "server"} {
		if got := strings.Join(segs["#2 at "+at], ", "); got != "SYN client→server" {
			t.Errorf("the dial to the full queue, at the %s: %s; want one SYN and nothing else", at, got)
		}
	}
	handshake := "SYN client→server, SYN ACK server→client, ACK client→server, PSH ACK client→server, ACK server→client, " +
		"PSH ACK server→client, ACK client→server, "
	for at, want := range map[string]string{
		// The client's end sees its first FIN leave, never the server's.
		"client": handshake + "FIN ACK client→server, FIN ACK client→server, ACK server→client, " +
			"FIN ACK server→client, ACK client→server",
		// The server's end never sees the client's first FIN.
		"server": handshake + "FIN ACK client→server, ACK server→client, " +
			"FIN ACK server→client, FIN ACK server→client, ACK client→server",
	} {
		if got := strings.Join(segs["#3 at "+at], ", "); got != want {
			t.Errorf("connection #3 at the %s:\n\t%s\nwant\n\t%s", at, got, want)
		}
	}
	for side, times := range fins {
		if len(times) != 2 {
			t.Errorf("the %s sent %d FINs, want 2 (one lost, one retransmitted)", side, len(times))
			continue
		}
		if pto := times[1].Sub(times[0]); pto < 150*time.Millisecond || pto > 400*time.Millisecond {
			t.Errorf("the %s's FIN went again after %v, want the loss probe's timeout: about 200 ms", side, pto)
		}
	}
	if len(fins) != 2 {
		t.Errorf("FINs sent on connection #3 by %d ends, want 2", len(fins))
	}
	probes := 0
	for _, e := range ev {
		if e.Actor == "kernel" && strings.Contains(e.Note, "It was a tail loss probe") {
			probes++
		}
	}
	if probes != 2 {
		t.Errorf("%d notes name a tail loss probe, want 2", probes)
	}
	// Each end's kernel counted its own probe.
	for _, at := range []string{"client", "server"} {
		n := 0
		for _, e := range ev {
			if e.Counter != nil && e.Counter.At == at && e.Counter.Name == "TcpExtTCPLossProbes" {
				n += int(e.Counter.Delta)
			}
		}
		if n != 1 {
			t.Errorf("the %s's TcpExtTCPLossProbes went up by %d, want 1", at, n)
		}
	}
}

// At each kernel line the state it reports still holds (the link's
// rules and the lesson's own waits hold it), so ss -tan run then, in the
// namespace of the socket's end, must show the same.
func TestStatesAgreeWithSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lesson needs Linux")
	}
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("ss (iproute2) is not installed: nothing to compare with")
	}
	defer goleak.VerifyNone(t)
	var checked []string
	afterKernel = func(ft tracer.FiveTuple, said kernel.State) {
		out, err := exec.Command(ss, "-tan").Output()
		if err != nil {
			t.Errorf("ss -tan: %v", err)
			return
		}
		row, found := lessontest.SSRowOf(lessontest.SSRows(string(out)), ft)
		switch {
		case said == gone && found:
			t.Errorf("%s: the lesson said gone, ss -tan shows %s", ft, row)
		case said != gone && !found:
			t.Errorf("%s: the lesson said %s, ss -tan shows no such socket", ft, said)
		case said != gone && row.State != ssName(said):
			t.Errorf("%s: the lesson said %s, ss -tan shows %s", ft, said, row.State)
		default:
			checked = append(checked, name(said))
		}
	}
	defer func() { afterKernel = nil }()
	if err := lesson.Exec(context.Background(), info, lesson.Options{JSON: true, Capture: "off", Out: io.Discard}, run); err != nil {
		t.Fatal(err)
	}
	want := []string{"LISTEN", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "no socket"}
	for _, s := range want {
		if !slices.Contains(checked, s) {
			t.Errorf("%s was never compared with ss; compared: %v", s, checked)
		}
	}
	t.Logf("compared with ss -tan: %s", strings.Join(checked, ", "))
}

// ssName is ss's spelling of a state.
func ssName(s kernel.State) string {
	if s == kernel.Established {
		return "ESTAB"
	}
	return strings.ReplaceAll(s.String(), "_", "-")
}

// As nobody the lesson runs in its lab, with its link and its packets;
// without a lab it stops, saying why in one line.
func TestLessonWithoutPrivilege(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lesson needs Linux")
	}
	lessontest.RunUnprivileged(t, info)
}

// Every state of the machine has its place in the diagram, once per
// side at most, and marking keeps the columns where they are.
func TestDiagram(t *testing.T) {
	for _, s := range diagramStates() {
		n := 0
		for _, row := range diagramRows {
			n += strings.Count(row[0]+row[1], "{"+s.String()+"}")
		}
		if n == 0 || (n > 1 && s != kernel.Established) {
			t.Errorf("%s appears %d times in the diagram", s, n)
		}
	}
	var none, all kernelView
	for _, s := range diagramStates() {
		for _, side := range []string{"client", "server"} {
			all.visited = append(all.visited, visit{state: s, side: side})
		}
	}
	plain, marked := none.diagram(nil, 78), all.diagram(nil, 78)
	for _, s := range diagramStates() {
		if strings.Contains(plain, "["+s.String()+"]") {
			t.Errorf("nothing visited, yet %s is marked:\n%s", s, plain)
		}
		if !strings.Contains(marked, "["+s.String()+"]") {
			t.Errorf("all visited, yet %s is not marked:\n%s", s, marked)
		}
	}
	pl, ml := strings.Split(plain, "\n"), strings.Split(marked, "\n")
	for i := range min(len(pl), len(ml)) {
		if strings.HasPrefix(pl[i], "In the order") {
			break
		}
		if utf8.RuneCountInString(strings.TrimRight(pl[i], " ")) > 80 {
			t.Errorf("diagram line %d is wider than 80 columns: %q", i, pl[i])
		}
		// The same line with marks has its arrows in the same columns.
		if a, b := strings.IndexRune(pl[i], '│'), strings.IndexRune(ml[i], '│'); a != b {
			t.Errorf("line %d: marking moved an arrow:\n%s\n%s", i, pl[i], ml[i])
		}
	}
}

// In a narrow terminal the diagram's columns come one below the other,
// each line within the width, every state still marked.
func TestDiagramNarrow(t *testing.T) {
	var all kernelView
	for _, s := range diagramStates() {
		for _, side := range []string{"client", "server"} {
			all.visited = append(all.visited, visit{state: s, side: side})
		}
	}
	for _, width := range []int{58, 76} {
		d := all.diagram(nil, width)
		for i, line := range strings.Split(d, "\n") {
			if n := utf8.RuneCountInString(line); n > width {
				t.Errorf("width %d: line %d is %d wide: %q", width, i+1, n, line)
			}
		}
		client, server := strings.Index(d, "client: connects"), strings.Index(d, "server: listens")
		if client < 0 || server < client || !strings.Contains(d[client:server], "\n\n") {
			t.Errorf("width %d: the client's column is not above the server's:\n%s", width, d)
		}
		for _, s := range diagramStates() {
			if !strings.Contains(d, "["+s.String()+"]") {
				t.Errorf("width %d: %s is not marked:\n%s", width, s, d)
			}
		}
	}
}

// Each line of Go that docs/lessons/11.md quotes ("The key lines") is
// in the lesson's source, as quoted.
func TestDocQuotesTheSource(t *testing.T) { lessontest.DocQuotesSource(t, "11") }

// The diagram marks SYN_RECV exactly when a STATE line reported the
// server's socket in it: live, as root with tracefs, and never when
// the states are only asked for (it lasts microseconds).
func TestDiagramMarksSynRecvWhenReported(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lesson needs Linux")
	}
	var out bytes.Buffer
	if err := lesson.Exec(context.Background(), info, lesson.Options{NoColor: true, Out: &out, Stderr: io.Discard}, run); err != nil {
		t.Fatal(err)
	}
	reported := regexp.MustCompile(`kernel #3  STATE +server LISTEN → SYN_RECV`).MatchString(out.String())
	// The diagram's row, not the ladder's.
	marked := regexp.MustCompile(`\[ESTABLISHED\] +\[SYN_RECV\]`).MatchString(out.String())
	t.Logf("SYN_RECV reported by a STATE line: %v; marked: %v", reported, marked)
	if reported != marked {
		t.Errorf("a STATE line reported SYN_RECV: %v; the diagram marks it: %v\n%s", reported, marked, out.String())
	}
	if order := strings.Contains(strings.Join(strings.Fields(out.String()), " "), "→ SYN_RECV (server) →"); order != reported {
		t.Errorf("the order of states lists SYN_RECV: %v, want %v", order, reported)
	}
}

// A STATE line about a socket the notes are about marks its state; one
// about another socket does not.
func TestDiagramFromStateLines(t *testing.T) {
	s := tracer.FiveTuple{Proto: "tcp", Local: netip.MustParseAddrPort("127.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("127.0.0.1:50000")}
	other := tracer.FiveTuple{Proto: "tcp", Local: netip.MustParseAddrPort("127.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("127.0.0.1:50001")}
	t0 := time.Now()
	k := kernelView{visited: []visit{{kernel.Established, "server", s, t0.Add(time.Millisecond)}}}
	state := func(ft tracer.FiveTuple, from, to kernel.State, at time.Time) tracer.Event {
		return tracer.Event{Phase: tracer.PhaseState, Time: at, Proto: ft.Proto, Local: ft.Local, Remote: ft.Remote,
			State: &tracer.StateChange{Side: "server", From: from, To: to}}
	}
	d := k.diagram([]tracer.Event{
		state(s, kernel.Listen, kernel.SynRecv, t0),
		state(other, kernel.Established, kernel.CloseWait, t0),
		state(s, kernel.LastAck, kernel.Close, t0.Add(2*time.Millisecond)),
	}, 78)
	if !strings.Contains(d, "[SYN_RECV]") || strings.Contains(d, "[CLOSE_WAIT]") {
		t.Errorf("SYN_RECV should be marked, CLOSE_WAIT (another socket's) not:\n%s", d)
	}
	if want := "SYN_RECV (server) → ESTABLISHED (server)."; !strings.Contains(strings.Join(strings.Fields(d), " "), want) {
		t.Errorf("the order lacks %q:\n%s", want, d)
	}
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	lessontest.RunNarrow(t, 60)
}
