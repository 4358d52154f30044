package page

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The TCP state diagram, as RFC 9293's figure 5 draws it, at fixed
// places: the states this run's sockets were seen in (PhaseState
// events) marked, C for the client's and S for the server's, the
// changes they made drawn heavier with how often each side made them,
// and each socket's path in words below.

// gState is a box of the diagram.
type gState struct {
	name string  // as RFC 9293 writes it
	x, y float64 // its centre
}

var gStates = []gState{
	{"CLOSED", 350, 50},
	{"LISTEN", 350, 130},
	{"SYN-RECEIVED", 130, 215},
	{"SYN-SENT", 570, 215},
	{"ESTABLISHED", 350, 300},
	{"FIN-WAIT-1", 130, 390},
	{"CLOSE-WAIT", 570, 390},
	{"CLOSING", 350, 450},
	{"FIN-WAIT-2", 130, 490},
	{"LAST-ACK", 570, 490},
	{"TIME-WAIT", 350, 555},
}

// Box size and the diagram's.
const (
	gBoxW    = 118
	gBoxH    = 30
	gStatesW = 760 // the figure's 700, and its left margin
	gStatesX = 50  // where the figure's 0 is
	gStatesH = 620
)

// gEdge is a change of state the figure draws: a path of straight
// pieces, the words of what makes it happen, where they go.
type gEdge struct {
	from, to string
	pts      [][2]float64
	label    string
	lx, ly   float64
	anchor   string
}

var gEdges = []gEdge{
	{"CLOSED", "LISTEN", [][2]float64{{370, 65}, {370, 115}}, "passive open (Listen)", 376, 94, "start"},
	{"LISTEN", "CLOSED", [][2]float64{{330, 115}, {330, 65}}, "close", 324, 94, "end"},
	{"CLOSED", "SYN-SENT", [][2]float64{{409, 50}, {590, 50}, {590, 200}}, "active open (Dial) / snd SYN", 584, 120, "end"},
	{"SYN-SENT", "CLOSED", [][2]float64{{620, 200}, {620, 62}, {409, 62}}, "close", 614, 150, "end"},
	{"LISTEN", "SYN-RECEIVED", [][2]float64{{291, 130}, {130, 130}, {130, 200}}, "rcv SYN / snd SYN,ACK", 136, 124, "start"},
	{"SYN-SENT", "SYN-RECEIVED", [][2]float64{{511, 215}, {189, 215}}, "rcv SYN / snd SYN,ACK (simultaneous open)", 350, 209, "middle"},
	{"SYN-SENT", "ESTABLISHED", [][2]float64{{570, 230}, {570, 300}, {409, 300}}, "rcv SYN,ACK / snd ACK", 565, 294, "end"},
	{"SYN-RECEIVED", "ESTABLISHED", [][2]float64{{130, 230}, {130, 300}, {291, 300}}, "rcv ACK of SYN", 136, 294, "start"},
	{"SYN-RECEIVED", "FIN-WAIT-1", [][2]float64{{85, 230}, {85, 375}}, "close / snd FIN", 80, 300, "end"},
	{"ESTABLISHED", "FIN-WAIT-1", [][2]float64{{330, 315}, {330, 385}, {189, 385}}, "close / snd FIN", 324, 379, "end"},
	{"ESTABLISHED", "CLOSE-WAIT", [][2]float64{{370, 315}, {370, 385}, {511, 385}}, "rcv FIN / snd ACK", 376, 379, "start"},
	{"FIN-WAIT-1", "FIN-WAIT-2", [][2]float64{{110, 405}, {110, 475}}, "rcv ACK of FIN", 104, 444, "end"},
	{"FIN-WAIT-1", "CLOSING", [][2]float64{{189, 398}, {320, 398}, {320, 435}}, "rcv FIN / snd ACK", 196, 412, "start"},
	{"FIN-WAIT-1", "TIME-WAIT", [][2]float64{{160, 405}, {160, 440}, {250, 440}, {250, 546}, {291, 546}}, "rcv FIN,ACK / snd ACK", 256, 520, "start"},
	{"FIN-WAIT-2", "TIME-WAIT", [][2]float64{{130, 505}, {130, 563}, {291, 563}}, "rcv FIN / snd ACK", 136, 578, "start"},
	{"CLOSING", "TIME-WAIT", [][2]float64{{350, 465}, {350, 540}}, "rcv ACK of FIN", 356, 505, "start"},
	{"CLOSE-WAIT", "LAST-ACK", [][2]float64{{570, 405}, {570, 475}}, "close / snd FIN", 576, 444, "start"},
	{"LAST-ACK", "CLOSED", [][2]float64{{629, 490}, {672, 490}, {672, 38}, {409, 38}}, "rcv ACK of FIN", 666, 340, "end"},
	{"TIME-WAIT", "CLOSED", [][2]float64{{350, 570}, {350, 600}, {-35, 600}, {-35, 50}, {291, 50}}, "timeout (2 MSL; 60 s on Linux)", -29, 594, "start"},
}

