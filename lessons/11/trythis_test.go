//go:build linux

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// tryThis fails the test unless the Try this numbered i (from 0) still
// says each of says, so that a test and the exercise it runs cannot
// drift apart.
func tryThis(t *testing.T, i int, says ...string) {
	t.Helper()
	text := strings.Join(strings.Fields(info.TryThis[i]), " ")
	for _, s := range says {
		if !strings.Contains(text, s) {
			t.Fatalf("Try this %d no longer says %q:\n%s", i+1, s, text)
		}
	}
}

// clientFINRule is step 4's rule, as the Try this edits it.
const clientFINRule = "link.Rule{Dir: link.FromClient, Kind: link.FIN, Index: 1, "

// noteOf returns the kernel note of step whose text contains text.
func noteOf(t *testing.T, ev []tracer.Event, step int, text string) tracer.Event {
	t.Helper()
	for _, e := range ev {
		if e.Step == step && e.Actor == "kernel" && e.Phase == tracer.PhaseNote && strings.Contains(e.Text, text) {
			return e
		}
	}
	t.Fatalf("no kernel note %q in step %d", text, step)
	return tracer.Event{}
}

// ms reads the number of milliseconds that re's one group finds in s.
func ms(t *testing.T, s, re string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %q", re, s)
	}
	n, _ := strconv.Atoi(m[1])
	return time.Duration(n) * time.Millisecond
}

// Try this 1: with step 4's rule losing the FIN and three copies, step
// 5 comes about 1.7 s later, its note says total_retrans +4 and
// total_rto +3, and tshark's filter on the client's end shows step 2's
// FIN, then step 4's and its four copies at the gaps the text says
// (a tail loss probe, then the timeout doubling), then the server's FIN
// of step 8.
// It and the other tests here run one at a time: the copies' gaps are
// checked to a fifth, and run beside others (a browser, tshark, builds
// on 2 CPUs) one came 270 ms after the one before, not 210.
func TestTryThisFINLostFourTimes(t *testing.T) {
	lessontest.Tool(t, "tshark")
	tryThis(t, 0, "make step 4's rule lose the client's FIN and its first three copies (add Retransmits: 3 to it)",
		"--pcap FILE", "step 5 comes about 1.7 s after step 4", "total_retrans went up by 4 and total_rto by 3",
		`tshark -r FILE -Y 'tcp.flags.fin==1 && frame.interface_name=="client"'`,
		"After step 2's FIN come the client's FIN of step 4 and its four copies",
		"the first about 200 ms after it, a tail loss probe", "the next about 210 ms later, the retransmission timeout",
		"then the timeout doubles: about 430, then 860 ms", "Last comes the server's FIN of step 8")
	bin := lessontest.Build(t, lessontest.InsertAfter(clientFINRule, "Retransmits: 3, "))
	pcap := filepath.Join(lessontest.NobodyDir(t), "fin.pcapng")
	ev := lessontest.RunJSON(t, bin, "--pcap", pcap)

	closeWrite, finWait2 := time.Time{}, noteOf(t, ev, 5, "the client's socket: FIN_WAIT_2")
	for _, e := range ev {
		if e.Phase == tracer.PhaseCloseWrite {
			closeWrite = e.Time
		}
	}
	if d := finWait2.Time.Sub(closeWrite); d < 1400*time.Millisecond || d > 2200*time.Millisecond {
		t.Errorf("FIN_WAIT_2 came %v after CloseWrite, want about 1.7 s", d)
	}
	if !strings.Contains(finWait2.Note, "TCP_INFO's total_retrans went up by 4 and total_rto by 3") {
		t.Errorf("step 5's note: %s", finWait2.Note)
	}

	out := lessontest.Tshark(t, pcap, `tcp.flags.fin==1 && frame.interface_name=="client"`, "frame.time_relative", "ip.src")
	var times []float64
	var from []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("tshark: %q", line)
		}
		v, _ := strconv.ParseFloat(f[0], 64)
		times, from = append(times, v), append(from, f[1])
	}
	want := "192.0.2.1 192.0.2.1 192.0.2.1 192.0.2.1 192.0.2.1 192.0.2.1 192.0.2.2"
	if got := strings.Join(from, " "); got != want {
		t.Fatalf("the FINs at the client's end come from %s, want %s:\n%s", got, want, out)
	}
	var gaps []time.Duration
	for i := 2; i <= 5; i++ {
		gaps = append(gaps, time.Duration((times[i]-times[i-1])*float64(time.Second)))
	}
	t.Logf("the FIN's copies came after %v", gaps)
	for i, about := range []time.Duration{200 * time.Millisecond, 210 * time.Millisecond, 430 * time.Millisecond, 860 * time.Millisecond} {
		if g := gaps[i]; g < about*8/10 || g > about*12/10 {
			t.Errorf("copy %d came %v after the one before, want about %v", i+1, g, about)
		}
	}
	if r := float64(gaps[3]) / float64(gaps[2]); r < 1.8 || r > 2.2 {
		t.Errorf("the 4th copy came %v after the 3rd, want twice the gap before, %v", gaps[3], gaps[2])
	}
}

