// Package lessontest runs a lesson inside a test and compares its trace
// with a golden file, so that every lesson is run by `go test ./...`.
//
// The golden file, testdata/trace.golden in the lesson's folder, lists
// each event of the JSON trace with its note, with ports, durations and
// times replaced by placeholders. Within a step the events are grouped
// by actor and connection, in their order: the order between two actors
// or two connections within a step can change from run to run (a
// client's connect and a server's Accept return at about the same time),
// the order of one actor's events on one connection cannot.
//
// Regenerate the golden files after a deliberate change with
//
//	UPDATE_GOLDEN=1 go test ./lessons/...
//
// and read the diff: it is the change in what the lesson teaches.
package lessontest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
)

// Result is what a lesson printed in one test run.
type Result struct {
	Events []tracer.Event // the JSON trace, in the order printed
	Pretty string         // the pretty output of a second run, without colour
}

// Run runs the lesson twice, once with --json and once pretty, checks
// that the JSON output is nothing but JSON lines, compares the trace with
// testdata/trace.golden and checks that no goroutine is left behind.
func Run(t *testing.T, l lesson.Lesson, body func(*lesson.Run) error) Result {
	t.Helper()
	return RunGolden(t, l, body, "trace.golden")
}

// RunGolden is Run comparing the trace with testdata/name, for a lesson
// whose trace depends on the privileges of the run: each variant has its
// own golden file, and a run compares with (or, with UPDATE_GOLDEN,
// rewrites) only the one its privileges describe.
func RunGolden(t *testing.T, l lesson.Lesson, body func(*lesson.Run) error, name string) Result {
	t.Helper()
	return RunGoldenWith(t, l, body, name, nil)
}

// RunGoldenWith is RunGolden for a lesson whose trace holds figures
// that vary from run to run beyond what Normalize replaces (how the
// kernel spread connections between listeners): normalize, when not
// nil, rewrites the golden form of the trace before the comparison.
func RunGoldenWith(t *testing.T, l lesson.Lesson, body func(*lesson.Run) error, name string, normalize func(string) string) Result {
	t.Helper()
	if l.Link != nil {
		needLab(t)
	}
	defer goleak.VerifyNone(t)

	var out bytes.Buffer
	if err := lesson.Exec(context.Background(), l, lesson.Options{JSON: true, Capture: "off", Out: &out}, body); err != nil {
		t.Fatalf("lesson %s --json: %v", l.Number, err)
	}
	var res Result
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e tracer.Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("--json line %d is not an event: %v\n%s", n, err, sc.Text())
		}
		if e.Phase == "" || e.Actor == "" || e.Time.IsZero() || e.Seq == 0 {
			t.Errorf("--json line %d lacks phase, actor, time or seq: %s", n, sc.Text())
		}
		res.Events = append(res.Events, e)
	}
	// Printed in time order within each flush; across flushes an event
	// whose hook ran late can come after a later one.
	slices.SortStableFunc(res.Events, func(a, b tracer.Event) int { return a.Time.Compare(b.Time) })
	if len(res.Events) == 0 {
		t.Fatalf("lesson %s --json printed no events", l.Number)
	}
	golden := Golden(res.Events)
	if normalize != nil {
		golden = normalize(golden)
	}
	compareGolden(t, filepath.Join("testdata", name), golden)

	var pretty bytes.Buffer
	if err := lesson.Exec(context.Background(), l, lesson.Options{NoColor: true, Capture: "off", Out: &pretty}, body); err != nil {
		t.Fatalf("lesson %s: %v", l.Number, err)
	}
	res.Pretty = pretty.String()
	for _, want := range []string{"tcptour · lesson " + l.Number, "Step 1 of", "Recap", "Try this"} {
		if !strings.Contains(res.Pretty, want) {
			t.Errorf("pretty output lacks %q", want)
		}
	}
	if strings.Contains(res.Pretty, "\x1b[") {
		t.Errorf("pretty output with NoColor has escape codes")
	}
	return res
}

