package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The lesson's link is made in a network namespace of the test's own.
// The lesson starts its client program as this binary again, with
// clientEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) != "" {
		os.Exit(client())
	}
	lessontest.InLab(m)
}

// strayRST is a counter of RSTs, sent or received, in a step other
// than 2 (whose RST, the answer to the IPv6 SYN, the lesson is about,
// and TestLessonOnTheWire checks): now and then the server's kernel
// sends one more by step 4 (seen once as nobody in CI, capture off),
// as lesson 17's does. Its cause was not caught on the wire.
var strayRST = regexp.MustCompile(`(?m)^[134] kernel -   counter +(client|server)'s Tcp(Out|In)Rsts \+\d+\n(?: {6}.*\n)*`)

// normalize leaves out the stray RSTs' counters, and the resends of a
// loaded machine (lessontest.DropResends).
func normalize(s string) string { return lessontest.DropResends(strayRST.ReplaceAllString(s, "")) }

func TestLesson(t *testing.T) {
	if lessontest.Alone(t) {
		return
	}
	res := lessontest.RunGoldenWith(t, info, run, "trace.golden", normalize)
	lessontest.Order(t, res.Events,
		"lab note lab DNS server on udp 192.0.2.2:53",
		`server note "tcp": an IPv6 socket (AF_INET6) with IPV6_V6ONLY 0`,
		"client connect-start [2001:db8::2]",
		"client connect-done [2001:db8::1]",
		"client note IPv6 at both ends",
		"client connect-start 192.0.2.2",
		"client note the server's IPv6 socket sees ::ffff:192.0.2.1",
		`server note "tcp4": an IPv4 socket (AF_INET)`,
		"client connect-start [2001:db8::2]",
		"client connect-start 192.0.2.2",
		"client note the dialer tried tcp6",
		"client note IPv4 at both ends",
		"link note rule: drop every IPv6 SYN from the client",
		"client connect-start [2001:db8::2]",
		"link note dropped on purpose",
		"client connect-start 192.0.2.2",
		"client note the dialer tried tcp6",
		"link note rules: none",
		`client note Dial("tcp6", "v4.link.test`,
		`server note "tcp6": an IPv6 socket (AF_INET6) with IPV6_V6ONLY 1`,
		"kernel note the server's listeners",
	)
}

// syn is a SYN of the client's as it left the client's end.
type syn struct {
	at   time.Time
	conn int
	ipv6 bool
	step int
}

// clientSYNs lists the SYNs (not SYN-ACKs) that left the client, and
// the RSTs that reached it, in time order.
func clientSYNs(ev []tracer.Event) (syns []syn, rsts []tracer.Event) {
	for _, e := range ev {
		p := e.Packet
		if p == nil || p.Proto != "tcp" || p.At != "client" {
			continue
		}
		switch {
		case p.From == "client" && p.Flags == "SYN":
			syns = append(syns, syn{at: e.Time, conn: e.Conn, ipv6: p.Src.Addr().Is6(), step: e.Step})
		case p.From == "server" && strings.HasPrefix(p.Flags, "RST"):
			rsts = append(rsts, e)
		}
	}
	return syns, rsts
}

