package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// output is a lesson's pretty output, cut short.
const output = `tcptour · lesson 03 · Connecting
The intro.

Step 1 of 2 · Listen
  The step's text.

   +1.000 ms  server     LISTEN     tcp 127.0.0.1:41873 (asked for 127.0.0.1:0)
             Port 0 asked the kernel to choose a free port; it chose 41873.
Step 2 of 2 · Talk
  Another text.

   +6.146 ms  client #1  WRITE      18 bytes "I am Chuck Norris!"
             Write hands 18 bytes to the kernel's send buffer.
   +6.165 ms  wire   #1  PSH ACK    client → server  seq 1 ack 1 len 18 win 65536
             The client's kernel sends 18 bytes of data.
   +6.191 ms  server #1  READ       18 bytes "I am Chuck Norris!"
             kernel: ESTABLISHED
             Read copied 18 bytes out of the kernel's receive buffer.

Connection #1
               client 127.0.0.1:35160    server 127.0.0.1:34663
               │── SYN seq 0 ──▶│

Captured 18 packets on lo (the kernel counted 18, dropped 0).

Recap
  • One point.
`

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		marker string
		want   string
	}{
		{`cmd="x" step=1`, "Step 1 of 2 · Listen\n  The step's text.\n\n   +1.000 ms  server     LISTEN     tcp 127.0.0.1:41873 (asked for 127.0.0.1:0)\n             Port 0 asked the kernel to choose a free port; it chose 41873.\n"},
		{`cmd="x" step=2 grep="READ|WRITE" notes=off`, "Step 2 of 2 · Talk\n  Another text.\n\n   +6.146 ms  client #1  WRITE      18 bytes \"I am Chuck Norris!\"\n   +6.191 ms  server #1  READ       18 bytes \"I am Chuck Norris!\"\n             kernel: ESTABLISHED\n"},
		{`cmd="x" step=2 from="PSH ACK" until="PSH ACK"`, "   +6.165 ms  wire   #1  PSH ACK    client → server  seq 1 ack 1 len 18 win 65536\n             The client's kernel sends 18 bytes of data.\n"},
		{`cmd="x" ladder=1`, "Connection #1\n               client 127.0.0.1:35160    server 127.0.0.1:34663\n               │── SYN seq 0 ──▶│\n"},
		{`cmd="x" captured`, "Captured 18 packets on lo (the kernel counted 18, dropped 0).\n"},
		{`cmd="x" section=Recap`, "Recap\n  • One point.\n"},
		{`cmd="x" lines="^Step "`, "Step 1 of 2 · Listen\nStep 2 of 2 · Talk\n"},
		{`cmd="x" lines="^Step " head=1`, "Step 1 of 2 · Listen\n"},
	} {
		sp, err := parseSpec(tc.marker)
		if err != nil {
			t.Fatalf("%s: %v", tc.marker, err)
		}
		got, err := sp.apply(output)
		if err != nil {
			t.Fatalf("%s: %v", tc.marker, err)
		}
		if got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.marker, got, tc.want)
		}
	}
	for _, bad := range []string{`cmd="x" step=9`, `cmd="x" from="nothing like it"`, `cmd="x" grep="("`} {
		sp, err := parseSpec(bad)
		if err == nil {
			_, err = sp.apply(output)
		}
		if err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := parseSpec(`cmd="x" stepp=1`); err == nil || !strings.Contains(err.Error(), "unknown attribute") {
		t.Errorf("an unknown attribute: %v", err)
	}
}