// Golden renders events in the golden file's form. It leaves out the
// changes of TCP state: whether the kernel reports them as they happen
// or they are found when asked depends on the privileges of the run
// (see wire.States); tests assert them where they are known. It leaves
// out the samples of TCP_INFO too: how many, and their values, vary
// from run to run.
func Golden(events []tracer.Event) string {
	byStep := map[int][]tracer.Event{}
	var steps []int
	for _, e := range events {
		if e.Phase == tracer.PhaseState || e.Phase == tracer.PhaseSample {
			continue
		}
		if _, ok := byStep[e.Step]; !ok {
			steps = append(steps, e.Step)
		}
		byStep[e.Step] = append(byStep[e.Step], e)
	}
	var b strings.Builder
	for _, s := range steps {
		ev := byStep[s]
		// The step heading first, then each actor's events in order.
		slices.SortStableFunc(ev, func(a, b tracer.Event) int {
			ka, kb := sortKey(a), sortKey(b)
			return strings.Compare(ka, kb)
		})
		for _, e := range ev {
			conn := "-"
			if e.Conn != 0 {
				conn = fmt.Sprintf("#%d", e.Conn)
			}
			fmt.Fprintf(&b, "%d %-6s %-3s %-13s %s\n", e.Step, e.Actor, conn, e.Phase, Normalize(detail(e)))
			if e.Note != "" {
				fmt.Fprintf(&b, "      %s\n", Normalize(e.Note))
			}
		}
	}
	return b.String()
}

func sortKey(e tracer.Event) string {
	switch e.Phase {
	case tracer.PhaseLesson:
		return "0"
	case tracer.PhaseStep:
		return "1"
	}
	// One actor's events on one connection keep their order; two
	// connections handled by two goroutines need not.
	return fmt.Sprintf("2%s\x00%06d", e.Actor, e.Conn)
}

// detail is the part of an event the golden file keeps, beside its
// phase: what the event is about, without timings.
func detail(e tracer.Event) string {
	switch e.Phase {
	case tracer.PhaseDNSDone:
		if e.Err != "" {
			return fmt.Sprintf("%s: %s", e.Name, e.Err)
		}
		return fmt.Sprintf("%s → %v via %v", e.Name, e.Addrs, e.DNSServers)
	case tracer.PhaseClose:
		if !e.Remote.IsValid() {
			return "listener " + e.Local.String()
		}
		return fmt.Sprintf("%s in %d out %d peer_closed=%v", e.Tuple(), e.BytesIn, e.BytesOut, e.PeerClosed)
	case tracer.PhaseLesson, tracer.PhaseStep:
		return e.Text
	}
	return tracer.Detail(e)
}

var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	// Ports the kernel chooses are ephemeral: five digits on Linux
	// (32768–60999 by default). Fixed ports such as 6969 stay.
	{regexp.MustCompile(`((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:.]+\]):\d{5}\b`), "$1:PORT"},
	{regexp.MustCompile(`\b(port|chose) \d{5}\b`), "$1 PORT"},
	{regexp.MustCompile(`\b\d+(\.\d+)? (ms|s)\b`), "T"},
}

// resendCounter is a counter of segments sent again, or of the timers,
// probes and recoveries that send them, with its note, in the golden
// form of a trace.
var resendCounter = regexp.MustCompile(`(?m)^\d+ kernel -   counter +(client|server)'s ` +
	`(TcpRetransSegs|TcpExtTCPSynRetrans|TcpExtTCPLossProbes|TcpExtTCPTimeouts|TcpExtTCPFastRetrans|TcpExtTCPSackRecovery|TcpExtTCPDSACKRecv|TcpExtTCPSpuriousRTOs) \+\d+\n(?: {6}.*\n)*`)

// DropResends is a normalize function for RunGoldenWith, for a lesson
// on a link that resends nothing by design: it leaves out the counters
// of resends. On a loaded machine the link's goroutines now and then
// run late enough for a sender's probe timer to fire (a tail loss
// probe: lesson 17's server once, beside two busy CPUs), and the lesson
// rightly shows it; the golden file is the run without it.
func DropResends(s string) string { return resendCounter.ReplaceAllString(s, "") }

// Normalize replaces ephemeral ports and durations with PORT and T.
func Normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run UPDATE_GOLDEN=1 go test ./lessons/... to create it)", err)
	}
	if got != string(want) {
		t.Errorf("trace differs from %s (UPDATE_GOLDEN=1 go test ./lessons/... rewrites it):\n%s", path, diff(string(want), got))
	}
}