// gStateName names a kernel state as the figure does.
func gStateName(s kernel.State) string {
	switch s {
	case kernel.Gone, kernel.Close:
		return "CLOSED"
	case kernel.SynRecv, kernel.NewSynRecv:
		return "SYN-RECEIVED"
	}
	return strings.ReplaceAll(s.String(), "_", "-")
}

// gWalk is the path of one socket: its states in order, and for each
// change after the first whether it was found when the kernel was
// asked and may have passed through others. key tells sockets apart:
// side, connection and local address (and, for a socket without a
// connection, the remote one).
type gWalk struct {
	side   string
	conn   int
	key    string
	states []string
	asked  []bool
	why    []string // what made each change, when the trace says: "RST", "listener closed"
}

// gTaken counts a change of state by side.
type gTaken struct{ client, server int }

// gKind is a change of state as the diagram draws it: from, to, and
// what the trace says made it when the figure's arrow would not say
// it: "" (the figure's arrow, or none), gKindAsked, "RST",
// "listener closed".
type gKind struct{ from, to, kind string }

const gKindAsked = "found when asked"

// gKindOf says how the diagram counts a change: a change found when
// the kernel was asked that may have gone through other states is not
// one step; a change a received RST made, or the closing of its
// listener, is not the figure's "close".
func gKindOf(c *tracer.StateChange) string {
	switch {
	case c.Asked && gMaybeMany(c.From, c.To):
		return gKindAsked
	case strings.Contains(c.CauseFlags, "RST"):
		return "RST"
	case c.Reason == tracer.ReasonListenerClosed:
		return "listener closed"
	}
	return ""
}

// gMaybeMany reports whether the TCP state machine can go from one
// state to the other through at least one state between
// ([tracer.Transition]'s changes, not through CLOSED, where a socket
// ends), so that a change found when asked may hide others.
func gMaybeMany(from, to kernel.State) bool {
	norm := func(s kernel.State) kernel.State {
		if s == kernel.Gone {
			return kernel.Close
		}
		if s == kernel.NewSynRecv {
			return kernel.SynRecv
		}
		return s
	}
	from, to = norm(from), norm(to)
	var all []kernel.State
	for s := kernel.State(1); s <= kernel.NewSynRecv; s++ {
		if s != kernel.Close && s != kernel.NewSynRecv {
			all = append(all, s)
		}
	}
	// The states one change from "from", then all reachable from them.
	seen := map[kernel.State]bool{}
	var todo []kernel.State
	for _, s := range all {
		if s != from && s != to && tracer.Transition(from, s) {
			seen[s], todo = true, append(todo, s)
		}
	}
	for len(todo) > 0 {
		s := todo[0]
		todo = todo[1:]
		if tracer.Transition(s, to) {
			return true
		}
		for _, n := range all {
			if !seen[n] && n != s && n != to && tracer.Transition(s, n) {
				seen[n], todo = true, append(todo, n)
			}
		}
	}
	return false
}

