package page

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"go.uber.org/goleak"
	"golang.org/x/net/html"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/wire"
)

// The traces in testdata are real runs of lessons 03 and 12, made by
// testdata/gen.sh: the JSON trace and the pcapng file of one run.

func load(t *testing.T, name string) []tracer.Event {
	return loadPath(t, "testdata/"+name)
}

func loadPath(t *testing.T, name string) []tracer.Event {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = z
	}
	var events []tracer.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e tracer.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(events, func(a, b tracer.Event) int { return a.Time.Compare(b.Time) })
	return events
}

// tcpFrames lists the frame numbers of the TCP segments in a pcapng file.
func tcpFrames(t *testing.T, name string) []int {
	t.Helper()
	ps, err := capture.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var frames []int
	for i, p := range ps {
		if gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default).Layer(layers.LayerTypeTCP) != nil {
			frames = append(frames, i+1)
		}
	}
	return frames
}

func render(t *testing.T, d Doc) ([]byte, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, d); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("PAGE_OUT"); dir != "" {
		os.WriteFile(dir+"/"+strings.ReplaceAll(t.Name(), "/", "_")+".html", b.Bytes(), 0o644)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// all returns the elements under n for which ok holds, in document order.
func all(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasAttr(key string) func(*html.Node) bool {
	return func(n *html.Node) bool { _, ok := attr(n, key); return ok }
}

func hasClass(n *html.Node, c string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), c)
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// child returns n's first child element named tag.
func child(n *html.Node, tag string) *html.Node {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag {
			return c
		}
	}
	return nil
}

// dataFrames returns the data-frame numbers of the page, sorted, and
// fails on a number given twice.
func dataFrames(t *testing.T, doc *html.Node) []int {
	t.Helper()
	var got []int
	for _, n := range all(doc, hasAttr("data-frame")) {
		v, _ := attr(n, "data-frame")
		f, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("data-frame %q", v)
		}
		got = append(got, f)
	}
	slices.Sort(got)
	if c := slices.Compact(slices.Clone(got)); len(c) != len(got) {
		t.Errorf("a frame has more than one data-frame element: %d elements, %d frames", len(got), len(c))
	}
	return got
}

// noExternal checks that the page loads nothing: no src or href to
// another place, no url(http…) in its style.
func noExternal(t *testing.T, page []byte, doc *html.Node) {
	t.Helper()
	for _, n := range all(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href" || a.Key == "xlink:href" || a.Key == "action") && !strings.HasPrefix(a.Val, "#") {
				t.Errorf("<%s %s=%q>: the page must load nothing", n.Data, a.Key, a.Val)
			}
		}
	}
	if m := regexp.MustCompile(`url\(|@import|https?://[^"' ]*\.(js|css|woff2?)`).Find(page); m != nil {
		t.Errorf("the page refers to something outside it: %s", m)
	}
}

// accessible checks each SVG: role img, labelled by its <title> and <desc>.
func accessible(t *testing.T, doc *html.Node) {
	t.Helper()
	svgs := all(doc, func(n *html.Node) bool { return n.Data == "svg" })
	for _, s := range svgs {
		id, _ := attr(s, "id")
		if r, _ := attr(s, "role"); r != "img" {
			t.Errorf("svg %s: role %q", id, r)
		}
		lb, _ := attr(s, "aria-labelledby")
		ids := strings.Fields(lb)
		if title, desc := child(s, "title"), child(s, "desc"); title == nil || desc == nil || strings.TrimSpace(text(title)) == "" || strings.TrimSpace(text(desc)) == "" {
			t.Errorf("svg %s: no title or desc", id)
		} else if tid, _ := attr(title, "id"); len(ids) != 2 || ids[0] != tid {
			t.Errorf("svg %s: aria-labelledby %q, title id %q", id, lb, tid)
		}
	}
	for _, g := range all(doc, func(n *html.Node) bool { return hasClass(n, "sg") }) {
		f, _ := attr(g, "data-frame")
		if ti, _ := attr(g, "tabindex"); ti != "0" {
			t.Errorf("segment %s: tabindex %q", f, ti)
		}
		if r, _ := attr(g, "role"); r == "" {
			t.Errorf("segment %s: no role", f)
		}
		if c := child(g, "title"); c == nil || text(c) == "" {
			t.Errorf("segment %s: no title", f)
		}
	}
	dp := all(doc, func(n *html.Node) bool { id, _ := attr(n, "id"); return id == "dp" })
	if len(dp) != 1 {
		t.Fatal("no detail panel")
	}
	if v, _ := attr(dp[0], "aria-live"); v != "polite" {
		t.Errorf("detail panel aria-live %q", v)
	}
}