// diff shows the first line where want and got differ, then the lines
// only one of them has, with their line numbers (at most diffMax of
// each), so that a line that moved, to another step say, shows on both
// sides, and one that is missing on one side only.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
			break
		}
	}
	only := func(title, sign string, lines, other []string) {
		left := map[string]int{}
		for _, l := range other {
			left[l]++
		}
		n := 0
		for i, l := range lines {
			if left[l] > 0 {
				left[l]--
				continue
			}
			if n == 0 {
				b.WriteString(title)
			}
			if n == diffMax {
				fmt.Fprintf(&b, "%s …\n", sign)
				return
			}
			fmt.Fprintf(&b, "%s %d: %s\n", sign, i+1, l)
			n++
		}
	}
	only("only in the golden file:\n", "-", w, g)
	only("only in this run:\n", "+", g, w)
	return strings.TrimSuffix(b.String(), "\n")
}

// diffMax is how many lines diff shows of those only one side has.
const diffMax = 20

// Order checks that the events matching each of the patterns appear in
// the events in that order. A pattern is "actor phase" or "actor phase
// detail-substring"; a packet's detail is "FLAGS from→to len N DNS",
// e.g. "wire packet SYN client→server", and on a link "at END" after
// it.
func Order(t *testing.T, events []tracer.Event, patterns ...string) {
	t.Helper()
	i := 0
	for _, p := range patterns {
		f := strings.SplitN(p, " ", 3)
		found := false
		for ; i < len(events); i++ {
			e := events[i]
			if e.Actor == f[0] && string(e.Phase) == f[1] && (len(f) < 3 || strings.Contains(orderDetail(e), f[2])) {
				found = true
				i++
				break
			}
		}
		if !found {
			t.Fatalf("no %q after the events matched before it; events:\n%s", p, Golden(events))
		}
	}
}

func orderDetail(e tracer.Event) string {
	if p := e.Packet; p != nil {
		d := fmt.Sprintf("%s %s→%s len %d %s", p.Flags, p.From, p.To, p.Len, p.DNS)
		if p.At != "" {
			d = strings.TrimSpace(d) + " at " + p.At // on a link: "… len 0 at client"
		}
		return d
	}
	return tracer.Detail(e)
}

// RunCapture runs the lesson with packet capture on and --pcap, and
// returns the trace; it skips the test where capture is not permitted.
// It checks that the pcap file holds exactly the packets the trace
// showed, that it is mode 0600, and, where tshark is installed, that
// tshark reads the same number of packets.
func RunCapture(t *testing.T, l lesson.Lesson, body func(*lesson.Run) error) []tracer.Event {
	t.Helper()
	events, _ := RunCaptureFile(t, l, body)
	return events
}

// RunCaptureFile is RunCapture, and returns the pcapng file's path too
// (in a directory removed at the end of the test). The same run writes
// the lesson's --html page, which CheckPage checks, in Chromium where
// there is one.
func RunCaptureFile(t *testing.T, l lesson.Lesson, body func(*lesson.Run) error) ([]tracer.Event, string) {
	t.Helper()
	// The lesson's own binary, as a learner runs it: in a lab of its
	// own, where the user may capture, root or not.
	bin := Build(t)
	dir := NobodyDir(t)
	pcap, html := filepath.Join(dir, "lesson.pcapng"), filepath.Join(dir, "lesson.html")
	cmd := exec.Command(bin, "--json", "--capture=on", "--pcap", pcap, "--html", html)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "no lab here") && strings.Contains(stderr.String(), "capture needs root") {
			t.Skipf("no lab here and no permission to capture on the host: %s", stderr.String())
		}
		t.Fatalf("lesson %s --capture=on: %v\n%s", l.Number, err, stderr.String())
	}
	var events []tracer.Event
	packets := 0
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var e tracer.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if e.Phase == tracer.PhasePacket {
			packets++
		}
		events = append(events, e)
	}
	slices.SortStableFunc(events, func(a, b tracer.Event) int { return a.Time.Compare(b.Time) })
	StatesFollowPackets(t, events)
	saved, err := capture.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != packets || packets == 0 {
		t.Errorf("the pcap file holds %d packets, the trace showed %d", len(saved), packets)
	}
	if fi, err := os.Stat(pcap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pcap file mode: %v %v, want 0600", fi.Mode(), err)
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		lines, err := exec.Command(tshark, "-r", pcap).Output()
		if err != nil {
			t.Fatalf("tshark -r: %v", err)
		}
		if n := bytes.Count(lines, []byte("\n")); n != packets {
			t.Errorf("tshark lists %d packets, the trace %d", n, packets)
		}
	} else {
		t.Log("tshark not installed: the file was checked with gopacket's reader only")
	}
	CheckPage(t, l.Number, html, pcap, events)
	return events, pcap
}