// stateDiagram returns the TCP state diagram with the states of this
// run's sockets marked, as a <figure> with an <svg> and the paths in
// words; "" without state events.
func stateDiagram(events []tracer.Event) template.HTML {
	var walks []*gWalk
	visited := map[string]map[string]bool{} // state → side → seen
	taken := map[gKind]*gTaken{}
	for _, e := range events {
		c := e.State
		if e.Phase != tracer.PhaseState || c == nil {
			continue
		}
		from, to := gStateName(c.From), gStateName(c.To)
		key := fmt.Sprintf("%s %d %v", c.Side, e.Conn, e.Local)
		if e.Conn == 0 && c.Side != "server" {
			key += fmt.Sprintf(" %v", e.Remote)
		}
		var w *gWalk
		if e.Conn == 0 {
			// A socket without a connection number: a listener, a
			// connect that failed. The same addresses may be another
			// socket's later: one that ended in CLOSED or is elsewhere
			// is not this one.
			for _, x := range walks {
				last := x.states[len(x.states)-1]
				if x.key == key && last == from && !(last == "CLOSED" && len(x.states) > 1) {
					w = x
				}
			}
		} else {
			for _, x := range walks {
				if x.key == key {
					w = x
				}
			}
		}
		if w == nil {
			w = &gWalk{side: c.Side, conn: e.Conn, key: key, states: []string{from}}
			walks = append(walks, w)
		}
		for _, s := range []string{from, to} {
			if visited[s] == nil {
				visited[s] = map[string]bool{}
			}
			visited[s][c.Side] = true
		}
		if from == to {
			continue // a hand-over to the kernel: no change
		}
		if w.states[len(w.states)-1] != from {
			// A change the trace did not see between: say where the
			// socket was found.
			w.states = append(w.states, from)
			w.asked = append(w.asked, true)
			w.why = append(w.why, "")
		}
		kind := gKindOf(c)
		w.states = append(w.states, to)
		w.asked = append(w.asked, kind == gKindAsked)
		if kind == gKindAsked {
			w.why = append(w.why, "")
		} else {
			w.why = append(w.why, kind)
		}
		k := gKind{from, to, kind}
		if taken[k] == nil {
			taken[k] = &gTaken{}
		}
		if c.Side == "server" {
			taken[k].server++
		} else {
			taken[k].client++
		}
	}
	if len(walks) == 0 {
		return ""
	}
	lines := gWalkLines(walks)

	var b strings.Builder
	b.WriteString(`<figure class="g-states">`)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="g-svg" viewBox="0 0 %d %d" role="img" aria-labelledby="g-states-t g-states-d">`, gStatesW, gStatesH)
	title := "The TCP state diagram (RFC 9293, figure 5), with the states this run's sockets were seen in"
	var desc strings.Builder
	var names []string
	for _, s := range gStates {
		if visited[s.name] != nil {
			names = append(names, s.name)
		}
	}
	fmt.Fprintf(&desc, "States seen: %s. C marks a client's socket, S a server's; the changes made are drawn heavier, with how often. ", strings.Join(names, ", "))
	kinds := map[string]bool{}
	for k := range taken {
		kinds[k.kind] = true
	}
	if kinds["RST"] || kinds["listener closed"] {
		desc.WriteString("A change the figure has no arrow for is labelled with what made it: RST when a reset arrived, listener closed when its listener was closed before accepting it. ")
	}
	if kinds[gKindAsked] {
		desc.WriteString("Dashed: a change found when the kernel was asked, maybe through other states. ")
	}
	desc.WriteString(strings.Join(lines, "; "))
	desc.WriteString(".")
	fmt.Fprintf(&b, `<title id="g-states-t">%s</title><desc id="g-states-d">%s</desc>`, gEsc(title), gEsc(desc.String()))

	fmt.Fprintf(&b, `<g transform="translate(%d 0)">`, gStatesX)
	// The changes first, the boxes over their ends.
	drawn := map[gKind]bool{}
	for _, e := range gEdges {
		k := gKind{e.from, e.to, ""}
		drawn[k] = true
		gDrawEdge(&b, e, taken[k], false, "")
	}
	// Changes this run made that the figure has no arrow for (a reset,
	// the closing of a listener), or that were found when the kernel
	// was asked and may span several: straight where that crosses no
	// other box, else curved around them; those found when asked
	// dashed.
	var extra []gKind
	for k := range taken {
		if !drawn[k] && gKnown(k.from) && gKnown(k.to) {
			extra = append(extra, k)
		}
	}
	slices.SortFunc(extra, func(a, b gKind) int {
		return strings.Compare(a.from+" "+a.to+" "+a.kind, b.from+" "+b.to+" "+b.kind)
	})
	same := map[[2]string]int{} // edges between the same two boxes so far: their words one under another
	for i, k := range extra {
		pts := gExtraPath(gStateAt(k.from), gStateAt(k.to), float64(i%3-1)*12)
		m := pts[len(pts)/2]
		label := k.kind
		if label == "" {
			label = "this run"
		}
		lx, anchor := m[0]+4, "start"
		if m[0] > 520 { // near the right edge: the words to the left
			lx, anchor = m[0]-4, "end"
		}
		j := same[[2]string{k.from, k.to}]
		same[[2]string{k.from, k.to}]++
		gDrawEdge(&b, gEdge{k.from, k.to, pts, label, lx, m[1] - 4 + float64(j)*11, anchor}, taken[k], true, k.kind)
	}
	for _, s := range gStates {
		v := visited[s.name]
		class := "g-state"
		if v != nil {
			class += " g-visited"
		}
		fmt.Fprintf(&b, `<g class="%s" data-state="%s"`, class, s.name)
		if v["client"] {
			b.WriteString(` data-client="1"`)
		}
		if v["server"] {
			b.WriteString(` data-server="1"`)
		}
		fmt.Fprintf(&b, `><rect x="%g" y="%g" width="%d" height="%d" rx="4"/><text x="%g" y="%g" text-anchor="middle">%s</text>`,
			s.x-gBoxW/2, s.y-gBoxH/2, gBoxW, gBoxH, s.x, s.y+4, s.name)
		if v["client"] {
			fmt.Fprintf(&b, `<g class="g-mark-client"><circle cx="%g" cy="%g" r="7"/><text x="%g" y="%g" text-anchor="middle">C</text></g>`,
				s.x-gBoxW/2, s.y-gBoxH/2, s.x-gBoxW/2, s.y-gBoxH/2+3)
		}
		if v["server"] {
			fmt.Fprintf(&b, `<g class="g-mark-server"><rect x="%g" y="%g" width="14" height="14"/><text x="%g" y="%g" text-anchor="middle">S</text></g>`,
				s.x+gBoxW/2-7, s.y-gBoxH/2-7, s.x+gBoxW/2, s.y-gBoxH/2+3)
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</g></svg><figcaption><ul class="g-paths">`)
	for _, l := range lines {
		fmt.Fprintf(&b, `<li>%s</li>`, gEsc(l))
	}
	b.WriteString(`</ul></figcaption></figure>`)
	return template.HTML(b.String())
}

