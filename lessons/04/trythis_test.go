//go:build linux

package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer"
)

// Try this: three lines, the last unfinished, through nc -N: two answers
// come back; the server reads "thr" and never answers it.
func TestTryThisUnfinishedLine(t *testing.T) {
	nc := lessontest.Tool(t, "nc")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmd := h.Command("sh", "-c", `printf 'one\ntwo\nthr' | "$0" -N 127.0.0.1 "$1"`, nc, h.Port())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v", err)
	}
	if got, want := string(out), "You said \"one\"\nYou said \"two\"\n"; got != want {
		t.Errorf("nc got %q, want %q", got, want)
	}
	// The server's side of nc's connection: it read "thr", then EOF,
	// and wrote two answers only.
	h.WaitFor(regexp.MustCompile(`(?s)holding:.*EOF        the peer sent FIN`))
	held := lessontest.Section(t, h.Output(), "holding:", "the peer sent FIN")
	if !strings.Contains(held, `thr"`) {
		t.Errorf("the server did not read \"thr\":\n%s", held)
	}
	if n := strings.Count(held, "WRITE "); n != 2 || strings.Contains(held, `You said \"thr`) {
		t.Errorf("%d WRITEs, want the two answers only:\n%s", n, held)
	}
	h.Stop()
}

// Try this: bufio.NewReader(server), 4096 bytes: one Read of all 53
// bytes in step 4, and the same three lines.
func TestTryThisBiggerBuffer(t *testing.T) {
	bin := lessontest.Build(t, lessontest.Edit{Old: "lines := bufio.NewReaderSize(server, 16)", New: "lines := bufio.NewReader(server)"})
	var reads []int
	var lines []string
	for _, e := range lessontest.RunJSON(t, bin, "--capture=off") {
		if e.Step != 4 || e.Actor != "server" {
			continue
		}
		switch e.Phase {
		case tracer.PhaseRead:
			reads = append(reads, e.Bytes)
		case tracer.PhaseNote:
			lines = append(lines, e.Text)
		}
	}
	if fmt.Sprint(reads) != "[53]" {
		t.Errorf("step 4's reads: %v, want one of 53 bytes", reads)
	}
	want := `[line 1: "I am Chuck Norris!" line 2: "I counted to infinity. Twice." line 3: "Bye"]`
	if fmt.Sprint(lines) != want {
		t.Errorf("step 4's lines: %v, want %s", lines, want)
	}
}

// Try this: the server's read in a goroutine started before the client
// writes. Each Read returns whole segments as they arrived (5, 6 and 7
// bytes): 18 at once, 5 then 13, 11 then 7, or 5, 6 and 7, by timing.
func TestTryThisReadInAGoroutine(t *testing.T) {
	bin := lessontest.Build(t,
		lessontest.InsertBefore("\tsent := 0\n\tfor _, part := range []string{\"I am \", \"Chuck \", \"Norris!\"} {",
			"\tbuf := make([]byte, 1024)\n\tgot := make(chan error, 1)\n\tgo func() {\n"+
				"\t\t_, err := io.ReadFull(server, buf[:18])\n\t\tgot <- err\n\t}()\n"),
		lessontest.Edit{
			Old: "\tn, err := waitUnread(server, sent)\n\tif err != nil {\n\t\treturn err\n\t}\n" +
				"\tl.Note(\"server\", fmt.Sprintf(\"%d bytes wait in the kernel's receive buffer, unread (ss shows them as Recv-Q)\", n))\n" +
				"\tbuf := make([]byte, 1024)\n\tif _, err := server.Read(buf); err != nil {\n\t\treturn err\n\t}\n",
			New: "\tif err := <-got; err != nil {\n\t\treturn err\n\t}\n",
		})
	allowed := map[string]bool{"[18]": true, "[5 13]": true, "[11 7]": true, "[5 6 7]": true}
	seen := map[string]int{}
	for range 10 {
		var reads []int
		for _, e := range lessontest.RunJSON(t, bin, "--capture=off") {
			if e.Step == 2 && e.Actor == "server" && e.Phase == tracer.PhaseRead {
				reads = append(reads, e.Bytes)
			}
		}
		if !allowed[fmt.Sprint(reads)] {
			t.Errorf("step 2's reads %v: want whole segments of 5, 6 and 7 bytes", reads)
		}
		seen[fmt.Sprint(reads)]++
	}
	t.Logf("step 2's reads in 10 runs: %v", seen)
}

// And one more: nc while the lesson holds: a line, READ and WRITE in the
// trace; ss shows the connection with Recv-Q and Send-Q at 0.
func TestTryThisNcAndSS(t *testing.T) {
	nc := lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	port := h.Port()
	ncProc := lessontest.StartInteractive(t, h.Command(nc, "127.0.0.1", port))
	ncProc.Send("hello")
	ncProc.WaitFor(regexp.MustCompile(`You said "hello"`))
	h.WaitFor(regexp.MustCompile(`(?s)holding:.*READ .*hello.*WRITE .*You said`))
	out, err := h.Command("ss", "-Htn", fmt.Sprintf("( sport = :%s or dport = :%s )", port, port)).Output()
	if err != nil {
		t.Fatal(err)
	}
	established := regexp.MustCompile(`(?m)^ESTAB\s+0\s+0\s+`)
	if n := len(established.FindAllString(string(out), -1)); n != 2 {
		t.Errorf("want both ends of nc's connection with Recv-Q and Send-Q at 0:\n%s", out)
	}
	ncProc.CloseInput()
	h.Stop()
}