// StatesFollowPackets checks that no change of state is shown before the
// segment that makes it: a socket enters CLOSE_WAIT, CLOSING or TIME_WAIT
// only after its peer's FIN arrived, FIN_WAIT_2 (unless kept by the
// kernel after its program let go) only after the ACK of its own FIN
// was sent, and none of them before the socket's own FIN for TIME_WAIT.
// events are in time order.
func StatesFollowPackets(t *testing.T, events []tracer.Event) {
	t.Helper()
	type sock = [2]netip.AddrPort
	finIn := map[sock]bool{}  // the socket received its peer's FIN
	finOut := map[sock]bool{} // the socket sent its FIN
	for _, e := range events {
		if p := e.Packet; p != nil && p.Proto == "tcp" && strings.Contains(p.Flags, "FIN") {
			finIn[sock{p.Dst, p.Src}] = true
			finOut[sock{p.Src, p.Dst}] = true
			continue
		}
		c := e.State
		if e.Phase != tracer.PhaseState || c == nil || !e.Remote.IsValid() {
			continue
		}
		k := sock{e.Local, e.Remote}
		switch c.To {
		case kernel.CloseWait, kernel.Closing:
			if !finIn[k] {
				t.Errorf("%s %s → %s at +%v, before the peer's FIN arrived", c.Side, c.From, c.To, e.Elapsed)
			}
		case kernel.TimeWait:
			if !finIn[k] || !finOut[k] {
				t.Errorf("%s %s → %s at +%v, before both FINs were on the wire", c.Side, c.From, c.To, e.Elapsed)
			}
		}
	}
}

// RunUnprivileged builds the lesson in the current directory and, when
// the tests run as root, runs it as the unprivileged user nobody (uid
// 65534), as most learners run it: in a lab of its own, made in a user
// namespace, it must show its packets as a root run does, with nothing
// on stderr. Then it makes the lab unavailable (a user namespace whose
// limits forbid more namespaces) and checks the fallback: one line
// naming the cause and the fix, the lesson on the host's loopback, and
// the line saying why there are no packets; for a lesson on a link, the
// one line, then its loopback part (Lesson.OnLoopback) or nothing.
// Elsewhere it skips.
func RunUnprivileged(t *testing.T, l lesson.Lesson) {
	t.Helper()
	if !root() {
		t.Skip("needs root to run the lesson as another user")
	}
	bin := Build(t) // in a directory nobody may enter
	run := func(cmd *exec.Cmd) (stdout, stderr string) {
		t.Helper()
		var out, errb bytes.Buffer
		cmd.Dir = filepath.Dir(bin)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("lesson %s as nobody: %v\nstderr: %s", l.Number, err, errb.String())
		}
		if !strings.Contains(out.String(), "Step 1 of") || !strings.Contains(out.String(), "Recap") {
			t.Errorf("no lesson output as nobody:\n%s", out.String())
		}
		return out.String(), errb.String()
	}

	stdout, stderr := run(AsNobody(exec.Command(bin, "--no-color")))
	if stderr != "" {
		t.Errorf("as nobody, in the lab, stderr should be empty, got:\n%s", stderr)
	}
	if !strings.Contains(stdout, "wire   #") || !strings.Contains(stdout, "a network of the lesson's own") {
		t.Errorf("as nobody, in the lab, no packets or no word of the lab:\n%s", stdout)
	}

	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Log("no unshare here: the fallback without a lab is not checked")
		return
	}
	noLab := AsNobody(exec.Command(unshare, "-U", "-r", "sh", "-c",
		`echo 0 >/proc/sys/user/max_user_namespaces && echo 0 >/proc/sys/user/max_net_namespaces && exec "$0" --no-color`, bin))
	if l.Link != nil && l.OnLoopback != nil {
		// A lesson on a link that can show something on the
		// loopback says why in one line, then shows it.
		var out, errb bytes.Buffer
		noLab.Dir = filepath.Dir(bin)
		noLab.Stdout, noLab.Stderr = &out, &errb
		err := noLab.Run()
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if err != nil || len(lines) != 1 || !strings.Contains(lines[0], "no lab here: ") || !strings.Contains(lines[0], "this lesson needs its lab") ||
			!strings.HasSuffix(lines[0], "what it can show on this machine's loopback follows") {
			t.Errorf("without a lab, a lesson on a link with a loopback part should say why in one line and go on; got %v and:\n%s", err, errb.String())
		}
		if out.Len() == 0 || strings.Contains(out.String(), "Step 1 of") {
			t.Errorf("without a lab, a lesson on a link with a loopback part should show that part alone; it printed:\n%s", out.String())
		}
		return
	}
	if l.Link != nil {
		// A lesson on a link without a loopback part says why in one
		// line and stops.
		var out, errb bytes.Buffer
		noLab.Dir = filepath.Dir(bin)
		noLab.Stdout, noLab.Stderr = &out, &errb
		err := noLab.Run()
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "no lab here: ") || !strings.Contains(lines[0], "this lesson needs its lab") {
			t.Errorf("without a lab, a lesson on a link should stop, saying why in one line; got %v and:\n%s", err, errb.String())
		}
		if out.Len() != 0 {
			t.Errorf("without a lab, a lesson on a link printed:\n%s", out.String())
		}
		return
	}
	stdout, stderr = run(noLab)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "no lab here: ") || !strings.Contains(lines[0], "sudo sysctl -w user.max_net_namespaces") ||
		!strings.Contains(lines[0], "going on on this machine's loopback") ||
		!strings.Contains(lines[1], "capture needs root or CAP_NET_RAW") || !strings.Contains(lines[1], "going on without packets") {
		t.Errorf("without a lab, stderr should say why in one line, then why there are no packets; got:\n%s", stderr)
	}
	if strings.Contains(stdout, "wire   #") || strings.Contains(stdout, "a network of the lesson's own") {
		t.Errorf("without a lab: packets or a lab shown:\n%s", stdout)
	}
}