// The capture shows what the notes say: in step 1, an IPv6 SYN; in
// step 2, an IPv6 SYN answered with RST, and the IPv4 SYN within a few
// milliseconds of that RST (not the fallback delay); in step 3, the
// IPv6 SYN dropped by the link and the IPv4 SYN at least the fallback
// delay later; in step 4 no SYN at all.
func TestLessonOnTheWire(t *testing.T) {
	t.Parallel()
	ev, pcap := lessontest.RunCaptureFile(t, info, run)
	tryThisTshark(t, pcap)
	// Step 1's lookup: both queries and both answers, captured at both
	// ends of the link (the lab DNS server is at the server's end).
	dns := map[string]bool{}
	for _, e := range ev {
		if p := e.Packet; p != nil && p.Proto == "udp" && e.Step == 1 {
			dns[p.At+" "+p.DNS] = true
		}
	}
	for _, at := range []string{"client", "server"} {
		for _, want := range []string{"query AAAA dual.link.test", "query A dual.link.test",
			"answer AAAA dual.link.test 2001:db8::2", "answer A dual.link.test 192.0.2.2"} {
			if !dns[at+" "+want] {
				t.Errorf("step 1: no %q at the %s's end: %v", want, at, dns)
			}
		}
	}
	syns, rsts := clientSYNs(ev)
	byStep := map[int][]syn{}
	for _, s := range syns {
		byStep[s.step] = append(byStep[s.step], s)
	}
	if s := byStep[1]; len(s) != 2 || !s[0].ipv6 || s[1].ipv6 {
		t.Errorf("step 1: want an IPv6 SYN (tcp) then an IPv4 one (tcp4), got %+v", s)
	}
	s2 := byStep[2]
	if len(s2) != 2 || !s2[0].ipv6 || s2[1].ipv6 {
		t.Fatalf("step 2: want an IPv6 SYN then an IPv4 one, got %+v", s2)
	}
	if len(rsts) != 1 || rsts[0].Conn != s2[0].conn {
		t.Fatalf("want one RST, to step 2's IPv6 SYN, got %d", len(rsts))
	}
	if gap := s2[1].at.Sub(rsts[0].Time); gap < 0 || gap > 100*time.Millisecond {
		t.Errorf("step 2: the IPv4 SYN left %v after the RST reached the client, want at once (well under the fallback delay)", gap)
	}
	// The kernels counted the refused connect and the RST.
	var counted []string
	for _, e := range ev {
		if e.Phase == tracer.PhaseCounter && e.Step == 2 {
			counted = append(counted, tracer.Detail(e))
		}
	}
	for _, want := range []string{"client's TcpAttemptFails +1", "server's TcpOutRsts +1"} {
		if !slices.Contains(counted, want) {
			t.Errorf("step 2: no %q among the counters: %q", want, counted)
		}
	}
	s3 := byStep[3]
	if len(s3) != 2 || !s3[0].ipv6 || s3[1].ipv6 {
		t.Fatalf("step 3: want one IPv6 SYN (the dialer closes it before its kernel sends it again, 1 s later), then the IPv4 one, got %+v", s3)
	}
	// The dialer's timer starts as it begins the IPv6 attempt, before
	// that attempt's socket is made and its SYN sent (under a
	// millisecond before on an idle machine, 13 ms once beside other
	// tests): so the IPv4 SYN leaves at least the delay after the step
	// began, and about the delay after the IPv6 SYN, well before that
	// SYN would be sent again (1 s).
	var began time.Time
	for _, e := range ev {
		if e.Phase == tracer.PhaseStep && e.Step == 3 {
			began = e.Time
		}
	}
	if since := s3[1].at.Sub(began); began.IsZero() || since < fallbackDelay {
		t.Errorf("step 3: the IPv4 SYN left %v after the step began, want at least the fallback delay, %v", since, fallbackDelay)
	}
	if gap := s3[1].at.Sub(s3[0].at); gap < fallbackDelay/2 || gap > fallbackDelay+200*time.Millisecond {
		t.Errorf("step 3: the IPv4 SYN left %v after the IPv6 one, want about the fallback delay, %v", gap, fallbackDelay)
	}
	dropped := 0
	for _, e := range ev {
		if e.Actor == "link" && e.Conn == s3[0].conn && strings.Contains(e.Text, "dropped") {
			dropped++
		}
	}
	if dropped == 0 {
		t.Error("step 3: the link dropped no IPv6 SYN")
	}
	// The IPv6 SYN never reached the server.
	for _, e := range ev {
		if p := e.Packet; p != nil && e.Conn == s3[0].conn && p.At == "server" {
			t.Errorf("step 3: a segment of the blackholed IPv6 attempt reached the server: %s", p.Flags)
		}
	}
	if s := byStep[4]; len(s) != 0 {
		t.Errorf("step 4: Dial tcp6 to an IPv4-only name sent %d SYNs, want none", len(s))
	}
	// The kernel's states of the IPv6 connection: asked in each end's
	// namespace (root follows every change, nobody finds them when
	// asked), they name states the sockets were in, at the server's
	// end at least.
	seen := map[kernel.State]bool{}
	for _, e := range ev {
		if e.Phase == tracer.PhaseState && e.State != nil && e.Conn == byStep[1][0].conn && e.State.Side == "server" {
			seen[e.State.From], seen[e.State.To] = true, true
		}
	}
	if !seen[kernel.Established] && !seen[kernel.CloseWait] && !seen[kernel.LastAck] {
		t.Errorf("the kernel's states of the IPv6 connection of step 1 at the server: %v, want ESTABLISHED, CLOSE_WAIT or LAST_ACK among them", seen)
	}
	// Where the kernel reports each change (root), the client's end,
	// which closed first, ends in TIME_WAIT, as an IPv4 one does.
	reported, timeWait := false, false
	for _, e := range ev {
		if e.Phase == tracer.PhaseState && e.State != nil && e.Conn == byStep[1][0].conn && e.State.Side == "client" {
			reported = reported || !e.State.Asked
			timeWait = timeWait || e.State.To == kernel.TimeWait
		}
	}
	if reported && !timeWait {
		t.Error("the client's end of the IPv6 connection of step 1 did not reach TIME_WAIT in the trace")
	}
}