func TestLesson03(t *testing.T) {
	events := load(t, "lesson03.jsonl")
	page, doc := render(t, Doc{Title: "tcptour · lesson 03", Command: "go run ./lessons/03 --html 03.html", Events: events,
		Narration: []Narration{{Step: 3, AfterSeq: events[20].Seq, Text: "figure <b>1</b>"}}})
	if len(page) >= 200_000 {
		t.Errorf("lesson 03's page is %d bytes, want < 200 KB", len(page))
	}
	t.Logf("lesson 03's page: %d bytes", len(page))
	want := tcpFrames(t, "lesson03.pcapng")
	if got := dataFrames(t, doc); !slices.Equal(got, want) {
		t.Errorf("data-frame numbers %v, the pcap's TCP frames %v", got, want)
	}
	noExternal(t, page, doc)
	accessible(t, doc)
	svgs := all(doc, func(n *html.Node) bool { return hasClass(n, "ld") })
	if len(svgs) != 2 {
		t.Errorf("%d ladders, want 2 (two connections)", len(svgs))
	}
	// The steps, with their notes, and the narration escaped in its step.
	steps := all(doc, func(n *html.Node) bool { return hasClass(n, "st") })
	if len(steps) != 6 {
		t.Errorf("%d steps, want 6", len(steps))
	}
	for _, st := range steps {
		if h := child(st, "h3"); h == nil || !strings.HasPrefix(text(h), "Step ") {
			t.Errorf("a step without its title: %q", text(st))
		}
	}
	if !strings.Contains(text(steps[2]), "figure <b>1</b>") {
		t.Errorf("step 3 lacks its narration: %q", text(steps[2]))
	}
	// The timeline: a row per event, and a box per actor and connection;
	// the narration after the event it follows.
	rows := all(doc, hasAttr("data-a"))
	if len(rows) != len(events) {
		t.Fatalf("the timeline has %d rows, the trace %d events", len(rows), len(events))
	}
	for i, r := range rows {
		if got, want := strings.Contains(text(r), "figure <b>1</b>"), i == 20; got != want {
			t.Errorf("timeline row %d: narration shown %v, want %v", i, got, want)
		}
	}
	for i, r := range rows {
		if note, _ := attr(r, "data-note"); note != events[i].Note {
			t.Errorf("timeline row %d: note %q, want %q", i, note, events[i].Note)
		}
	}
	boxes := all(doc, func(n *html.Node) bool { return n.Data == "input" })
	var names []string
	for _, b := range boxes {
		v, ok := attr(b, "data-fa")
		if !ok {
			v, _ = attr(b, "data-fc")
			v = "#" + v
		}
		names = append(names, v)
	}
	for _, w := range []string{"client", "server", "wire", "kernel", "#1", "#2"} {
		if !slices.Contains(names, w) {
			t.Errorf("no filter for %s: %v", w, names)
		}
	}
	// A segment carries its note and numbers: the SYN of connection 1.
	syn := all(doc, func(n *html.Node) bool { f, _ := attr(n, "data-flags"); return f == "SYN" && hasClass(n, "sg") })
	if len(syn) != 2 {
		t.Fatalf("%d SYNs drawn, want 2", len(syn))
	}
	var ev tracer.Event
	for _, e := range events {
		if e.Packet != nil && e.Packet.Flags == "SYN" {
			ev = e
			break
		}
	}
	for k, v := range map[string]string{
		"frame": strconv.Itoa(ev.Packet.Frame), "seq": fmt.Sprintf("0 (raw %d)", ev.Packet.RawSeq), "len": "0",
		"win": strconv.Itoa(ev.Packet.Window), "opt": ev.Packet.Options, "note": ev.Note,
	} {
		if got, _ := attr(syn[0], "data-"+k); got != v || v == "" {
			t.Errorf("the SYN's data-%s = %q, want %q", k, got, v)
		}
	}
	// The text ladder, as the alternative.
	pres := all(doc, func(n *html.Node) bool { return n.Data == "pre" && n.Parent != nil && n.Parent.Data == "details" })
	if len(pres) != 2 || !strings.Contains(text(pres[0]), "SYN seq 0") {
		t.Errorf("no text ladder for each connection: %d", len(pres))
	}
}

