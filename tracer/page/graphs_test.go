package page

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/capture"
	"tcptour/tracer/kernel"
	"tcptour/tracer/wire"
)

// The graphs' tests read real runs, made by testdata/graph-gen:
// lesson 12's capture (a link, both ends) read as tracer/inspect reads a
// file, its state events, and lesson 13's TCP_INFO samples.

// gLesson12 returns the packets of testdata/graph-lesson12.pcapng as
// tracer/inspect makes them: an annotator per interface, the
// connections numbered, At the interface, Frame the packet's number in
// the file, Elapsed from the first packet.
func gLesson12(t testing.TB) []tracer.Event {
	t.Helper()
	pkts, err := capture.ReadFile(filepath.Join("testdata", "graph-lesson12.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	dec, nums := capture.NewDecoder(), wire.NewConnNumbers()
	anns := map[string]*wire.Annotator{}
	var events []tracer.Event
	for i, p := range pkts {
		d, err := dec.Decode(p)
		if err != nil || d.TCP == nil {
			continue
		}
		a := anns[p.Interface]
		if a == nil {
			a = wire.NewAnnotator()
			a.NumberConns(nums)
			a.AtEnd(p.Interface)
			anns[p.Interface] = a
		}
		e := a.Event(d)
		e.Packet.At, e.Packet.IPID = p.Interface, d.IPID
		e.Packet.Frame = i + 1
		e.Elapsed = p.Time.Sub(pkts[0].Time)
		events = append(events, e)
	}
	if len(events) == 0 || events[0].Packet.At == "" {
		t.Fatalf("graph-lesson12.pcapng: %d TCP packets, want a link's (At set)", len(events))
	}
	return events
}

// gJSONLines reads a JSON-lines trace of testdata.
func gJSONLines(t testing.TB, name string) []tracer.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []tracer.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var e tracer.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

// gNode is an element of a parsed graph.
type gNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []gNode    `xml:",any"`
}

func (n *gNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *gNode) class(c string) bool { return slices.Contains(strings.Fields(n.attr("class")), c) }

// walk calls f on n and each element under it.
func (n *gNode) walk(f func(*gNode)) {
	f(n)
	for i := range n.Children {
		n.Children[i].walk(f)
	}
}

// all returns the elements under n with class c.
func (n *gNode) all(c string) []*gNode {
	var out []*gNode
	n.walk(func(m *gNode) {
		if m.class(c) {
			out = append(out, m)
		}
	})
	return out
}

// text returns the text in n and under it.
func (n *gNode) text() string {
	var b strings.Builder
	n.walk(func(m *gNode) { b.WriteString(m.Text) })
	return b.String()
}

// gParse parses a graph's HTML as XML: it must be well formed.
func gParse(t testing.TB, h template.HTML) *gNode {
	t.Helper()
	var n gNode
	if err := xml.Unmarshal([]byte(h), &n); err != nil {
		t.Fatalf("not well-formed XML: %v\n%.2000s", err, h)
	}
	return &n
}

// gDump writes h to $GRAPH_DUMP/name.html, for a look by eye.
func gDump(t testing.TB, name string, h template.HTML) {
	dir := os.Getenv("GRAPH_DUMP")
	if dir == "" {
		return
	}
	css, _ := os.ReadFile("assets/graph.css")
	js, _ := os.ReadFile("assets/graph.js")
	page := `<!doctype html><meta charset="utf-8"><style>:root{--fg:#222;--bg:#fff;--muted:#777;--line:#ccc;--client:#1f5fbf;--server:#b35900;--data:#1f5fbf;--ack:#2a8a2a;--lost:#c00;--resent:#b000b0;--win:#999;--sack:#d08a00}` +
		`@media (prefers-color-scheme: dark){:root{--fg:#ddd;--bg:#111;--muted:#999;--line:#444}} body{background:var(--bg);color:var(--fg);font-family:sans-serif}` + string(css) + `</style>` +
		string(h) + `<script>` + string(js) + `</script>`
	if err := os.WriteFile(filepath.Join(dir, name+".html"), []byte(page), 0o644); err != nil {
		t.Log(err)
	}
}

// gPinY returns a pin's y in px (its transform's translate).
func gPinXY(t testing.TB, n *gNode) (float64, float64) {
	t.Helper()
	var x, y float64
	if _, err := fmt.Sscanf(n.attr("transform"), "translate(%g %g)", &x, &y); err != nil {
		t.Fatalf("pin transform %q: %v", n.attr("transform"), err)
	}
	return x, y
}

var gBarRE = regexp.MustCompile(`^M(-?[0-9.]+) (-?[0-9.]+)V(-?[0-9.]+)$`)

// gBar returns a bar's x and its two ends' y.
func gBar(t testing.TB, n *gNode) (x, y0, y1 float64) {
	t.Helper()
	m := gBarRE.FindStringSubmatch(n.attr("d"))
	if m == nil {
		t.Fatalf("bar d=%q", n.attr("d"))
	}
	x, _ = strconv.ParseFloat(m[1], 64)
	y0, _ = strconv.ParseFloat(m[2], 64)
	y1, _ = strconv.ParseFloat(m[3], 64)
	return x, y0, y1
}

// gYOf inverts the graph's y axis from its tick labels: the value at
// px y, from two ticks of the left axis.
func gFigures(t testing.TB, h template.HTML) []*gNode {
	t.Helper()
	root := gParse(t, h)
	return root.all("g-zoom")
}

func TestSeqGraphLesson12(t *testing.T) {
	events := gLesson12(t)
	ids := wire.Conns(events, true)
	var sawLost, sawResent, sawSack, sawDup int
	for _, id := range ids {
		h := seqGraph(events, id)
		gDump(t, fmt.Sprintf("seq-%d", id), h)
		if h == "" {
			t.Errorf("conn %d: no graph", id)
			continue
		}
		figs := gFigures(t, h)
		for _, fig := range figs {
			svg := fig.all("g-svg")[0]
			var title, desc string
			svg.walk(func(n *gNode) {
				switch n.XMLName.Local {
				case "title":
					title = n.Text
				case "desc":
					desc = n.Text
				}
			})
			from := strings.Fields(title)[0]
			to := map[string]string{"client": "server", "server": "client"}[from]
			dir := gDirOf(t, events, id, from)

			// Each data segment the sender's end captured is drawn once,
			// with its frame.
			var frames []int
			for _, c := range []string{"g-seg", "g-resent"} {
				for _, n := range svg.all(c) {
					if n.XMLName.Local != "path" || n.attr("data-frame") != "" {
						continue
					}
					if strings.HasPrefix(n.attr("class"), c) && n.attr("data-ref") != "" && gBarRE.MatchString(n.attr("d")) {
						f, _ := strconv.Atoi(n.attr("data-ref"))
						frames = append(frames, f)
					}
				}
			}
			slices.Sort(frames)
			if !slices.Equal(frames, dir.data) {
				t.Errorf("conn %d %s: segments drawn %v, want %v", id, from, frames, dir.data)
			}
			if strings.Contains(string(h), "url(") {
				t.Errorf("conn %d: the graph refers to something by url(): the page must stand alone", id)
			}
			if strings.Contains(string(h), "data-frame") {
				t.Errorf("conn %d: data-frame in the graph (the ladder's alone)", id)
			}
			// Lost and resent: marked, at their frames, at the right
			// seq (the pin's y is the bar's middle, its top).
			lost := svg.all("g-lost")
			lostRefs := gRefs(lost, "g")
			if !slices.Equal(lostRefs, dir.lost) {
				t.Errorf("conn %d %s: lost marks %v, want %v", id, from, lostRefs, dir.lost)
			}
			sawLost += len(dir.lost)
			resentRefs := gRefs(svg.all("g-resent"), "g")
			if !slices.Equal(resentRefs, dir.resent) {
				t.Errorf("conn %d %s: resent marks %v, want %v", id, from, resentRefs, dir.resent)
			}
			sawResent += len(dir.resent)
			for _, pin := range append(svg.all("g-lost"), svg.all("g-resent")...) {
				if pin.XMLName.Local != "g" || !pin.class("g-pin") {
					continue
				}
				ref := pin.attr("data-ref")
				var bar *gNode
				svg.walk(func(n *gNode) {
					if n.XMLName.Local == "path" && n.attr("data-ref") == ref && gBarRE.MatchString(n.attr("d")) && (n.class("g-seg") || n.class("g-resent")) {
						bar = n
					}
				})
				if bar == nil {
					t.Errorf("conn %d: pin %s without its bar", id, ref)
					continue
				}
				x, y0, y1 := gBar(t, bar)
				px, py := gPinXY(t, pin)
				mid := (y0 + y1) / 2
				if pin.class("g-resent") {
					mid = y1 - 5
				}
				if px != x || py < mid-1 || py > mid+1 {
					t.Errorf("conn %d frame %s: pin at %g,%g, bar at %g from %g to %g", id, ref, px, py, x, y0, y1)
				}
			}
			// Dup ACK ticks: one per duplicate ACK the receiver sent,
			// as captured at the data sender's end.
			dups := gRefs(svg.all("g-dup"), "g")
			sawDup += len(dups)
			if !slices.Equal(dups, dir.dups) {
				t.Errorf("conn %d %s: dup ACK ticks %v, want %v", id, from, dups, dir.dups)
			}
			// SACK bars: one per block.
			var sacks []int
			for _, n := range svg.all("g-sack") {
				if n.XMLName.Local == "path" && n.attr("data-ref") != "" {
					f, _ := strconv.Atoi(n.attr("data-ref"))
					sacks = append(sacks, f)
				}
			}
			if !slices.Equal(sacks, dir.sacks) {
				t.Errorf("conn %d %s: SACK bars %v, want %v", id, from, sacks, dir.sacks)
			}
			sawSack += len(sacks)
			// The ACK line ends at the last ACK, on the y axis of the
			// graph.
			acks := svg.all("g-ack")
			if len(dir.acks) > 0 {
				if len(acks) == 0 || acks[0].XMLName.Local != "path" {
					t.Fatalf("conn %d %s: no ACK line", id, from)
				}
				_, endY := gPathEnd(t, acks[0].attr("d"))
				want := gYPx(t, svg, float64(dir.acks[len(dir.acks)-1]))
				if endY < want-0.2 || endY > want+0.2 {
					t.Errorf("conn %d %s: ACK line ends at y %g, want %g (ack %d)", id, from, endY, want, dir.acks[len(dir.acks)-1])
				}
			}
			// The words.
			for _, w := range []string{fmt.Sprintf("%s → %s: ", from, to), gPlural(len(dir.data), "segment")} {
				if !strings.Contains(desc, w) {
					t.Errorf("conn %d: desc lacks %q: %s", id, w, desc)
				}
			}
			if n := len(dir.resent); n > 0 && !strings.Contains(desc, fmt.Sprintf("; %d sent again", n)) {
				t.Errorf("conn %d: desc lacks %d sent again: %s", id, n, desc)
			}
			if n := len(dir.resent); n == 0 && strings.Contains(desc, "sent again") {
				t.Errorf("conn %d: desc says sent again: %s", id, desc)
			}
			if n := len(dir.lost); n > 0 && !strings.Contains(desc, fmt.Sprintf("%d lost on the link", n)) {
				t.Errorf("conn %d: desc lacks %d lost: %s", id, n, desc)
			}
		}
	}
	// Each lost data segment's bytes are sent again later: a resent
	// bar over the same bytes, after it.
	for _, id := range ids {
		for _, from := range []string{"client", "server"} {
			byFrame := map[int]*tracer.Packet{}
			at := map[int]time.Duration{}
			for _, e := range events {
				if e.Conn == id && e.Packet.From == from && e.Packet.At == from {
					byFrame[e.Packet.Frame], at[e.Packet.Frame] = e.Packet, e.Elapsed
				}
			}
			dir := gDirOf(t, events, id, from)
			for _, l := range dir.lost {
				lp := byFrame[l]
				if lp.Len == 0 {
					continue
				}
				found := false
				for _, r := range dir.resent {
					rp := byFrame[r]
					found = found || at[r] > at[l] && rp.Seq <= lp.Seq && rp.Seq+uint32(rp.Len) >= lp.Seq+uint32(lp.Len)
				}
				if !found {
					t.Errorf("conn %d: frame %d (seq %d len %d) lost, and no resent bar covers it: resent %v", id, l, lp.Seq, lp.Len, dir.resent)
				}
			}
		}
	}
	// Lesson 12 drops a segment, and what is lost is sent again.
	t.Logf("lesson 12: %d lost, %d resent, %d SACK bars, %d duplicate ACKs marked", sawLost, sawResent, sawSack, sawDup)
	if sawLost == 0 || sawResent == 0 || sawSack == 0 || sawDup == 0 {
		t.Errorf("lost %d, resent %d, SACK bars %d, duplicate ACKs %d in all: want some of each", sawLost, sawResent, sawSack, sawDup)
	}
}

// gDirWant is what the trace says one direction holds, by frames.
type gDirWant struct {
	data, lost, resent, dups, sacks []int
	acks                            []uint32
}

// gDirOf reads from the trace itself what the graph of from's data
// must show.
func gDirOf(t testing.TB, events []tracer.Event, id int, from string) gDirWant {
	var w gDirWant
	lost := wire.LostCopies(events, id)
	high := uint32(0)
	for i, e := range events {
		p := e.Packet
		if e.Conn != id || p == nil {
			continue
		}
		if p.From == from && p.At == from && p.Len > 0 {
			w.data = append(w.data, p.Frame)
			if lost[i] {
				w.lost = append(w.lost, p.Frame)
			}
			if slices.Contains(p.Analysis, "retransmission") || p.Seq+uint32(p.Len) <= high {
				w.resent = append(w.resent, p.Frame)
			}
			high = max(high, p.Seq+uint32(p.Len))
		}
		if p.From != from && p.At == from && strings.Contains(p.Flags, "ACK") && !strings.Contains(p.Flags, "RST") {
			w.acks = append(w.acks, p.Ack)
			if slices.Contains(p.Analysis, "duplicate-ack") {
				w.dups = append(w.dups, p.Frame)
			}
			for range gSackBlocks(p.Mark) {
				w.sacks = append(w.sacks, p.Frame)
			}
		}
	}
	slices.Sort(w.data)
	return w
}

// gRefs returns the frames of the elements named el among ns, sorted.
func gRefs(ns []*gNode, el string) []int {
	var out []int
	for _, n := range ns {
		if n.XMLName.Local == el && n.attr("data-ref") != "" {
			f, _ := strconv.Atoi(n.attr("data-ref"))
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

var gCmdRE = regexp.MustCompile(`[MmLlHhVv][^MmLlHhVv]*`)

// gPathEnd follows a path of M, m, l, h and v commands to its end.
func gPathEnd(t testing.TB, d string) (x, y float64) {
	t.Helper()
	for _, c := range gCmdRE.FindAllString(d, -1) {
		var nums []float64
		for _, f := range regexp.MustCompile(`-?[0-9]*\.?[0-9]+`).FindAllString(c[1:], -1) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatalf("path %q: %v", d, err)
			}
			nums = append(nums, v)
		}
		switch c[0] {
		case 'M':
			x, y = nums[0], nums[1]
		case 'm', 'l':
			x, y = x+nums[0], y+nums[1]
		case 'L':
			x, y = nums[0], nums[1]
		case 'h':
			x += nums[0]
		case 'v':
			y += nums[0]
		case 'H':
			x = nums[0]
		case 'V':
			y = nums[0]
		}
	}
	return x, y
}

// gYPx finds where value v is on the svg's left axis, from its grid
// lines and their labels.
func gYPx(t testing.TB, svg *gNode, v float64) float64 {
	t.Helper()
	var ys, vals []float64
	var grid []float64
	for _, n := range svg.all("g-grid") {
		var x, y, w float64
		fmt.Sscanf(n.attr("d"), "M%g %gh%g", &x, &y, &w)
		grid = append(grid, y)
	}
	var labels []string
	for _, n := range svg.all("g-tl") {
		if n.attr("text-anchor") == "end" {
			labels = append(labels, n.Text)
		}
	}
	if len(labels) != len(grid) || len(grid) < 2 {
		t.Fatalf("left axis: %d grid lines, %d labels", len(grid), len(labels))
	}
	unit := 1.0
	svg.walk(func(n *gNode) {
		if n.class("g-label") && strings.Contains(n.Text, "kB") {
			unit = 1000
		}
	})
	for i, l := range labels {
		f, err := strconv.ParseFloat(strings.ReplaceAll(l, ",", ""), 64)
		if err != nil {
			t.Fatal(err)
		}
		ys, vals = append(ys, grid[i]), append(vals, f*unit)
	}
	n := len(ys) - 1
	return ys[0] + (v-vals[0])/(vals[n]-vals[0])*(ys[n]-ys[0])
}

// TestSeqGraphNone: no data, no graph.
func TestSeqGraphNone(t *testing.T) {
	events := gLesson12(t)
	if h := seqGraph(events, 999); h != "" {
		t.Errorf("unknown connection: %q", h)
	}
	// Only a handshake: no data either way.
	var hs []tracer.Event
	for _, e := range events {
		if e.Conn == 1 && e.Packet.Len == 0 && strings.Contains(e.Packet.Flags, "SYN") {
			hs = append(hs, e)
		}
	}
	if h := seqGraph(hs, 1); h != "" {
		t.Errorf("handshake only: %q", h)
	}
}

// gSynthetic makes a client → server transfer of n segments of 1448
// bytes on loopback, an ACK for every second one, every 1000th segment
// sent again.
func gSynthetic(n int) []tracer.Event {
	events := make([]tracer.Event, 0, n*3/2+2)
	pkts := make([]tracer.Packet, 0, n*3/2+2) // one allocation
	add := func(t time.Duration, p tracer.Packet) {
		p.Proto, p.Frame = "tcp", len(pkts)+1
		pkts = append(pkts, p)
		events = append(events, tracer.Event{Elapsed: t, Conn: 1, Phase: tracer.PhasePacket, Actor: "wire", Packet: &pkts[len(pkts)-1]})
	}
	const mss = 1448
	seq := uint32(1)
	for i := 0; i < n; i++ {
		t := time.Duration(i) * 20 * time.Microsecond
		p := tracer.Packet{From: "client", To: "server", Flags: "ACK", Seq: seq, RawSeq: seq + 1000, Len: mss, Window: 65535, Ack: 1}
		if i%1000 == 999 {
			p.Seq, p.RawSeq = seq-mss, seq-mss+1000
			p.Analysis = []string{"retransmission"}
		} else {
			seq += mss
		}
		add(t, p)
		if i%2 == 1 {
			add(t+5*time.Microsecond, tracer.Packet{From: "server", To: "client", Flags: "ACK", Seq: 1, Ack: seq, RawAck: seq + 1000, Window: 3 << 20})
		}
	}
	return events
}

// gRace reports whether the test runs with -race, which makes the
// large graph ten times slower: it is then made of 20,000 segments,
// and its time is not bounded.
func gRace() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

func TestSeqGraphLarge(t *testing.T) {
	n := 100_000
	if gRace() {
		n = 20_000 // the same code, five times smaller: -race is slow
	}
	events := gSynthetic(n)
	start := time.Now()
	h := seqGraph(events, 1)
	took := time.Since(start)
	t.Logf("%d segments: %d bytes in %v", n, len(h), took)
	if len(h) > n*40 { // 4 MB for 100,000
		t.Errorf("%d segments: %d bytes, want at most %d", n, len(h), n*40)
	}
	if took > 5*time.Second && !gRace() { // generous: a busy machine
		t.Errorf("%d segments: took %v", n, took)
	}
	// 100 resends, each a bar and a mark; the rest merged.
	if refs := strings.Count(string(h), "data-ref="); refs != 2*(n/1000) {
		t.Errorf("%d elements with data-ref, want %d", refs, 2*(n/1000))
	}
	if !strings.Contains(string(h), "the other "+gInt(n-n/1000)+" segments, too many to keep apart, do not") {
		t.Errorf("desc does not say what has no hover: %.3000s", h)
	}
	// Well-formed, and the merged path holds every ordinary segment: a
	// smaller trace, the same code, parsed.
	m := min(n, 10_000)
	if gRace() {
		m = 3000
	}
	root := gParse(t, seqGraph(gSynthetic(m), 1))
	var merged []*gNode
	for _, m := range root.all("g-seg") {
		if m.XMLName.Local == "path" && m.attr("data-ref") == "" {
			merged = append(merged, m)
		}
	}
	if len(merged) != 1 || strings.Count(merged[0].attr("d"), "m")+1 != m-m/1000 {
		t.Errorf("merged segments: %d paths", len(merged))
	} else if !strings.HasPrefix(merged[0].attr("d"), "M") {
		t.Errorf("merged path: %.100s", merged[0].attr("d"))
	}
	// 2,000 ordinary segments or fewer: each its own, with its frame.
	root = gParse(t, seqGraph(gSynthetic(1500), 1))
	if refs := gRefs(root.all("g-seg"), "path"); len(refs) != 1500-1 {
		t.Errorf("1,500 segments: %d with data-ref", len(refs))
	}
}

// TestGTicks: round ticks within the range.
func TestGTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 10, []float64{0, 2, 4, 6, 8, 10}},
		{-0.3, 612, []float64{0, 100, 200, 300, 400, 500, 600}},
		{1, 1.05, []float64{1, 1.01, 1.02, 1.03, 1.04, 1.05}},
	} {
		got, _ := gTicks(tc.lo, tc.hi, 6)
		for i := range got {
			got[i] = float64(int64(got[i]*1e6+0.5)) / 1e6
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("gTicks(%g, %g) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
	if got := gTickLabel(2097152, 1); got != "2,097,152" {
		t.Errorf("gTickLabel: %q", got)
	}
	if got := gTickLabel(1.5, 0.5); got != "1.5" {
		t.Errorf("gTickLabel: %q", got)
	}
	var p gPath
	p.move(10, 20)
	p.line(10.04, 5.5)
	p.move(10.1, 20)
	p.line(30, 20)
	if got := p.String(); got != "M10 20v-14.5m.1 14.5h19.9" {
		t.Errorf("path %q", got)
	}
	_ = kernel.Gone
}

func TestCwndChart(t *testing.T) {
	samples := gJSONLines(t, "graph-lesson13-samples.jsonl")
	if len(samples) < 5 {
		t.Fatalf("%d samples", len(samples))
	}
	conn := samples[0].Conn
	// Samples among other events: only the connection's count.
	events := append(gLesson12(t), samples...)
	h := cwndChart(events, conn)
	gDump(t, "cwnd", h)
	if h == "" {
		t.Fatal("no chart with samples")
	}
	if strings.Contains(string(h), "url(") {
		t.Error("the chart refers to something by url(): the page must stand alone")
	}
	root := gParse(t, h)
	figs := root.all("g-zoom")
	if len(figs) != 1 {
		t.Fatalf("%d charts, want 1 (the client's socket)", len(figs))
	}
	// The cwnd line: a point per sample, ending at the last one's
	// window on the left axis.
	lines := root.all("g-cwnd-l")
	var cw *gNode
	for _, n := range lines {
		if n.XMLName.Local == "path" {
			cw = n
		}
	}
	if cw == nil {
		t.Fatal("no cwnd line")
	}
	last := samples[len(samples)-1].TCP
	_, y := gPathEnd(t, cw.attr("d"))
	want := gYPx(t, figs[0].all("g-svg")[0], float64(last.SndCwnd))
	if y < want-0.2 || y > want+0.2 {
		t.Errorf("cwnd line ends at y %g, want %g (cwnd %d)", y, want, last.SndCwnd)
	}
	if len(root.all("g-inflight")) == 0 || len(root.all("g-rtt")) == 0 {
		t.Error("no in-flight or RTT line")
	}
	desc := root.text()
	// The RTT's smallest and largest, said as such: not "from … to",
	// which reads as first and last.
	lo, hi := time.Duration(-1), time.Duration(0)
	for _, s := range samples {
		if r := s.TCP.RTT; r > 0 {
			hi = max(hi, r)
			if lo < 0 || r < lo {
				lo = r
			}
		}
	}
	if lo == hi {
		t.Fatalf("the samples' RTT does not change (%v): the test needs it to", lo)
	}
	for _, w := range []string{fmt.Sprintf("%d samples of the client's TCP_INFO", len(samples)),
		fmt.Sprintf("to %s segments", gInt(last.SndCwnd)),
		fmt.Sprintf("Smoothed RTT between %s and %s (right axis).", gDur(lo), gDur(hi))} {
		if !strings.Contains(desc, w) {
			t.Errorf("desc lacks %q: %s", w, desc)
		}
	}
	// ssthresh: drawn only where the kernel set one.
	finite := false
	for _, s := range samples {
		finite = finite || !s.TCP.SsthreshInfinite()
	}
	if got := len(root.all("g-ssthresh")) > 0; got != finite {
		t.Errorf("ssthresh line %v, want %v", got, finite)
	}
	set := slices.Clone(samples)
	for i := range set {
		in := *set[i].TCP
		if i >= len(set)/2 {
			in.SndSsthresh = 42
		}
		set[i].TCP = &in
	}
	h = cwndChart(set, conn)
	root = gParse(t, h)
	if len(root.all("g-ssthresh")) == 0 || !strings.Contains(root.text(), "first set in the sample at") ||
		!strings.Contains(root.text(), ": 42 segments") {
		t.Errorf("a finite ssthresh: no line or words: %s", root.text())
	}
	// One segment: the singular (after a timeout the kernel sets cwnd 1).
	for i := range set {
		in := *set[i].TCP
		in.SndSsthresh = 1
		if i == len(set)-1 {
			in.SndCwnd = 1
		}
		set[i].TCP = &in
	}
	text := gParse(t, cwndChart(set, conn)).text()
	if !strings.Contains(text, " to 1 segment (largest ") || !strings.Contains(text, ": 1 segment.") || strings.Contains(text, " 1 segments") {
		t.Errorf("one segment: %s", text)
	}

	// Without samples, no chart.
	if h := cwndChart(gLesson12(t), conn); h != "" {
		t.Errorf("no samples: %.200s", h)
	}
	if h := cwndChart(samples, conn+100); h != "" {
		t.Errorf("another connection: %.200s", h)
	}
}

func TestStateDiagram(t *testing.T) {
	events := gJSONLines(t, "graph-lesson12-states.jsonl")
	h := stateDiagram(events)
	gDump(t, "states", h)
	root := gParse(t, h)
	// The states marked: exactly those of the trace, by side.
	want := map[string]map[string]bool{}
	taken := map[string]int{}
	for _, e := range events {
		c := e.State
		for _, s := range []kernel.State{c.From, c.To} {
			n := gStateName(s)
			if want[n] == nil {
				want[n] = map[string]bool{}
			}
			want[n][c.Side] = true
		}
		if c.From != c.To {
			taken[gStateName(c.From)+" "+gStateName(c.To)+" "+c.Side]++
		}
	}
	boxes := root.all("g-state")
	if len(boxes) != len(gStates) {
		t.Errorf("%d state boxes, want %d", len(boxes), len(gStates))
	}
	for _, n := range boxes {
		s := n.attr("data-state")
		visited := n.class("g-visited")
		if visited != (want[s] != nil) {
			t.Errorf("%s: visited %v, want %v", s, visited, want[s] != nil)
		}
		hasC, hasS := len(n.all("g-mark-client")) == 1, len(n.all("g-mark-server")) == 1
		if hasC != want[s]["client"] || hasS != want[s]["server"] {
			t.Errorf("%s: marks C %v S %v, want %v %v", s, hasC, hasS, want[s]["client"], want[s]["server"])
		}
	}
	// In lesson 12: the client is never in LISTEN, the server never in
	// SYN-SENT, and nobody in CLOSING.
	if want["LISTEN"]["client"] || want["SYN-SENT"]["server"] || want["CLOSING"] != nil || want["TIME-WAIT"]["client"] != true {
		t.Errorf("lesson 12's states: %v", want)
	}
	// The changes made, with their counts.
	got := map[string]int{}
	for _, n := range root.all("g-taken") {
		for _, side := range []string{"client", "server"} {
			c, _ := strconv.Atoi(n.attr("data-" + side))
			if c > 0 {
				got[n.attr("data-from")+" "+n.attr("data-to")+" "+side] = c
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(taken) {
		t.Errorf("changes drawn %v\nwant %v", got, taken)
	}
	if taken["ESTABLISHED FIN-WAIT-1 client"] != 7 {
		t.Errorf("lesson 12: the client closed first %d times, want 7", taken["ESTABLISHED FIN-WAIT-1 client"])
	}
	// The paths, in the desc and visible.
	path := "client, connections 1–7: CLOSED → SYN-SENT → ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT"
	server := "server, connections 1–7: LISTEN → SYN-RECEIVED → ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED"
	listener := "the server's listener: CLOSED → LISTEN → CLOSED"
	var desc, items []string
	root.walk(func(n *gNode) {
		switch n.XMLName.Local {
		case "desc":
			desc = append(desc, n.Text)
		case "li":
			items = append(items, n.Text)
		}
	})
	for _, p := range []string{path, server, listener} {
		if len(desc) != 1 || !strings.Contains(desc[0], p) {
			t.Errorf("desc lacks %q: %v", p, desc)
		}
		if !slices.Contains(items, p) {
			t.Errorf("list lacks %q: %q", p, items)
		}
	}

	// A reset from ESTABLISHED: a change the figure has no arrow for,
	// drawn dashed.
	rst := []tracer.Event{{Phase: tracer.PhaseState, Conn: 1, State: &tracer.StateChange{Side: "client", From: kernel.Established, To: kernel.Close}}}
	root = gParse(t, stateDiagram(rst))
	extra := root.all("g-extra")
	if len(extra) != 1 || extra[0].attr("data-from") != "ESTABLISHED" || extra[0].attr("data-to") != "CLOSED" {
		t.Errorf("reset: %d extra changes", len(extra))
	}
	if h := stateDiagram(gLesson12(t)); h != "" {
		t.Errorf("no state events: %.200s", h)
	}
}

// TestGraphAssets: the script and the style use only the page's
// colours, and the script guards every handler.
func TestGraphAssets(t *testing.T) {
	css, err := os.ReadFile("assets/graph.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`#[0-9a-fA-F]{3,6}\b|rgb\(|hsl\(`).FindAllString(string(css), -1) {
		t.Errorf("graph.css: colour %q: use the page's variables", m)
	}
	vars := map[string]bool{}
	for _, v := range strings.Fields("--fg --bg --muted --line --client --server --data --ack --lost --resent --win --sack") {
		vars[v] = true
	}
	for _, m := range regexp.MustCompile(`var\((--[a-z-]+)\)`).FindAllStringSubmatch(string(css), -1) {
		if !vars[m[1]] {
			t.Errorf("graph.css: %s is not one of the page's variables", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*\.([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(css), -1) {
		if !strings.HasPrefix(m[1], "g-") {
			t.Errorf("graph.css: class %s does not start with g-", m[1])
		}
	}
	js, err := os.ReadFile("assets/graph.js")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "</script") {
		t.Error("graph.js would end its <script> early")
	}
}

// TestGraphZoomInChromium loads graphs into headless Chromium (skipped
// where it is missing) and zooms them as a user would: the + button,
// a drag across the second graph, a double-click, reset. The time
// axis is drawn again, the marks keep their shape, and no script
// error is thrown.
func TestGraphZoomInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium here (Debian's chromium package): the zoom is not tried in a browser")
	}
	events := append(gLesson12(t), gJSONLines(t, "graph-lesson12-states.jsonl")...)
	css, _ := os.ReadFile("assets/graph.css")
	js, _ := os.ReadFile("assets/graph.js")
	page := `<!doctype html><html><head><meta charset="utf-8"><style>:root{--fg:black;--bg:white;--muted:gray;--line:silver;--client:blue;--server:orange;--data:blue;--ack:green;--lost:red;--resent:purple;--win:gray;--sack:orange}` +
		string(css) + `</style><script>var gErrs=[];window.addEventListener("error",function(e){gErrs.push(e.message)});</script></head><body>` +
		string(seqGraph(events, 2)) + string(stateDiagram(events)) + `<script>` + string(js) + `</script><script>
window.addEventListener("load", function () {
  var out = [];
  try {
    var figs = document.querySelectorAll("figure.g-zoom");
    function state(f) {
      return (f.querySelector(".g-zoomed").getAttribute("transform") || "none") + " | " +
        [].map.call(f.querySelectorAll(".g-xaxis text"), function (t) { return t.textContent; }).join(",") + " | " +
        (f.querySelector(".g-pin") ? f.querySelector(".g-pin").getAttribute("transform") : "");
    }
    out.push("figures " + figs.length);
    out.push("start " + state(figs[0]));
    figs[0].querySelector(".g-in").click();
    out.push("plus " + state(figs[0]));
    var svg = figs[1].querySelector("svg"), r = svg.getBoundingClientRect(), w = svg.viewBox.baseVal.width;
    function pe(type, x) {
      (type === "pointerdown" ? svg : window).dispatchEvent(new PointerEvent(type, {clientX: r.left + x * r.width / w, clientY: r.top + 100, button: 0, bubbles: true}));
    }
    pe("pointerdown", 200); pe("pointermove", 300); pe("pointerup", 300);
    out.push("drag " + state(figs[1]));
    svg.dispatchEvent(new MouseEvent("dblclick", {bubbles: true}));
    out.push("dblclick " + state(figs[1]));
    figs[0].querySelector(".g-out").click();
    figs[0].querySelector(".g-reset").click();
    out.push("reset " + state(figs[0]));
  } catch (e) { out.push("thrown " + e); }
  out.push("errors " + gErrs.join(";"));
  var pre = document.createElement("pre"); pre.id = "g-out"; pre.textContent = "\n" + out.join("\n") + "\n"; document.body.appendChild(pre);
});
</script></body></html>`
	dir := t.TempDir()
	file := filepath.Join(dir, "zoom.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--virtual-time-budget=500", "--dump-dom", "file://"+file)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	dom, err := cmd.Output()
	if err != nil {
		t.Skipf("chromium did not run here: %v", err)
	}
	_, res, ok := strings.Cut(string(dom), `<pre id="g-out">`)
	if !ok {
		t.Fatalf("no results in the page:\n%.3000s", dom)
	}
	res, _, _ = strings.Cut(res, "</pre>")
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(res), "\n") {
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	t.Logf("%s", res)
	if got["errors"] != "" || got["thrown"] != "" {
		t.Errorf("script errors: %q %q", got["errors"], got["thrown"])
	}
	if got["figures"] != "2" {
		t.Fatalf("figures %q, want 2 (lesson 12's connection 2: both directions)", got["figures"])
	}
	part := func(k string, i int) string { return strings.Split(got[k]+" |  | ", " | ")[i] }
	if !strings.Contains(part("plus", 0), "scale(2") || !strings.Contains(part("plus", 2), "scale(0.5") {
		t.Errorf("+: %q, want the plot scaled 2 across and its marks 0.5", got["plus"])
	}
	if part("plus", 1) == part("start", 1) {
		t.Errorf("+: the time axis is as before: %q", part("plus", 1))
	}
	if !strings.Contains(part("drag", 0), "scale(6.") { // 100 px of the 636 px plot
		t.Errorf("drag: %q, want scaled about 6.36 across", got["drag"])
	}
	if part("dblclick", 0) != "none" || part("reset", 0) != "none" || part("reset", 1) != part("start", 1) || part("reset", 2) != part("start", 2) {
		t.Errorf("double-click %q, reset %q: want all as at the start %q", got["dblclick"], got["reset"], got["start"])
	}
}

// TestSeqGraphMarks: a made-up loopback trace with known numbers: the
// SACK bars at the relative bytes of their raw blocks, a duplicate ACK,
// a zero window, a resend found by its numbers alone.
func TestSeqGraphMarks(t *testing.T) {
	const isn = 4_000_000_000 // raw numbers wrap past 2³²
	var events []tracer.Event
	add := func(ms int, p tracer.Packet) {
		p.Proto, p.Frame = "tcp", len(events)+1
		if p.From == "client" {
			p.RawSeq = p.Seq + isn
		} else {
			p.RawAck = p.Ack + isn
		}
		events = append(events, tracer.Event{Elapsed: time.Duration(ms) * time.Millisecond, Conn: 3, Phase: tracer.PhasePacket, Packet: &p})
	}
	data := func(ms int, seq uint32) {
		add(ms, tracer.Packet{From: "client", To: "server", Flags: "ACK", Seq: seq, Ack: 1, Len: 1000, Window: 5000})
	}
	ack := func(ms int, a uint32, win int, mark string, analysis ...string) {
		add(ms, tracer.Packet{From: "server", To: "client", Flags: "ACK", Seq: 1, Ack: a, Window: win, Mark: mark, Analysis: analysis})
	}
	data(10, 1)
	data(11, 1001) // lost on the way: loopback cannot tell
	data(12, 2001)
	ack(20, 1001, 8000, "")
	ack(21, 1001, 8000, fmt.Sprintf("ts 5 6 sack %d-%d", uint32(2001+isn), uint32(3001+isn)), "duplicate-ack")
	data(30, 1001) // no analysis: its bytes were sent before
	ack(40, 3001, 0, "", "zero-window")
	h := seqGraph(events, 3)
	root := gParse(t, h)
	svg := root.all("g-svg")[0]
	sacks := gRefs(svg.all("g-sack"), "path")
	if !slices.Equal(sacks, []int{5}) {
		t.Fatalf("SACK bars %v, want frame 5's", sacks)
	}
	for _, n := range svg.all("g-sack") {
		if n.XMLName.Local != "path" || n.attr("data-ref") == "" {
			continue
		}
		_, y0, y1 := gBar(t, n)
		if w0, w1 := gYPx(t, svg, 2001), gYPx(t, svg, 3001); y0 < w0-0.1 || y0 > w0+0.1 || y1 < w1-0.1 || y1 > w1+0.1 {
			t.Errorf("SACK bar from y %g to %g, want %g to %g (bytes 2001 to 3001)", y0, y1, w0, w1)
		}
	}
	if got := gRefs(svg.all("g-dup"), "g"); !slices.Equal(got, []int{5}) {
		t.Errorf("dup ACK marks %v, want [5]", got)
	}
	if got := gRefs(svg.all("g-zwin"), "g"); !slices.Equal(got, []int{7}) {
		t.Errorf("zero-window marks %v, want [7]", got)
	}
	if got := gRefs(svg.all("g-resent"), "g"); !slices.Equal(got, []int{6}) {
		t.Errorf("resent marks %v, want [6]", got)
	}
	if got := gRefs(svg.all("g-lost"), "g"); got != nil {
		t.Errorf("lost marks on loopback: %v", got)
	}
	text := root.text()
	for _, w := range []string{"client → server: 3,000 bytes in 4 segments over 20 ms; 1 sent again.",
		"1 duplicate ACK (+).", "1 ACK with SACK blocks", "1 ACK advertises a zero window"} {
		if !strings.Contains(text, w) {
			t.Errorf("desc lacks %q: %s", w, text)
		}
	}
	if strings.Contains(text, "lost") {
		t.Errorf("desc says lost: %s", text)
	}

	// One segment of one byte: no span, no plural.
	events = nil
	add(10, tracer.Packet{From: "client", To: "server", Flags: "PSH ACK", Seq: 1, Ack: 1, Len: 1, Window: 5000})
	text = gParse(t, seqGraph(events, 3)).text()
	if !strings.Contains(text, "client → server: 1 byte in 1 segment. ") || strings.Contains(text, " over 0") {
		t.Errorf("one segment: %s", text)
	}
}

// gStateEvents makes state events: conn, side, local and remote
// address, from, to, and the change's other fields.
func gStateEvent(conn int, side, local, remote string, from, to kernel.State, c tracer.StateChange) tracer.Event {
	c.Side, c.From, c.To = side, from, to
	e := tracer.Event{Phase: tracer.PhaseState, Conn: conn, State: &c}
	if local != "" {
		e.Local = netip.MustParseAddrPort(local)
	}
	if remote != "" {
		e.Remote = netip.MustParseAddrPort(remote)
	}
	return e
}

// gPaths returns the diagram's paths in words, and its edges by
// from, to and kind.
func gPaths(t *testing.T, events []tracer.Event) ([]string, map[string]*gNode) {
	t.Helper()
	root := gParse(t, stateDiagram(events))
	var items []string
	root.walk(func(n *gNode) {
		if n.XMLName.Local == "li" {
			items = append(items, n.Text)
		}
	})
	edges := map[string]*gNode{}
	for _, n := range root.all("g-edge") {
		edges[n.attr("data-from")+" "+n.attr("data-to")+" "+n.attr("data-kind")] = n
	}
	return items, edges
}

// TestStateDiagramSockets: sockets without a connection number
// (listeners, connects that failed before a connection existed) each
// have their own path, told apart by their addresses, and the paths
// say how many sockets took them (lessons 09 and 17).
func TestStateDiagramSockets(t *testing.T) {
	none := tracer.StateChange{}
	asked := tracer.StateChange{Asked: true}
	ev := []tracer.Event{
		gStateEvent(0, "server", "127.0.0.1:41967", "", kernel.Close, kernel.Listen, asked),
		gStateEvent(0, "server", "127.0.0.1:41967", "", kernel.Listen, kernel.Close, none),
		gStateEvent(0, "server", "127.0.0.1:40233", "", kernel.Close, kernel.Listen, asked),
		gStateEvent(0, "server", "127.0.0.1:34441", "", kernel.Close, kernel.Listen, asked),
		gStateEvent(0, "server", "127.0.0.1:40233", "", kernel.Listen, kernel.Close, none),
		gStateEvent(0, "server", "127.0.0.1:34441", "", kernel.Listen, kernel.Close, none),
		// Two failed connects to the same address, no local address.
		gStateEvent(0, "client", "", "192.0.2.2:8001", kernel.Close, kernel.SynSent, none),
		gStateEvent(0, "client", "", "192.0.2.2:8001", kernel.SynSent, kernel.Close, none),
		gStateEvent(0, "client", "", "192.0.2.2:8001", kernel.Close, kernel.SynSent, none),
		gStateEvent(0, "client", "", "192.0.2.2:8001", kernel.SynSent, kernel.Close, none),
		// A listener on a port used before, later.
		gStateEvent(0, "server", "127.0.0.1:41967", "", kernel.Close, kernel.Listen, none),
	}
	items, edges := gPaths(t, ev)
	want := []string{
		"the server's 3 listeners: CLOSED → LISTEN → CLOSED",
		"the client's 2 sockets without a connection: CLOSED → SYN-SENT → CLOSED",
		"the server's listener: CLOSED → LISTEN",
	}
	if !slices.Equal(items, want) {
		t.Errorf("paths\n%q\nwant\n%q", items, want)
	}
	if n := edges["LISTEN CLOSED "]; n == nil || n.attr("data-server") != "3" {
		t.Errorf("LISTEN → CLOSED: %v", n)
	}
	// CLOSED → LISTEN found when asked is still one step: the
	// machine has no other way.
	if n := edges["CLOSED LISTEN "]; n == nil || n.attr("data-server") != "4" {
		t.Errorf("CLOSED → LISTEN: %v", n)
	}
}

// TestStateDiagramAsked: a change found when the kernel was asked that
// may have gone through other states (CLOSE_WAIT → gone, through
// LAST-ACK) is drawn dashed, labelled so, and ⇢ in the path; not as
// the figure's one step (lesson 03 with --capture=off).
func TestStateDiagramAsked(t *testing.T) {
	asked := tracer.StateChange{Asked: true}
	ev := []tracer.Event{
		gStateEvent(1, "client", "127.0.0.1:35674", "127.0.0.1:35771", kernel.Established, kernel.TimeWait, asked),
		gStateEvent(1, "server", "127.0.0.1:35771", "127.0.0.1:35674", kernel.CloseWait, kernel.Gone, asked),
		gStateEvent(1, "server", "127.0.0.1:35771", "127.0.0.1:35674", kernel.FinWait2, kernel.TimeWait, asked),
	}
	items, edges := gPaths(t, ev)
	if d := gParse(t, stateDiagram(ev)).all("g-svg")[0]; !strings.Contains(d.text(), "Dashed: a change found when the kernel was asked") {
		t.Errorf("desc does not say what dashed is: %s", d.text())
	}
	for _, w := range []string{"client, connection 1: ESTABLISHED ⇢ TIME-WAIT", "server, connection 1: CLOSE-WAIT ⇢ CLOSED ⇢ FIN-WAIT-2 → TIME-WAIT"} {
		if !slices.Contains(items, w) {
			t.Errorf("paths lack %q: %q", w, items)
		}
	}
	for _, k := range []string{"CLOSE-WAIT CLOSED", "ESTABLISHED TIME-WAIT"} {
		n := edges[k+" found when asked"]
		if n == nil || !n.class("g-asked") || !n.class("g-taken") {
			t.Errorf("%s: not drawn as found when asked: %v", k, n)
			continue
		}
		if !strings.HasPrefix(n.text(), "found when asked") {
			t.Errorf("%s: label %q", k, n.text())
		}
		if n := edges[k+" "]; n != nil && n.class("g-taken") {
			t.Errorf("%s also drawn as a step", k)
		}
	}
	// FIN-WAIT-2 → TIME-WAIT has no other way: the figure's arrow.
	if n := edges["FIN-WAIT-2 TIME-WAIT "]; n == nil || n.attr("data-server") != "1" || n.class("g-asked") {
		t.Errorf("FIN-WAIT-2 → TIME-WAIT: %v", n)
	}
	css, err := os.ReadFile("assets/graph.css")
	if err != nil || !regexp.MustCompile(`\.g-edge\.g-asked path \{[^}]*stroke-dasharray`).Match(css) {
		t.Errorf("graph.css does not dash .g-asked: %v", err)
	}
	if gMaybeMany(kernel.Close, kernel.Listen) || !gMaybeMany(kernel.CloseWait, kernel.Gone) || !gMaybeMany(kernel.FinWait1, kernel.TimeWait) || gMaybeMany(kernel.Established, kernel.CloseWait) {
		t.Error("gMaybeMany")
	}
}

// TestStateDiagramCauses: changes the figure has no arrow for say what
// made them when the trace says; a connect refused with RST is not the
// figure's "close"; ESTABLISHED → CLOSED goes around LISTEN (lesson 09).
func TestStateDiagramCauses(t *testing.T) {
	rst := tracer.StateChange{CauseFlags: "RST ACK"}
	ev := []tracer.Event{
		gStateEvent(1, "client", "127.0.0.1:1", "127.0.0.1:9", kernel.Close, kernel.SynSent, tracer.StateChange{}),
		gStateEvent(1, "client", "127.0.0.1:1", "127.0.0.1:9", kernel.SynSent, kernel.Close, rst),
		gStateEvent(2, "client", "127.0.0.1:2", "127.0.0.1:9", kernel.Established, kernel.Close, rst),
		gStateEvent(2, "server", "127.0.0.1:9", "127.0.0.1:2", kernel.Established, kernel.Close, tracer.StateChange{}),
		gStateEvent(3, "server", "127.0.0.1:9", "127.0.0.1:3", kernel.CloseWait, kernel.Close, tracer.StateChange{Reason: tracer.ReasonListenerClosed}),
	}
	items, edges := gPaths(t, ev)
	if n := edges["SYN-SENT CLOSED "]; n == nil || n.class("g-taken") {
		t.Errorf("a refused connect counted as the figure's close: %v", n)
	}
	for k, label := range map[string]string{
		"SYN-SENT CLOSED RST":               "RST  C×1",
		"ESTABLISHED CLOSED RST":            "RST  C×1",
		"ESTABLISHED CLOSED ":               "this run  S×1",
		"CLOSE-WAIT CLOSED listener closed": "listener closed  S×1",
	} {
		n := edges[k]
		if n == nil || !n.class("g-extra") || n.text() != label {
			t.Errorf("%s: %v, want label %q", k, n, label)
		}
	}
	for _, w := range []string{"client, connection 1: CLOSED → SYN-SENT → CLOSED (RST)", "server, connection 3: CLOSE-WAIT → CLOSED (listener closed)"} {
		if !slices.Contains(items, w) {
			t.Errorf("paths lack %q: %q", w, items)
		}
	}
	// No extra edge crosses a box other than its own two.
	num := regexp.MustCompile(`-?[0-9.]+`)
	for k, n := range edges {
		if !n.class("g-extra") {
			continue
		}
		var path *gNode
		n.walk(func(c *gNode) {
			if path == nil && c.XMLName.Local == "path" {
				path = c
			}
		})
		v := num.FindAllString(path.attr("d"), -1)
		for i := 0; i+1 < len(v); i += 2 {
			x, _ := strconv.ParseFloat(v[i], 64)
			y, _ := strconv.ParseFloat(v[i+1], 64)
			for _, s := range gStates {
				if s.name != n.attr("data-from") && s.name != n.attr("data-to") && gInBox(s, [2]float64{x, y}, 0) {
					t.Errorf("%s passes through %s at %g,%g", k, s.name, x, y)
				}
			}
		}
		if k == "ESTABLISHED CLOSED " && len(v) < 8 {
			t.Errorf("ESTABLISHED → CLOSED is straight: %s", path.attr("d"))
		}
	}
}
