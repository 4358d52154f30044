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
	lessontest.Tool(t, "nc")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(3)
	want := "printf 'one\\ntwo\\nthr' | nc -N 127.0.0.1 " + h.Port()
	if join := h.Join(); join != nil {
		want = "printf 'one\\ntwo\\nthr' | " + strings.Join(join, " ") + " nc -N 127.0.0.1 " + h.Port()
	}
	if cmds[0] != want {
		t.Errorf("the first command printed: %q, want %q", cmds[0], want)
	}
	out, err := h.Paste(cmds[0]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[0], err)
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

// And one more: nc and ss as the held lesson prints them: a line typed
// into nc, READ and WRITE in the trace; ss shows the connection with
// Recv-Q and Send-Q at 0.
func TestTryThisNcAndSS(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(3)
	port := h.Port()
	if !strings.HasSuffix(cmds[1], "nc -N 127.0.0.1 "+port) || !strings.HasSuffix(cmds[2], "ss -tn '( sport = :"+port+" or dport = :"+port+" )'") {
		t.Errorf("the commands printed: %q", cmds)
	}
	ncProc := lessontest.StartInteractive(t, h.Paste(cmds[1]))
	ncProc.Send("hello")
	ncProc.WaitFor(regexp.MustCompile(`You said "hello"`))
	h.WaitFor(regexp.MustCompile(`(?s)holding:.*READ .*hello.*WRITE .*You said`))
	out, err := h.Paste(cmds[2]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[2], err)
	}
	established := regexp.MustCompile(`(?m)^ESTAB\s+0\s+0\s+`)
	if n := len(established.FindAllString(string(out), -1)); n != 2 {
		t.Errorf("want both ends of nc's connection with Recv-Q and Send-Q at 0:\n%s", out)
	}
	// Ctrl-D: nc sends FIN, and the server closes too.
	ncProc.CloseInput()
	if out, err := ncProc.Wait(); err != nil {
		t.Errorf("nc after Ctrl-D: %v\n%s", err, out)
	}
	h.Stop()
}