// gKnown reports whether the figure has a box for the state.
func gKnown(name string) bool {
	return slices.ContainsFunc(gStates, func(s gState) bool { return s.name == name })
}

// gStateAt returns the box of a state.
func gStateAt(name string) gState {
	for _, s := range gStates {
		if s.name == name {
			return s
		}
	}
	return gStates[0]
}

// gExtraPath returns the line of a change the figure has no arrow for,
// from box f to box t, moved sideways by shift: straight between the
// boxes' edges when it crosses no other box, else a curve bent far
// enough to the side to pass them all.
func gExtraPath(f, t gState, shift float64) [][2]float64 {
	a, c := [2]float64{f.x + shift, f.y}, [2]float64{t.x + shift, t.y}
	dx, dy := c[0]-a[0], c[1]-a[1]
	l := math.Hypot(dx, dy)
	for _, bend := range []float64{0, 60, -60, 100, -100, 140, -140, 180, -180, 240, -240} {
		ctl := [2]float64{(a[0]+c[0])/2 - dy/l*bend*2, (a[1]+c[1])/2 + dx/l*bend*2}
		at := func(u float64) [2]float64 {
			return [2]float64{
				(1-u)*(1-u)*a[0] + 2*u*(1-u)*ctl[0] + u*u*c[0],
				(1-u)*(1-u)*a[1] + 2*u*(1-u)*ctl[1] + u*u*c[1],
			}
		}
		// Where the line leaves f's box and enters t's.
		u0, u1 := 0.0, 1.0
		for _, end := range []struct {
			s   gState
			u   *float64
			out float64
		}{{f, &u0, 1}, {t, &u1, 0}} {
			in, out := *end.u, end.out
			for range 30 {
				mid := (in + out) / 2
				if gInBox(end.s, at(mid), 0) {
					in = mid
				} else {
					out = mid
				}
			}
			*end.u = out
		}
		const n = 24
		pts := make([][2]float64, 0, n+1)
		clear := true
		for i := range n + 1 {
			p := at(u0 + (u1-u0)*float64(i)/n)
			for _, s := range gStates {
				if s != f && s != t && gInBox(s, p, 6) {
					clear = false
				}
			}
			pts = append(pts, p)
		}
		if clear {
			if bend == 0 {
				return [][2]float64{pts[0], pts[n/2], pts[n]}
			}
			return pts
		}
	}
	return gClipToBoxes([][2]float64{a, c})
}