// A state found when asked is marked in the ladder, its mark explained
// in a tooltip and under the ladder; a ladder with none has neither.
func TestAskedState(t *testing.T) {
	events := load(t, "lesson03.jsonl")
	marked := -1
	for i, e := range events {
		if e.Phase == tracer.PhaseState && e.Conn == 1 && e.State.Side == "server" && e.State.From != e.State.To {
			marked = i
			break
		}
	}
	if marked < 0 {
		t.Fatal("lesson03.jsonl has no change of state of connection #1's server")
	}
	events[marked].State.Asked = true
	label := "[" + events[marked].State.To.String() + "]" + wire.AskedMark
	_, doc := render(t, Doc{Title: "asked", Events: events})
	conns := all(doc, hasClass2("cn"))
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	for k, cn := range conns {
		titles := all(cn, func(n *html.Node) bool { return n.Data == "title" && n.Parent != nil && n.Parent.Data == "text" })
		var notes []string
		for _, p := range all(cn, func(n *html.Node) bool { return n.Data == "p" }) {
			if strings.Contains(text(p), "found when asked") {
				notes = append(notes, text(p))
			}
		}
		if k == 1 {
			if len(titles) != 0 || len(notes) != 0 || strings.Contains(text(cn), "Found when asked") {
				t.Errorf("connection #2 (nothing asked): %d tooltips, notes %q; want none", len(titles), notes)
			}
			continue
		}
		if len(titles) != 1 || text(titles[0]) != wire.AskedNote || text(titles[0].Parent) != wire.AskedNote+label {
			t.Errorf("connection #1: %d tooltips on labels, want 1 on %q saying %q", len(titles), label, wire.AskedNote)
		}
		if len(notes) != 1 || notes[0] != wire.AskedNote {
			t.Errorf("connection #1: notes under the ladder %q, want one: %q", notes, wire.AskedNote)
		}
		// For a screen reader, which reads the picture's description.
		var descs []*html.Node
		for _, svg := range all(cn, hasClass2("ld")) {
			descs = append(descs, all(svg, func(n *html.Node) bool { return n.Data == "desc" })...)
		}
		want := "Found when asked, some time after the change: the server's " + strings.TrimSuffix(label, wire.AskedMark) + " at "
		if len(descs) != 1 || !strings.Contains(text(descs[0]), want) {
			t.Errorf("connection #1: the ladder's description lacks %q", want)
		}
	}
}