// RunInterrupted builds the lesson and runs it with --hold and --pcap
// (capture when permitted), waits until it holds, interrupts it with
// SIGINT and checks that it exits with 130, says it was interrupted,
// leaves a complete pcap file that gopacket's reader and, where
// installed, tshark read, and leaves nothing listening.
func RunInterrupted(t *testing.T, l lesson.Lesson) {
	t.Helper()
	bin := Build(t)
	pcap := filepath.Join(t.TempDir(), "lesson.pcapng")
	args := []string{"--hold", "--no-color", "--pcap", pcap}
	capturing := true
	if c, err := capture.Open(capture.Config{}); err != nil {
		t.Logf("no capture here (%v): checking the interruption without packets", err)
		args, capturing = []string{"--hold", "--no-color", "--capture=off"}, false
	} else if _, err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read until the lesson says it holds, and where it listens.
	var out bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(stdout, &out))
	holdRe := regexp.MustCompile(`holding: the lesson's server listens on (\S+) until Ctrl-C`)
	var addr string
	for addr == "" && sc.Scan() {
		if m := holdRe.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the lesson never held:\n%s\n%s", out.String(), stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	out.Write(rest)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted by SIGINT") {
		t.Errorf("stderr does not say it was interrupted: %q", stderr.String())
	}
	if !strings.Contains(out.String(), "Recap") {
		t.Errorf("a held lesson should finish its output after Ctrl-C:\n%s", out.String())
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("something still listens on %s after the lesson exited", addr)
	}
	if !capturing {
		return
	}
	pkts, err := capture.ReadFile(pcap)
	if err != nil || len(pkts) == 0 {
		t.Fatalf("pcap after Ctrl-C: %d packets, %v", len(pkts), err)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("Captured %d packets", len(pkts))) {
		t.Errorf("the file has %d packets; the lesson said otherwise:\n%s", len(pkts), out.String())
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		lines, err := exec.Command(tshark, "-r", pcap).Output()
		if err != nil {
			t.Fatalf("tshark -r: %v", err)
		}
		if n := bytes.Count(lines, []byte("\n")); n != len(pkts) {
			t.Errorf("tshark lists %d packets, gopacket read %d", n, len(pkts))
		}
	}
}