// Two runs agree but for times, ports and the order of events.
func TestSame(t *testing.T) {
	a := "   +6.146 ms  client #1  WRITE      18 bytes\n             a note that wraps\n             here.\n   +6.150 ms  server #1  ACCEPT     tcp 127.0.0.1:41873 ↔ 127.0.0.1:52844\n"
	b := "  +16.001 ms  server #1  ACCEPT     tcp 127.0.0.1:39999 ↔ 127.0.0.1:60001\n  +16.146 ms  client #1  WRITE      18 bytes\n             a note that\n             wraps here.\n"
	if !same(a, b) {
		t.Errorf("not the same:\n%v\n%v", normalized(a), normalized(b))
	}
	if same(a, strings.Replace(b, "18 bytes", "19 bytes", 1)) {
		t.Error("18 and 19 bytes are the same")
	}
	// Connections numbered in another order.
	c1 := "   +1.000 ms  wire   #1  SYN        a\n   +2.000 ms  wire   #2  SYN        b\n"
	c2 := "   +1.000 ms  wire   #2  SYN        a\n   +2.000 ms  wire   #1  SYN        b\n"
	if !same(c1, c2) {
		t.Error("connections numbered in another order differ")
	}
	if same(c1, "   +1.000 ms  wire   #1  SYN        a\n   +2.000 ms  wire   #1  SYN        b\n") {
		t.Error("two connections and one are the same")
	}
	// JSON lines: the event's number and time differ, a packet's seq
	// does not.
	j1 := `{"seq":14,"time":"2026-11-25T16:50:27.332943243Z","phase":"packet","cause":33,"packet":{"seq":1}}`
	j2 := `{"seq":15,"time":"2026-12-05T01:42:47.73Z","phase":"packet","cause":34,"packet":{"seq":1}}`
	if !same(j1, j2) {
		t.Errorf("two runs' JSON lines differ:\n%v\n%v", normalized(j1), normalized(j2))
	}
	if same(j1, strings.Replace(j2, `{"seq":1}`, `{"seq":2}`, 1)) {
		t.Error("a packet's relative seq 1 and 2 are the same")
	}
	// A time cut by the wrapping of a note.
	w1 := "   +1.000 ms  wire   #1  FIN ACK    x\n             round trips (6.160\n             ms here)\n"
	w2 := "   +1.000 ms  wire   #1  FIN ACK    x\n             round trips (5.632 ms\n             here)\n"
	if !same(w1, w2) {
		t.Errorf("times wrapped apart differ:\n%v\n%v", normalized(w1), normalized(w2))
	}
	// Process ids: a fresh container's are small (CI's were).
	p1 := "   +1.740 ms  lab        NOTE       join the lab: nsenter -t 26803 -n\n             but its lab stays while sh (pid 26990) runs in it\n"
	p2 := "   +3.732 ms  lab        NOTE       join the lab: nsenter -t 812 -n\n             but its lab stays while sh (pid 907) runs in it\n"
	if !same(p1, p2) {
		t.Errorf("two runs' pids differ:\n%v\n%v", normalized(p1), normalized(p2))
	}
	if d := firstDifference(p1, strings.Replace(p2, "stays", "goes", 1)); !strings.Contains(d, "the code has: ") || !strings.Contains(d, "goes") {
		t.Errorf("firstDifference does not show the block that differs: %s", d)
	}
}

// A page is rewritten from the command's output, and checked.
func TestPage(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.md")
	md := "# A page\n\n<!-- output cmd=\"printf 'Step 1 of 1 · x\\\\n  text\\\\n'\" step=1 -->\n```\nold\n```\n\nThe end.\n"
	if err := os.WriteFile(page, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &runner{outputs: map[string][]string{}}
	if changed, err := r.page(page, true); err != nil || !changed {
		t.Fatalf("check: changed %v, %v; want a difference", changed, err)
	}
	if changed, err := r.page(page, false); err != nil || !changed {
		t.Fatalf("rewrite: changed %v, %v", changed, err)
	}
	b, _ := os.ReadFile(page)
	want := "# A page\n\n<!-- output cmd=\"printf 'Step 1 of 1 · x\\\\n  text\\\\n'\" step=1 -->\n```\nStep 1 of 1 · x\n  text\n```\n\nThe end.\n"
	if string(b) != want {
		t.Errorf("page:\n%s\nwant:\n%s", b, want)
	}
	if changed, err := r.page(page, true); err != nil || changed {
		t.Errorf("check after the rewrite: changed %v, %v", changed, err)
	}
}

// An excerpt marked varies is one run's: a check keeps the page's when
// the run's has the same first line, numbers aside, and gives the run's
// otherwise.
func TestVarying(t *testing.T) {
	r := &runner{outputs: map[string][]string{"x\x00": {"Chart A\n  10 * *\n  cwnd 12 → 24\n"}}}
	sp, err := parseSpec(`cmd="x" varies`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ old, want string }{
		{"Chart A\n  20 *\n  cwnd 10 → 20\n", "Chart A\n  20 *\n  cwnd 10 → 20\n"},
		{"Chart B\n  20 *\n  cwnd 10 → 20\n", "Chart A\n  10 * *\n  cwnd 12 → 24\n"},
		{"Chart A\n  20 *\n  cwnd 9.5 → 20\n", "Chart A\n  20 *\n  cwnd 9.5 → 20\n"},
		{"Chart A\n  20 *\n  rtt 10\n", "Chart A\n  20 *\n  rtt 10\n"},
	} {
		got, err := r.varying(sp, tc.old, true)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("old %q: got %q, want %q", tc.old, got, tc.want)
		}
	}
}
