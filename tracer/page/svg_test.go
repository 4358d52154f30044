package page

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// WriteSVG draws each picture of a real trace (lesson 12: a link that
// drops a segment) as a file of its own: well-formed XML, sized for an
// <img>, with the page's colours, and what the page shows: the ladder's
// one element a captured frame, the graph's resent and lost marks.
func TestWriteSVG(t *testing.T) {
	ev := load(t, "lesson12.jsonl.gz")
	for _, tc := range []struct {
		kind string
		conn int
		want []string
	}{
		{"ladder", 2, []string{"Connection #2: ladder of its segments", "lost: it left and never arrived", `data-frame="`}},
		{"seq", 2, []string{"sent again", "lost"}},
		{"states", 0, []string{"ESTABLISHED", "TIME-WAIT"}},
	} {
		var b bytes.Buffer
		if err := WriteSVG(&b, ev, tc.conn, tc.kind); err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		s := b.String()
		open, _, _ := strings.Cut(s, ">")
		if !strings.HasPrefix(open, "<svg ") || !strings.Contains(open, ` xmlns="http://www.w3.org/2000/svg"`) || !strings.Contains(open, ` width="`) ||
			!strings.HasPrefix(s[len(open)+1:], "<style><![CDATA[:root{--fg:") {
			t.Errorf("%s: not a sized SVG with the page's styles: %.200s", tc.kind, s)
		}
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%s: lacks %q", tc.kind, w)
			}
		}
		d := xml.NewDecoder(&b)
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: not well-formed XML: %v", tc.kind, err)
			}
		}
	}
	// Lesson 12 samples no window: no chart, and an error that says so.
	if err := WriteSVG(io.Discard, ev, 2, "cwnd"); err == nil || !strings.Contains(err.Error(), "no cwnd picture") {
		t.Errorf("cwnd of a trace without samples: %v", err)
	}
	if err := WriteSVG(io.Discard, ev, 99, "ladder"); err == nil {
		t.Error("the ladder of a connection not in the trace: no error")
	}
	if err := WriteSVG(io.Discard, ev, 1, "pie"); err == nil {
		t.Error("kind pie: no error")
	}
}