// lesson 12's link loses segments on purpose: the ladder draws each
// segment once, departure to arrival, the lost ones lost.
func TestLesson12(t *testing.T) {
	events := load(t, "lesson12.jsonl.gz")
	page, doc := render(t, Doc{Title: "tcptour · lesson 12", Events: events})
	want := tcpFrames(t, "lesson12.pcapng")
	if got := dataFrames(t, doc); !slices.Equal(got, want) {
		t.Errorf("data-frame numbers (%d) differ from the pcap's TCP frames (%d)", len(got), len(want))
	}
	noExternal(t, page, doc)
	accessible(t, doc)
	// Which frames the trace says: resent, duplicate ACKs, and the
	// departures never seen arriving that the ladder must call lost.
	var resent, dup []string
	for _, e := range events {
		if p := e.Packet; p != nil && p.Proto == "tcp" && p.At == p.From {
			if slices.Contains(p.Analysis, "retransmission") {
				resent = append(resent, strconv.Itoa(p.Frame))
			}
			if slices.Contains(p.Analysis, "duplicate-ack") {
				dup = append(dup, strconv.Itoa(p.Frame))
			}
		}
	}
	if len(resent) == 0 || len(dup) == 0 {
		t.Fatalf("the trace lacks retransmissions (%d) or duplicate ACKs (%d)", len(resent), len(dup))
	}
	byFrame := map[string]*html.Node{}
	for _, n := range all(doc, func(n *html.Node) bool { return hasClass(n, "sg") }) {
		f, _ := attr(n, "data-frame")
		byFrame[f] = n
	}
	for _, f := range resent {
		n := byFrame[f]
		if n == nil || !hasClass(n, "rt") || !strings.Contains(text(n), "retransmission") {
			t.Errorf("frame %s, a retransmission, not marked so", f)
		}
	}
	for _, f := range dup {
		n := byFrame[f]
		if n == nil || !hasClass(n, "da") || !strings.Contains(text(n), "duplicate-ack") {
			t.Errorf("frame %s, a duplicate ACK, not marked so", f)
		}
	}
	// The 5th of ten segments of step 2 is dropped: a departure with no
	// arrival, drawn lost, and its copy sent again arrives.
	lost := all(doc, func(n *html.Node) bool { return hasClass(n, "lo") })
	if len(lost) == 0 {
		t.Fatal("no segment drawn lost")
	}
	for _, n := range lost {
		if !strings.Contains(text(n), "✗ lost") {
			t.Errorf("a lost segment without its text mark: %q", text(n))
		}
		if len(all(n, hasAttr("data-frame"))) != 1 {
			t.Errorf("a lost segment has an arrival")
		}
	}
	// As many lost on each connection's ladder as the link says it dropped.
	dropped := map[string]int{}
	for _, e := range events {
		if e.Actor == "link" && e.Conn != 0 && strings.HasPrefix(e.Text, "dropped") {
			dropped[fmt.Sprintf("ld%d", e.Conn)]++
		}
	}
	for _, svg := range all(doc, func(n *html.Node) bool { return hasClass(n, "ld") }) {
		id, _ := attr(svg, "id")
		if n := len(all(svg, func(n *html.Node) bool { return hasClass(n, "lo") })); n != dropped[id] {
			t.Errorf("%s: %d segments drawn lost, the link dropped %d", id, n, dropped[id])
		}
	}
	// Each arrival dot names its departure's frame, and arrives later.
	for _, c := range all(doc, func(n *html.Node) bool { return hasClass(n, "ar") }) {
		of, _ := attr(c, "data-of")
		f, _ := attr(c, "data-frame")
		if g, _ := attr(c.Parent, "data-frame"); of != g || f == g {
			t.Errorf("arrival %s: of %q, its segment %q", f, of, g)
		}
	}
	if n := len(all(doc, func(n *html.Node) bool { return hasClass(n, "ar") })); n == 0 {
		t.Error("no arrivals drawn")
	}
	// The counters table.
	if !strings.Contains(string(page), "TcpRetransSegs") {
		t.Error("the kernel's counters are missing")
	}
}

func TestEmptyDoc(t *testing.T) {
	page, doc := render(t, Doc{})
	noExternal(t, page, doc)
	accessible(t, doc)
	if !strings.Contains(text(doc), "holds no TCP segment") {
		t.Error("an empty page does not say there is nothing to draw")
	}
	// A trace without packets: steps and timeline still there.
	events := load(t, "lesson03.jsonl")
	var noPackets []tracer.Event
	for _, e := range events {
		if e.Phase != tracer.PhasePacket {
			noPackets = append(noPackets, e)
		}
	}
	_, doc = render(t, Doc{Events: noPackets, LeftOut: []string{"Capture was off: no packets."}})
	if n := len(all(doc, hasAttr("data-a"))); n != len(noPackets) {
		t.Errorf("timeline %d rows, want %d", n, len(noPackets))
	}
	if n := len(all(doc, hasAttr("data-frame"))); n != 0 {
		t.Errorf("%d data-frame elements without packets", n)
	}
	if !strings.Contains(text(doc), "Capture was off: no packets.") {
		t.Error("LeftOut not shown")
	}
}