// Try this: the tshark command lists the client's SYNs with their
// families; in step 3 the IPv4 SYN comes at least 300 ms after the
// IPv6 one.
func tryThisTshark(t *testing.T, pcap string) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed: the Try this command is checked where it is")
		return
	}
	out, err := exec.Command(tshark, "-r", pcap, "-Y", `frame.interface_name == "client" && tcp.flags.syn == 1 && tcp.flags.ack == 0`,
		"-T", "fields", "-e", "frame.time_relative", "-e", "ipv6.dst", "-e", "ip.dst").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type row struct {
		at   float64
		ipv6 bool
	}
	var rows []row
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("tshark line %q: want 3 fields", l)
		}
		at, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		if (f[1] == "") == (f[2] == "") {
			t.Fatalf("tshark line %q: want one destination, IPv6 or IPv4", l)
		}
		rows = append(rows, row{at, f[1] != ""})
	}
	// Steps 1 to 3: IPv6 then IPv4, three times.
	if len(rows) != 6 {
		t.Fatalf("tshark lists %d SYNs of the client's, want 6:\n%s", len(rows), out)
	}
	for i := 0; i < 6; i += 2 {
		if !rows[i].ipv6 || rows[i+1].ipv6 {
			t.Errorf("SYNs %d and %d: want IPv6 then IPv4:\n%s", i+1, i+2, out)
		}
	}
	// About the delay (TestLessonOnTheWire has the exact bound, from
	// the step's start): not at once, as in step 2.
	if gap := rows[5].at - rows[4].at; gap < (fallbackDelay / 2).Seconds() {
		t.Errorf("step 3's IPv4 SYN came %.3f s after the IPv6 one, want about %v", gap, fallbackDelay)
	}
}

func TestDocQuotesTheSource(t *testing.T) { lessontest.DocQuotesSource(t, "16") }

// Without permission to capture (the lab refused), the lesson says so
// and still runs.
func TestLessonWithoutCapturePermission(t *testing.T) {
	t.Parallel()
	lessontest.RunUnprivileged(t, info)
}

// In a terminal 60 columns wide no note, step text, recap or Try this
// line is wider than the terminal.
func TestNarrowTerminal(t *testing.T) {
	t.Parallel()
	lessontest.RunNarrow(t, 60)
}

// normalize drops a stray RST's counter and its note, and keeps step
// 2's, which the lesson is about.
func TestNormalizeDropsStrayRST(t *testing.T) {
	step2 := "2 kernel -   counter       server's TcpOutRsts +1\n      The server's kernel counts segments with RST sent.\n"
	stray := "4 kernel -   counter       server's TcpOutRsts +1\n      The server's kernel counts segments with RST sent.\n"
	listen := "4 server -   listen        tcp [::]:PORT (asked for [::]:0)\n"
	if got, want := normalize(step2+stray+listen), step2+listen; got != want {
		t.Errorf("normalize gave\n%s\nwant\n%s", got, want)
	}
}