// Try this 2: on a link of 50 ms each way, TCP_INFO's rtt is about
// 100 ms, the rto about 300 ms, and the lost FIN goes again at the rto,
// sooner than two round trips plus 200 ms.
func TestTryThisSlowLink(t *testing.T) {
	tryThis(t, 1, "oneWay = 50 * time.Millisecond", "a round trip (rtt) of about 100 ms", "an rto of about 300 ms",
		"each lost FIN goes again about 300 ms after it", "two round trips plus 200 ms would be 400 ms")
	bin := lessontest.Build(t, lessontest.Edit{Old: "const oneWay = 2 * time.Millisecond", New: "const oneWay = 50 * time.Millisecond"})
	ev := lessontest.RunJSON(t, bin, "--capture=on")
	if rtt := ms(t, noteOf(t, ev, 3, "the client's socket: ESTABLISHED").Note, `rtt (\d+) ms`); rtt < 95*time.Millisecond || rtt > 130*time.Millisecond {
		t.Errorf("step 3's rtt: %v, want about 100 ms", rtt)
	}
	if rto := ms(t, noteOf(t, ev, 4, "the client's socket: FIN_WAIT_1").Note, `rto (\d+) ms`); rto < 280*time.Millisecond || rto > 350*time.Millisecond {
		t.Errorf("step 4's rto: %v, want about 300 ms", rto)
	}
	fins := map[string][]time.Time{}
	for _, e := range ev {
		if p := e.Packet; p != nil && e.Conn == 3 && strings.Contains(p.Flags, "FIN") && p.At == p.From {
			fins[p.From] = append(fins[p.From], e.Time)
		}
	}
	for _, side := range []string{"client", "server"} {
		if len(fins[side]) != 2 {
			t.Errorf("the %s sent %d FINs, want 2", side, len(fins[side]))
			continue
		}
		if gap := fins[side][1].Sub(fins[side][0]); gap < 270*time.Millisecond || gap > 360*time.Millisecond {
			t.Errorf("the %s's FIN went again after %v, want about 300 ms", side, gap)
		}
	}
}

// Try this 3 points to lesson 05, whose Try this runs it with --host
// and lists the TIME_WAIT sockets with ss after it (lesson 05's tests
// run that).
func TestTryThisTimeWaitInLesson05(t *testing.T) {
	tryThis(t, 2, "TIME_WAIT outlives the program, but not the lesson's network", "Lesson 05", "with --host",
		"ss -tano state time-wait", "counting down from 60 s")
	src, err := os.ReadFile(filepath.Join("..", "05", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(strings.NewReplacer(`\n" +`, "", `"`, "").Replace(string(src))), " ")
	for _, s := range []string{"go run ./lessons/05 --host", "ss -tano state time-wait", "counting down from 60 s"} {
		if !strings.Contains(text, s) {
			t.Errorf("lesson 05's source no longer says %q", s)
		}
	}
}