// gInBox reports whether p is inside s's box grown by margin.
func gInBox(s gState, p [2]float64, margin float64) bool {
	return math.Abs(p[0]-s.x) <= gBoxW/2+margin && math.Abs(p[1]-s.y) <= gBoxH/2+margin
}

// gClipToBoxes moves a straight line's ends from its boxes' centres to
// their edges.
func gClipToBoxes(pts [][2]float64) [][2]float64 {
	a, b := pts[0], pts[1]
	dx, dy := b[0]-a[0], b[1]-a[1]
	cut := func(dx, dy float64) float64 { // the part of (dx, dy) inside a box
		f := 1.0
		if dx != 0 {
			f = min(f, (gBoxW/2)/math.Abs(dx))
		}
		if dy != 0 {
			f = min(f, (gBoxH/2)/math.Abs(dy))
		}
		return f
	}
	f := cut(dx, dy)
	return [][2]float64{{a[0] + dx*f, a[1] + dy*f}, {b[0] - dx*f, b[1] - dy*f}}
}

// gDrawEdge draws a change of state: its line, its arrowhead, its
// words, and how often each side made it.
// extra is set for a change the figure has no arrow for (or one found
// when asked, which may not have been one step); kind is then what
// made it, as gKind says.
func gDrawEdge(b *strings.Builder, e gEdge, n *gTaken, extra bool, kind string) {
	class := "g-edge"
	if n != nil {
		class += " g-taken"
	}
	if extra {
		class += " g-extra"
	}
	if kind == gKindAsked {
		class += " g-asked"
	}
	fmt.Fprintf(b, `<g class="%s" data-from="%s" data-to="%s"`, class, e.from, e.to)
	if kind != "" {
		fmt.Fprintf(b, ` data-kind="%s"`, gEsc(kind))
	}
	if n != nil {
		fmt.Fprintf(b, ` data-client="%d" data-server="%d"`, n.client, n.server)
	}
	b.WriteString(`><path d="`)
	for i, p := range e.pts {
		if i == 0 {
			b.WriteString("M")
		} else {
			b.WriteString("L")
		}
		fmt.Fprintf(b, "%g %g", p[0], p[1])
	}
	b.WriteString(`"/>`)
	// The arrowhead, along the last piece.
	p, q := e.pts[len(e.pts)-2], e.pts[len(e.pts)-1]
	dx, dy := q[0]-p[0], q[1]-p[1]
	l := max(math.Abs(dx), math.Abs(dy), 1e-9)
	ux, uy := dx/l, dy/l
	if dx != 0 && dy != 0 {
		h := math.Sqrt(dx*dx + dy*dy)
		ux, uy = dx/h, dy/h
	}
	arrow := "g-arrow"
	if n != nil {
		arrow = "g-arrow-on"
	}
	fmt.Fprintf(b, `<path class="%s" d="M%.1f %.1fL%.1f %.1fL%.1f %.1fz"/>`, arrow,
		q[0], q[1], q[0]-8*ux-4*uy, q[1]-8*uy+4*ux, q[0]-8*ux+4*uy, q[1]-8*uy-4*ux)
	label := e.label
	if n != nil {
		var c []string
		if n.client > 0 {
			c = append(c, "C×"+strconv.Itoa(n.client))
		}
		if n.server > 0 {
			c = append(c, "S×"+strconv.Itoa(n.server))
		}
		label += "  " + strings.Join(c, " ")
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="%s">%s</text></g>`, e.lx, e.ly, e.anchor, gEsc(label))
}

// gWalkLines says each socket's path in words, the sockets that took the
// same path together: "client, connections 1–7: CLOSED → SYN-SENT → …",
// "the server's 3 listeners: CLOSED → LISTEN → CLOSED".
func gWalkLines(walks []*gWalk) []string {
	type group struct {
		side, path string
		conns      []int
	}
	var groups []*group
	askedAny := false
	for _, w := range walks {
		var p strings.Builder
		p.WriteString(w.states[0])
		for i, s := range w.states[1:] {
			if w.asked[i] {
				p.WriteString(" ⇢ ")
				askedAny = true
			} else {
				p.WriteString(" → ")
			}
			p.WriteString(s)
			if w.why[i] != "" {
				p.WriteString(" (" + w.why[i] + ")")
			}
		}
		var g *group
		for _, x := range groups {
			if x.side == w.side && x.path == p.String() && (w.conn == 0) == (x.conns[0] == 0) {
				g = x
			}
		}
		if g == nil {
			g = &group{side: w.side, path: p.String()}
			groups = append(groups, g)
		}
		g.conns = append(g.conns, w.conn)
	}
	var out []string
	for _, g := range groups {
		who := g.side
		n := len(g.conns) // sockets without a connection number, each its own walk
		switch {
		case g.conns[0] == 0 && g.side == "server" && n == 1:
			who = "the server's listener"
		case g.conns[0] == 0 && g.side == "server":
			who = fmt.Sprintf("the server's %d listeners", n)
		case g.conns[0] == 0 && n == 1:
			who = "the " + g.side + "'s socket without a connection"
		case g.conns[0] == 0:
			who = fmt.Sprintf("the %s's %d sockets without a connection", g.side, n)
		default:
			who += ", " + gConnList(g.conns)
		}
		out = append(out, who+": "+g.path)
	}
	if askedAny {
		out = append(out, "⇢: a change found when the kernel was asked; the socket may have passed through other states on the way")
	}
	return out
}

// gConnList writes connection numbers, runs as ranges: "connection 1",
// "connections 1–7", "connections 1, 3, 5–6".
func gConnList(ns []int) string {
	slices.Sort(ns)
	ns = slices.Compact(ns)
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d–%d", ns[i], ns[j]))
		} else {
			parts = append(parts, strconv.Itoa(ns[i]))
		}
		i = j + 1
	}
	if len(ns) == 1 {
		return "connection " + parts[0]
	}
	return "connections " + strings.Join(parts, ", ")
}
