package wire

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"tcptour/tracer"
)

// writes counts the writes into a buffer.
type writes struct {
	bytes.Buffer
	n int
}

func (w *writes) Write(p []byte) (int, error) {
	w.n++
	return w.Buffer.Write(p)
}

func (w *writes) WriteString(s string) (int, error) {
	w.n++
	return w.Buffer.WriteString(s)
}

// A flush writes the seed's lines each in its place between the
// events, or, with SayApart, all at once after the events, which go to
// the printer in one batch: the same events and lines in the same
// order either way.
func TestSayApart(t *testing.T) {
	for _, apart := range []bool{false, true} {
		var out, say writes
		tl, _, err := NewTimeline("server", tracer.NewJSON(&out), &say, Config{Mode: ModeOff, SayApart: apart})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			tl.Trace().Note("server", strings.Repeat("a", i+1))
			tl.Say("line %d\n", i)
			tl.Trace().Note("server", strings.Repeat("b", i+1))
		}
		if err := tl.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tl.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := say.String(), "line 0\nline 1\nline 2\n"; got != want {
			t.Errorf("apart %v: the lines %q, want %q", apart, got, want)
		}
		var texts []string
		for _, e := range printed(t, &out.Buffer) {
			texts = append(texts, e.Text)
		}
		if got, want := strings.Join(texts, " "), "a b aa bb aaa bbb"; got != want {
			t.Errorf("apart %v: the events %q, want %q", apart, got, want)
		}
		// In place: a write for each line, and for each run of events
		// between them. Apart: one of each.
		wantSay, wantOut := 3, 4
		if apart {
			wantSay, wantOut = 1, 1
		}
		if say.n != wantSay || out.n != wantOut {
			t.Errorf("apart %v: %d writes of lines, %d of events; want %d and %d", apart, say.n, out.n, wantSay, wantOut)
		}
	}
}

// A timeline that keeps no history forgets the numbers of the events it
// printed; one that keeps it remembers them, to show them again alike.
func TestForgetsPrinted(t *testing.T) {
	for _, history := range []int{0, tracer.NoHistory} {
		tl, _, err := NewTimeline("lesson", tracer.NewJSON(io.Discard), io.Discard, Config{Mode: ModeOff, History: history})
		if err != nil {
			t.Fatal(err)
		}
		client, server, _ := connect(t, tl)
		closeBoth(t, client, server)
		if err := tl.Flush(); err != nil {
			t.Fatal(err)
		}
		tl.idMu.Lock()
		n := len(tl.numbered)
		tl.idMu.Unlock()
		if _, _, err := tl.Close(); err != nil {
			t.Fatal(err)
		}
		if history == tracer.NoHistory && n != 0 {
			t.Errorf("no history: %d numbers kept after the flush, want none", n)
		}
		if history == 0 && n < 4 {
			t.Errorf("with a history: %d numbers kept after the flush, want one for each event of the connection", n)
		}
	}
}