// bulk makes a synthetic trace of a connection on loopback that carries
// n segments: a handshake, data and ACKs, one retransmission in the
// middle, and a FIN each way.
func bulk(n int) []tracer.Event {
	c := netip.MustParseAddrPort("127.0.0.1:40000")
	s := netip.MustParseAddrPort("127.0.0.1:80")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]tracer.Event, 0, n+1)
	frame := 0
	add := func(fromClient bool, flags string, seq, ack uint32, ln int, an ...string) {
		frame++
		p := &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: flags, Seq: seq, Ack: ack,
			RawSeq: seq + 1000, RawAck: ack + 5000, Len: ln, Window: 65535, Frame: frame, Analysis: an}
		if !fromClient {
			p.Src, p.Dst, p.From, p.To = s, c, "server", "client"
			p.RawSeq, p.RawAck = seq+5000, ack+1000
		}
		el := time.Duration(frame) * time.Microsecond
		events = append(events, tracer.Event{Seq: int64(frame), Time: start.Add(el), Elapsed: el, Actor: "wire", Conn: 1, Phase: tracer.PhasePacket, Packet: p, Note: "segment " + strconv.Itoa(frame)})
	}
	add(true, "SYN", 0, 0, 0)
	add(false, "SYN ACK", 0, 1, 0)
	add(true, "ACK", 1, 1, 0)
	seq := uint32(1)
	for frame < n-4 {
		add(true, "PSH ACK", seq, 1, 1000)
		seq += 1000
		if frame == n/2 {
			add(true, "PSH ACK", seq-1000, 1, 1000, "retransmission")
		}
		add(false, "ACK", 1, seq, 0)
	}
	add(true, "FIN ACK", seq, 1, 0)
	add(false, "FIN ACK", 1, seq+1, 0)
	add(true, "ACK", seq+1, 2, 0)
	return events
}

