package main

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"tcptour/lessons/internal/lesson"
	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// The state machine as two columns, one per side of this lesson's
// connection. A cell's {NAME} is a state: it prints as [NAME] when the
// kernel reported that side in it, as NAME otherwise.
var diagramRows = [][2]string{
	{"client: connects, closes first", "server: listens, closes second"},
	{"", ""},
	{"       CLOSED", "       CLOSED"},
	{"         │ connect: send SYN", "         │ listen"},
	{"         ▼", "         ▼"},
	{"    {SYN_SENT} ─ cancel, timeout ─▶ CLOSED", "     {LISTEN}"},
	{"         │ rcv SYN-ACK: send ACK", "         │ rcv SYN: send SYN-ACK"},
	{"         ▼", "         ▼"},
	{"  {ESTABLISHED}", "    {SYN_RECV}"},
	{"         │ close: send FIN", "         │ rcv ACK"},
	{"         ▼", "         ▼"},
	{"   {FIN_WAIT_1} ─ rcv FIN: send ACK ─┐", "  {ESTABLISHED}"},
	{"         │ rcv ACK of FIN            ▼", "         │ rcv FIN: send ACK"},
	{"         ▼                       {CLOSING}", "         ▼"},
	{"   {FIN_WAIT_2}                      │", "   {CLOSE_WAIT}"},
	{"         │ rcv FIN: send ACK         │", "         │ close: send FIN"},
	{"         ▼                           │", "         ▼"},
	{"   {TIME_WAIT} ◀─── rcv ACK of FIN ──┘", "    {LAST_ACK}"},
	{"         │ 2·MSL: 60 s on Linux", "         │ rcv ACK of FIN"},
	{"         ▼", "         ▼"},
	{"       CLOSED", "       CLOSED"},
}

// diagram draws the state machine with the states the kernel reported
// marked, then lists them in the order it reported them, in at most
// width columns: the two sides' columns side by side, or one below the
// other where they do not fit. The kernel
// reports states in the lesson's kernel notes and, in the trace's
// STATE lines, as it changes them (run as root) or when asked: events
// holds the trace, whose STATE lines count for the sockets the notes
// are about. A SYN_RECV lasts microseconds here; only a STATE line
// catches it.
func (k *kernelView) diagram(events []tracer.Event, width int) string {
	visited := slices.Clone(k.visited)
	sides := map[tracer.FiveTuple]string{}
	for _, v := range k.visited {
		sides[v.ft] = v.side
	}
	for _, e := range events {
		if e.Phase != tracer.PhaseState || e.State == nil || e.State.To == gone || e.State.To == kernel.Close {
			continue
		}
		ft := e.Tuple()
		if side, ok := sides[ft]; ok {
			visited = append(visited, visit{e.State.To, side, ft, e.Time})
		}
	}
	slices.SortStableFunc(visited, func(a, b visit) int { return a.time.Compare(b.time) })
	seen := map[string]map[string]bool{"client": {}, "server": {}}
	for _, v := range visited {
		seen[v.side][v.state.String()] = true
	}
	var b strings.Builder
	b.WriteString("\n")
	wrap(&b, "The TCP state machine, with Linux's names; [NAME]: the kernel reported that side's socket in it.", min(width, 78))
	b.WriteString("\n\n")
	const column = 46 // where the server's column starts
	var lines [2][]string
	sideBySide := true
	for _, row := range diagramRows {
		left, right := mark(row[0], seen["client"]), mark(row[1], seen["server"])
		lines[0], lines[1] = append(lines[0], left), append(lines[1], right)
		if utf8.RuneCountInString(left) >= column || column+utf8.RuneCountInString(right) > width {
			sideBySide = false
		}
	}
	if sideBySide {
		for i, left := range lines[0] {
			line := left + strings.Repeat(" ", column-utf8.RuneCountInString(left)) + lines[1][i]
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
	} else {
		// The client's column, then the server's.
		for i, column := range lines {
			if i > 0 {
				b.WriteString("\n")
			}
			for _, line := range column {
				b.WriteString(strings.TrimRight(line, " ") + "\n")
			}
		}
	}
	// Each side's states, in the order the kernel first reported them.
	type sideState struct {
		side  string
		state kernel.State
	}
	said := map[sideState]bool{}
	var order []string
	for _, v := range visited {
		if said[sideState{v.side, v.state}] {
			continue
		}
		said[sideState{v.side, v.state}] = true
		order = append(order, fmt.Sprintf("%s (%s)", v.state, v.side))
	}
	b.WriteString("\n")
	wrap(&b, "In the order the kernel first reported them: "+strings.Join(order, " → ")+".", min(width, 80))
	return b.String()
}

// drawing is the diagram of k, drawn when it is printed: Run.Printf
// formats its arguments after it has flushed the trace, so that the
// STATE lines so far are in it. It fits the output's width, less
// Printf's indent.
type drawing struct {
	k *kernelView
	l *lesson.Run
}

func (d drawing) String() string { return d.k.diagram(d.l.Events(), d.l.Width()-2) }

// wrap writes text to b in lines of at most width runes, breaking at
// spaces.
func wrap(b *strings.Builder, text string, width int) {
	n := 0
	for i, w := range strings.Fields(text) {
		l := utf8.RuneCountInString(w)
		if i > 0 && n+1+l > width {
			b.WriteString("\n")
			n = 0
		} else if i > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += l
	}
}

// mark replaces each {NAME} in cell with [NAME] when seen[NAME], with
// NAME between spaces otherwise, so that the columns keep their width.
func mark(cell string, seen map[string]bool) string {
	for {
		i := strings.Index(cell, "{")
		j := strings.Index(cell, "}")
		if i < 0 || j < i {
			return cell
		}
		name := cell[i+1 : j]
		open, closing := " ", " "
		if seen[name] {
			open, closing = "[", "]"
		}
		cell = cell[:i] + open + name + closing + cell[j+1:]
	}
}

// diagramStates lists every state the diagram draws, so that a test can
// check that each has its place.
func diagramStates() []kernel.State {
	return []kernel.State{kernel.SynSent, kernel.Listen, kernel.SynRecv, kernel.Established, kernel.FinWait1,
		kernel.FinWait2, kernel.Closing, kernel.CloseWait, kernel.LastAck, kernel.TimeWait}
}
