package lessontest

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, tt := range []struct {
		name, want, got, out string
	}{
		{"same", "a\nb", "a\nb", ""},
		{"moved to another step", "3 link RST\n3 server note\n4 step", "3 server note\n4 step\n4 link RST",
			"line 1:\n- 3 link RST\n+ 3 server note\nonly in the golden file:\n- 1: 3 link RST\nonly in this run:\n+ 3: 4 link RST"},
		{"missing", "a\nb\nc", "a\nc", "line 2:\n- b\n+ c\nonly in the golden file:\n- 2: b"},
		{"a repeated line once more", "x\nx", "x\nx\nx", "line 3:\n- \n+ x\nonly in this run:\n+ 3: x"},
	} {
		if got := diff(tt.want, tt.got); got != tt.out {
			t.Errorf("%s: diff gave\n%s\nwant\n%s", tt.name, got, tt.out)
		}
	}
	// At most diffMax lines of each side.
	many := strings.Repeat("y\n", diffMax+5)
	out := diff("", many)
	if n := strings.Count(out, ": y\n"); n != diffMax {
		t.Errorf("%d lines of this run shown, want %d and an ellipsis:\n%s", n, diffMax, out)
	}
	if !strings.HasSuffix(out, "+ …") {
		t.Errorf("no ellipsis after %d lines:\n%s", diffMax, out)
	}
}

// DropResends leaves out the counters of resends and their notes, and
// keeps every other line.
func TestDropResends(t *testing.T) {
	in := "4 server -   listen        tcp 192.0.2.2:8003\n" +
		"4 kernel -   counter       server's TcpRetransSegs +1\n" +
		"      The server's kernel counts segments sent again: 1 more during this step.\n" +
		"4 kernel -   counter       server's TcpExtTCPLossProbes +1\n" +
		"      The server's kernel counts tail loss probes sent (RFC 8985).\n" +
		"      A second line of the note.\n" +
		"4 kernel -   counter       client's TcpOutRsts +1\n" +
		"      The client's kernel counts RSTs sent.\n" +
		"5 kernel -   counter       client's TcpExtTCPSynRetrans +2\n" +
		"5 client -   note          the server's socket: gone\n"
	want := "4 server -   listen        tcp 192.0.2.2:8003\n" +
		"4 kernel -   counter       client's TcpOutRsts +1\n" +
		"      The client's kernel counts RSTs sent.\n" +
		"5 client -   note          the server's socket: gone\n"
	if got := DropResends(in); got != want {
		t.Errorf("DropResends gave\n%s\nwant\n%s", got, want)
	}
}