// A capture of 100k packets: the ladder draws at most the budget, folds
// the rest, and says how many it folded; the timeline leaves them out.
func TestFold(t *testing.T) {
	events := bulk(bulkPackets)
	start := time.Now()
	page, doc := render(t, Doc{Title: "inspect big.pcapng", Events: events})
	t.Logf("%d packets: %d bytes in %v", len(events), len(page), time.Since(start))
	segs := all(doc, func(n *html.Node) bool { return hasClass(n, "sg") })
	if len(segs) > segBudget || len(segs) == 0 {
		t.Errorf("%d segments drawn, budget %d", len(segs), segBudget)
	}
	folds := all(doc, hasAttr("data-fold"))
	if len(folds) == 0 {
		t.Fatal("nothing folded")
	}
	folded := 0
	scripts := map[string]*html.Node{}
	for _, n := range all(doc, func(n *html.Node) bool { return n.Data == "script" }) {
		id, _ := attr(n, "id")
		scripts[id] = n
	}
	re := regexp.MustCompile(`… (\d+) segments, frames (\d+)–(\d+) \(ordinary data and ACKs(, not kept on this page)?: see the graph\)`)
	kept := 0
	for _, f := range folds {
		m := re.FindStringSubmatch(text(f))
		if m == nil {
			t.Fatalf("fold row says %q", text(f))
		}
		n, _ := strconv.Atoi(m[1])
		folded += n
		id, _ := attr(f, "data-fold")
		if m[4] != "" {
			// Beyond the page's budget: no data, no button.
			if scripts[id] != nil || len(all(f, hasClass2("fb"))) > 0 {
				t.Errorf("fold %s, not kept, has its data or a button", id)
			}
			continue
		}
		kept += n
		var js foldData
		src := scripts[id]
		if src == nil || json.Unmarshal([]byte(text(src)), &js) != nil || len(js.S) != n {
			t.Fatalf("fold %s: its data does not hold its %d segments", id, n)
		}
		for _, s := range js.S {
			frame := int(s[3].(float64))
			p := events[frame-1].Packet
			if p.Frame != frame || len(p.Analysis) > 0 || p.Flags != s[4] || p.Flags != "ACK" && p.Flags != "PSH ACK" || frame <= 3 {
				t.Errorf("fold %s holds frame %d: %s %v", id, frame, p.Flags, p.Analysis)
			}
		}
	}
	if folded+len(segs) != len(events) {
		t.Errorf("%d drawn + %d folded, %d segments", len(segs), folded, len(events))
	}
	if !strings.Contains(text(doc), fmt.Sprintf("Connection #1: %d of its %d segments are folded", folded, len(events))) {
		t.Error("the page does not say what it folded")
	}
	if kept > foldDataBudget || folded > foldDataBudget && !strings.Contains(text(doc), fmt.Sprintf("Of those, %d are not kept on this page", folded-kept)) {
		t.Errorf("%d folded segments kept, budget %d; the page does not say what it did not keep", kept, foldDataBudget)
	}
	// Never folded: the handshake, the retransmission, the FINs.
	for _, n := range segs[:3] {
		if f, _ := attr(n, "data-frame"); !slices.Contains([]string{"1", "2", "3"}, f) {
			t.Errorf("the handshake is not drawn first: frame %s", f)
		}
	}
	if len(all(doc, func(n *html.Node) bool { return hasClass(n, "rt") })) != 1 {
		t.Error("the retransmission is not drawn")
	}
	if rows := len(all(doc, hasAttr("data-a"))); rows > segBudget+100 {
		t.Errorf("the timeline has %d rows", rows)
	}
	if len(page) > 40<<20 {
		t.Errorf("page of %d bytes", len(page))
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The colours of text, in both themes, have a contrast of at least
// 4.5:1 against the page and the panels.
func TestContrast(t *testing.T) {
	themes := regexp.MustCompile(`:root\{([^}]*)\}`).FindAllStringSubmatch(pageCSS, -1)
	if len(themes) < 3 {
		t.Fatalf("%d :root blocks, want light, dark and print", len(themes))
	}
	lum := func(hex string) float64 {
		hex = strings.TrimPrefix(hex, "#")
		if len(hex) == 3 {
			hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
		}
		var c [3]float64
		for i := range c {
			v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
			if err != nil {
				t.Fatalf("colour %q", hex)
			}
			x := float64(v) / 255
			if x <= 0.03928 {
				c[i] = x / 12.92
			} else {
				c[i] = math.Pow((x+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
	}
	ratio := func(a, b string) float64 {
		x, y := lum(a), lum(b)
		return (max(x, y) + 0.05) / (min(x, y) + 0.05)
	}
	for i, th := range themes[:2] {
		vars := map[string]string{}
		for _, m := range regexp.MustCompile(`--(\w+):(#[0-9a-fA-F]+)`).FindAllStringSubmatch(th[1], -1) {
			vars[m[1]] = m[2]
		}
		for _, name := range []string{"fg", "bg", "muted", "line", "client", "server", "data", "ack", "lost", "resent", "win", "sack"} {
			if vars[name] == "" {
				t.Errorf("theme %d: --%s not defined", i, name)
			}
		}
		for _, fg := range []string{"fg", "muted", "client", "server", "data", "ack", "lost", "resent", "win", "sack", "rst"} {
			for _, bg := range []string{"bg", "panel"} {
				if r := ratio(vars[fg], vars[bg]); r < 4.5 {
					t.Errorf("theme %d: --%s on --%s: contrast %.2f", i, fg, bg, r)
				}
			}
		}
	}
	if !strings.Contains(pageCSS, "@media (prefers-color-scheme:dark)") || !strings.Contains(pageCSS, "@media print") {
		t.Error("no dark theme or print style")
	}
}

// On a link: a segment that arrived (one arrow, a dot with its own
// frame), one lost (a later one arrived), one still on its way when the
// capture stopped, and an arrival whose departure was not captured.
func TestLinkSegments(t *testing.T) {
	c := netip.MustParseAddrPort("192.0.2.1:40000")
	s := netip.MustParseAddrPort("192.0.2.2:80")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []tracer.Event
	add := func(frame int, at string, seq uint32, ipid uint16) {
		el := time.Duration(frame) * time.Millisecond
		events = append(events, tracer.Event{Seq: int64(frame), Time: start.Add(el), Elapsed: el, Actor: "wire", Conn: 1, Phase: tracer.PhasePacket,
			Note: fmt.Sprintf("frame %d <note>", frame),
			Packet: &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: "PSH ACK", Seq: seq, RawSeq: seq,
				Ack: 1, RawAck: 1, Len: 100, Window: 1000, At: at, IPID: ipid, Frame: frame}})
	}
	add(1, "client", 1, 1)   // lost: 2 left after it and arrived
	add(2, "client", 101, 2) // arrives as 3
	add(3, "server", 101, 2)
	add(4, "server", 501, 9) // an arrival whose departure was not captured
	add(5, "client", 201, 3) // on its way when the capture stopped
	add(6, "server", 101, 2) // frame 3 again: the link delivered it twice
	events[5].Packet.Analysis = []string{"retransmission", "spurious-retransmission"}
	_, doc := render(t, Doc{Events: events})
	if got := dataFrames(t, doc); !slices.Equal(got, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("data-frame %v", got)
	}
	seg := map[string]*html.Node{}
	for _, n := range all(doc, func(n *html.Node) bool { return hasClass(n, "sg") }) {
		f, _ := attr(n, "data-frame")
		seg[f] = n
	}
	if len(seg) != 5 {
		t.Fatalf("%d segments drawn, want 5: %v", len(seg), seg)
	}
	// A frame the link delivered twice is not a segment sent again.
	if n := seg["6"]; hasClass(n, "rt") || !strings.Contains(text(n), "arrived again: the link delivered this frame twice") || strings.Contains(text(n), "retransmission") {
		t.Errorf("frame 6, delivered twice, drawn as %q", text(n))
	}
	if d := text(all(doc, func(n *html.Node) bool { return n.Data == "desc" })[0]); !strings.Contains(d, "4 segments (1 lost on the link).") {
		t.Errorf("the ladder's description: %q", d)
	}
	if n := seg["1"]; !hasClass(n, "lo") || !strings.Contains(text(n), "✗ lost") {
		t.Errorf("frame 1 not drawn lost: %q", text(n))
	}
	if ar := all(seg["2"], hasClass2("ar")); len(ar) != 1 {
		t.Error("frame 2 has no arrival dot")
	} else if f, _ := attr(ar[0], "data-frame"); f != "3" {
		t.Errorf("frame 2 arrives as frame %s, want 3", f)
	} else if note, _ := attr(ar[0], "data-note"); note != "frame 3 <note>" {
		t.Errorf("arrival's note %q", note)
	}
	if n := seg["4"]; !strings.Contains(text(n), "departure was not captured") {
		t.Errorf("frame 4: %q", text(n))
	}
	if n := seg["5"]; hasClass(n, "lo") || !hasClass(n, "un") || !strings.Contains(text(n), "not seen arriving") {
		t.Errorf("frame 5, on its way at the end, drawn as %q", text(n))
	}
	// The arrow of frame 2 slants down to its arrival's row.
	line := child(seg["2"], "line")
	y1, _ := attr(line, "y1")
	y2, _ := attr(line, "y2")
	if a, _ := strconv.ParseFloat(y1, 64); a >= func() float64 { b, _ := strconv.ParseFloat(y2, 64); return b }() {
		t.Errorf("frame 2's arrow from y %s to y %s: not down", y1, y2)
	}
}

func hasClass2(c string) func(*html.Node) bool {
	return func(n *html.Node) bool { return hasClass(n, c) }
}

// On a link with many segments in flight, folds still happen: each
// frame is drawn once, or held once by a fold's data.
func TestFoldLink(t *testing.T) {
	defer func(b int) { segBudget = b }(segBudget)
	segBudget = 300
	c := netip.MustParseAddrPort("192.0.2.1:40000")
	s := netip.MustParseAddrPort("192.0.2.2:80")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []tracer.Event
	frame := 0
	add := func(at string, seq uint32, ipid uint16) {
		frame++
		el := time.Duration(frame) * time.Microsecond
		events = append(events, tracer.Event{Seq: int64(frame), Time: start.Add(el), Elapsed: el, Actor: "wire", Conn: 1, Phase: tracer.PhasePacket,
			Packet: &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: "PSH ACK", Seq: seq, RawSeq: seq,
				Ack: 1, RawAck: 1, Len: 100, Window: 1000, At: at, IPID: ipid, Frame: frame}})
	}
	const n, inFlight = 2000, 40
	for i := range n + inFlight {
		if i < n {
			add("client", uint32(1+100*i), uint16(i+1))
		}
		if j := i - inFlight; j >= 0 {
			add("server", uint32(1+100*j), uint16(j+1))
		}
	}
	page, doc := render(t, Doc{Events: events})
	drawn := dataFrames(t, doc)
	held := map[int]bool{}
	for _, n := range all(doc, func(n *html.Node) bool {
		return n.Data == "script" && strings.HasPrefix(func() string { v, _ := attr(n, "id"); return v }(), "ld1f")
	}) {
		var js foldData
		if err := json.Unmarshal([]byte(text(n)), &js); err != nil {
			t.Fatal(err)
		}
		for _, s := range js.S {
			for _, k := range []int{3, 12} {
				if f := int(s[k].(float64)); f != 0 {
					if held[f] {
						t.Errorf("frame %d held twice", f)
					}
					held[f] = true
				}
			}
		}
	}
	if len(held) == 0 {
		t.Fatal("nothing folded")
	}
	for _, f := range drawn {
		if held[f] {
			t.Errorf("frame %d drawn and folded", f)
		}
	}
	if len(drawn)+len(held) != len(events) {
		t.Errorf("%d drawn + %d folded, %d frames", len(drawn), len(held), len(events))
	}
	if segs := len(all(doc, func(n *html.Node) bool { return hasClass(n, "sg") })); segs > segBudget {
		t.Errorf("%d segments drawn, budget %d", segs, segBudget)
	}
	t.Logf("%d bytes, %d drawn, %d folded", len(page), len(drawn), len(held))
}

func TestShare(t *testing.T) {
	for _, c := range []struct {
		need   []int
		budget int
		want   []int
	}{
		{[]int{10, 20}, 100, []int{10, 20}},
		{[]int{10, 1000, 5000}, 3000, []int{10, 1000, 1990}},
		{[]int{5000, 10, 5000}, 3000, []int{1495, 10, 1495}},
		{nil, 3000, []int{}},
	} {
		if got := share(c.need, func(n int) int { return n }, c.budget); !slices.Equal(got, c.want) {
			t.Errorf("share(%v, %d) = %v, want %v", c.need, c.budget, got, c.want)
		}
	}
}

// The SACK blocks of a segment are shown relative to the peer's
// initial sequence number, as its ACK is, with the raw numbers after.
func TestSackBlocks(t *testing.T) {
	p := &tracer.Packet{Ack: 5793, RawAck: 1024250282, Mark: "ts 1 2 sack 1024251730-1024257522 sack 1024259000-1024260448"}
	if got, want := sackBlocks(p), "7241-13033 (raw 1024251730-1024257522), 14511-15959 (raw 1024259000-1024260448)"; got != want {
		t.Errorf("sackBlocks = %q, want %q", got, want)
	}
	// Without timestamps the Mark starts with the blocks; across the
	// wrap of the 32-bit numbers.
	p = &tracer.Packet{Ack: 1, RawAck: 4294967295, Mark: " sack 999-1999"}
	if got, want := sackBlocks(p), "1001-2001 (raw 999-1999)"; got != want {
		t.Errorf("sackBlocks = %q, want %q", got, want)
	}
	if got := sackBlocks(&tracer.Packet{Mark: "ts 1 2"}); got != "" {
		t.Errorf("no blocks: %q", got)
	}
}

// A trace of many short connections (a busy server's capture): the page
// draws the first maxConns, says how many it left out, and lists at
// most maxRows events in its timeline, saying how many more there are.
func TestManyConns(t *testing.T) {
	var events []tracer.Event
	n := maxConns + 50
	for id := 1; id <= n; id++ {
		for _, e := range bulk(60) {
			e.Conn = id
			p := *e.Packet
			p.Frame = len(events) + 1
			p.Src = netip.AddrPortFrom(p.Src.Addr(), p.Src.Port()+uint16(id))
			e.Packet, e.Seq = &p, int64(len(events))
			e.Time = e.Time.Add(time.Duration(id) * time.Millisecond)
			events = append(events, e)
		}
	}
	// And more remarks than a timeline lists.
	last := events[len(events)-1]
	for k := range maxRows {
		events = append(events, tracer.Event{Seq: int64(len(events)), Time: last.Time.Add(time.Duration(k+1) * time.Microsecond), Actor: "lesson", Phase: tracer.PhaseNote, Text: "a remark", Note: "remark"})
	}
	_, doc := render(t, Doc{Events: events})
	if got := len(all(doc, func(n *html.Node) bool { return n.Data == "section" && hasClass(n, "cn") })); got != maxConns {
		t.Errorf("%d connections drawn, want %d", got, maxConns)
	}
	page := text(doc)
	if want := fmt.Sprintf("This page draws the first %d of the trace's %d connections; the other %d are left out", maxConns, n, n-maxConns); !strings.Contains(page, want) {
		t.Errorf("the page does not say %q", want)
	}
	rows := all(doc, func(n *html.Node) bool { return n.Data == "tr" && hasAttr("data-a")(n) })
	if len(rows) > maxRows+2 {
		t.Errorf("%d timeline rows, want at most %d and two that count the rest", len(rows), maxRows)
	}
	if !strings.Contains(page, fmt.Sprintf("events of the connections this page does not draw, left out")) || !strings.Contains(page, "more events, not listed: a page lists at most") {
		t.Error("the timeline does not say what it left out")
	}
}
