package wire

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"tcptour/tracer"
)

// Conns returns the ids of the TCP connections in events, in the order
// of their first event. With packets set, only connections with at least
// one captured packet count.
func Conns(events []tracer.Event, packets bool) []int {
	var ids []int
	for _, e := range events {
		if (e.Phase == tracer.PhasePacket || !packets) && e.Conn != 0 && !slices.Contains(ids, e.Conn) {
			ids = append(ids, e.Conn)
		}
	}
	return ids
}

// row is one line of a ladder: an app event on one side, or a segment
// from one side to the other.
type row struct {
	left, right string // app events: client's on the left, server's on the right
	arrow       string // a segment's label
	toRight     bool   // the segment goes client → server
	ev          int    // the index in events of the event drawn
	lost        bool   // the segment left and never arrived (on a link)
	arrival     int    // on a link, the index of the segment's arrival; -1 for none
	asked       bool   // a state found when asked (its label ends in AskedMark)
}

// AskedMark ends the label of a state the kernel's socket diagnostics
// found when asked, and [AskedNote] explains it: the change came
// earlier than its row, which is when the question was asked.
const AskedMark = "*"

// AskedNote explains [AskedMark] below a ladder that has one.
const AskedNote = AskedMark + " found when asked: the kernel did not report this change as it happened; " +
	"its socket diagnostics, asked at the time of the marked row, found the socket in that state " +
	"(for [gone], found no socket), so the change came earlier."

// rows picks the events of connection id and says who is who.
func rows(events []tracer.Event, id int) (client, server netip.AddrPort, out []row) {
	shown := map[string]string{} // the last state shown, by side
	// On a link each segment is seen twice, leaving and arriving: the
	// ladder draws it once, as it left, and marks one that never
	// arrived.
	lost, arrival := linkCopies(events, id)
	for i, e := range events {
		if e.Conn != id {
			continue
		}
		switch {
		case e.Phase == tracer.PhasePacket && e.Packet != nil && e.Packet.Proto == "tcp":
			p := e.Packet
			if p.At != "" && p.At != p.From {
				break // its arrival
			}
			if p.From == "client" {
				client, server = p.Src, p.Dst
			} else {
				client, server = p.Dst, p.Src
			}
			label := SegmentLabel(p)
			if lost[i] {
				label += " ✗ lost"
			}
			a, ok := arrival[i]
			if !ok {
				a = -1
			}
			out = append(out, row{arrow: label, toRight: p.From == "client", ev: i, lost: lost[i], arrival: a})
		case e.Phase == tracer.PhaseNote:
			// Remarks stay in the timeline; the ladder shows calls.
		case e.Phase == tracer.PhaseState && e.State != nil:
			// Each new state beside its side's line, as in a textbook's
			// diagram; a hand-over to the kernel changes no state, but
			// may be the first word of it (found when asked).
			c := e.State
			label := "[" + c.To.String() + "]"
			if c.From == c.To && shown[c.Side] == label {
				break
			}
			shown[c.Side] = label
			if c.Asked {
				label += AskedMark
			}
			switch c.Side {
			case "client":
				out = append(out, row{left: label, ev: i, asked: c.Asked})
			case "server":
				out = append(out, row{right: label, ev: i, asked: c.Asked})
			}
		case e.Actor == "client":
			client, server = e.Local, e.Remote
			out = append(out, row{left: appLabel(e), ev: i})
		case e.Actor == "server":
			client, server = e.Remote, e.Local
			out = append(out, row{right: appLabel(e), ev: i})
		}
	}
	return client, server, out
}

// lostCopies finds, among the events of connection id on a link (in
// time order), the segments that left one end and never reached the
// other: each arrival is the last copy with its numbers that left
// before it (a segment sent again has the numbers of the first copy).
// A segment not seen arriving is taken for lost only when one its
// sender sent after it was seen arriving, or when the link said it
// dropped one after it left: the last ones may still have been on
// their way when the capture stopped. It returns their indexes in
// events.
func lostCopies(events []tracer.Event, id int) map[int]bool {
	lost, _ := linkCopies(events, id)
	return lost
}

// linkCopies is lostCopies, and returns too, by the index of each
// departure seen arriving, the index of its arrival.
func linkCopies(events []tracer.Event, id int) (lost map[int]bool, arrival map[int]int) {
	left := map[packetKey][]int{} // unmatched departures, in order
	lastCame := map[string]int{}  // by sender: the latest departure seen arriving
	lost, arrival = map[int]bool{}, map[int]int{}
	for i, e := range events {
		p := e.Packet
		if e.Conn != id || e.Phase != tracer.PhasePacket || p == nil || p.At == "" || p.Proto != "tcp" {
			continue
		}
		k := segKeyOf(p)
		if p.At == p.From {
			left[k] = append(left[k], i)
			continue
		}
		if ds := left[k]; len(ds) > 0 {
			for _, d := range ds[:len(ds)-1] {
				lost[d] = true
			}
			lastCame[p.From] = max(lastCame[p.From], ds[len(ds)-1])
			arrival[ds[len(ds)-1]] = i
			delete(left, k)
		}
	}
	var unseen []int // departures never seen arriving, in order
	for k, ds := range left {
		for _, d := range ds {
			if d < lastCame[k.from] {
				lost[d] = true
			}
		}
		unseen = append(unseen, ds...)
	}
	// The link says what it dropped (a link event of the connection,
	// "dropped …", its Local and Remote the segment's): each such event
	// is the loss of the first departure not seen arriving, from that
	// sender to that receiver, that left before it. It tells the last
	// segments of a cut link, which nothing follows, from those still
	// on their way when the capture stopped.
	slices.Sort(unseen)
	used := map[int]bool{}
	for _, d := range unseen {
		p := events[d].Packet
		for j := d + 1; j < len(events); j++ {
			e := events[j]
			if !used[j] && e.Actor == "link" && e.Conn == id && e.Phase == tracer.PhaseNote &&
				strings.HasPrefix(e.Text, "dropped") && e.Local == p.Src && e.Remote == p.Dst {
				used[j] = true
				lost[d] = true
				break
			}
		}
	}
	return lost, arrival
}

// LadderRow is one row of a connection's ladder, as [Ladder] draws it:
// an app call or a change of state beside one side's line (Left for
// the client's, Right for the server's), or a TCP segment (Arrow, its
// label: [SegmentLabel]). For a drawing of one's own (tracer/page's
// SVG ladder).
type LadderRow struct {
	Event       int    // the index in events of the event the row draws
	Left, Right string // an app call or a state ("[ESTABLISHED]") beside its side's line
	Arrow       string // a segment's label, without the lost mark
	ToRight     bool   // the segment goes client → server
	// Lost is set on a link (Packet.At set) for a segment that left its
	// sender and never reached the receiver (Ladder's "✗ lost").
	Lost bool
	// Arrival, on a link, is the index in events of the segment's
	// capture as it reached the receiver (the row is its departure);
	// -1 when it was not seen arriving, and on loopback.
	Arrival int
	// Asked is set for a state found when asked: its label ends in
	// [AskedMark], and the change came before its row.
	Asked bool
}

// LadderRows returns the rows of connection id's ladder, as [Ladder]
// draws them, and the client's and the server's addresses. events must
// be sorted by time.
func LadderRows(events []tracer.Event, id int) (client, server netip.AddrPort, out []LadderRow) {
	client, server, rs := rows(events, id)
	out = make([]LadderRow, len(rs))
	for i, r := range rs {
		a := r.arrival
		if r.arrow == "" {
			a = -1
		}
		out[i] = LadderRow{Event: r.ev, Left: r.left, Right: r.right, Arrow: strings.TrimSuffix(r.arrow, " ✗ lost"), ToRight: r.toRight, Lost: r.lost, Arrival: a, Asked: r.asked}
	}
	return client, server, out
}

// packetKey names a segment on a link, to match where it left with
// where it arrived.
type packetKey struct {
	from, to string
	seq, ack uint32
	len      int
	flags    string
	ipid     uint16 // tells apart two ACKs alike, and a copy sent again
	mark     string // timestamps and SACK blocks: the same, where there is no IP ID (IPv6)
}

func segKeyOf(p *tracer.Packet) packetKey {
	return packetKey{p.From, p.To, p.RawSeq, p.RawAck, p.Len, p.Flags, p.IPID, p.Mark}
}

// SegmentLabel is a segment's label in a ladder: flags, relative
// numbers and length, like tshark's flow graph.
func SegmentLabel(p *tracer.Packet) string {
	s := fmt.Sprintf("%s seq %d", p.Flags, p.Seq)
	if strings.Contains(p.Flags, "ACK") {
		s += fmt.Sprintf(" ack %d", p.Ack)
	}
	if p.Len > 0 {
		s += fmt.Sprintf(" len %d", p.Len)
	}
	if p.Window == 0 && !strings.Contains(p.Flags, "RST") {
		s += " win 0"
	}
	return s
}

func appLabel(e tracer.Event) string {
	switch e.Phase {
	case tracer.PhaseConnectDone:
		return "Dial returns"
	case tracer.PhaseAccept:
		return "Accept returns"
	case tracer.PhaseRead:
		return fmt.Sprintf("Read %d B", e.Bytes)
	case tracer.PhaseWrite:
		return fmt.Sprintf("Write %d B", e.Bytes)
	case tracer.PhaseEOF:
		return "Read: EOF"
	case tracer.PhaseCloseWrite:
		return "CloseWrite"
	case tracer.PhaseClose:
		return "Close"
	case tracer.PhaseError:
		return "error: " + e.Op
	}
	return string(e.Phase)
}

// Ladder widths: the app-event column and the arrow between the lines.
const (
	labelWidth = 14
	arrowWidth = 46
)

// Ladder writes a text ladder diagram of connection id: the client's
// line on the left, the server's on the right, an arrow per segment
// with its flags, relative sequence and acknowledgement numbers and
// length, and each side's app events beside its line, all in time
// order. events must be sorted by time (as Trace.Events returns them).
func Ladder(w io.Writer, events []tracer.Event, id int) error {
	client, server, rs := rows(events, id)
	_, err := io.WriteString(w, ladderText(id, client, server, rs, arrowWidth, 0, true))
	return err
}

// FitLadder writes the ladder of connection id as [Ladder] does, in at
// most width columns: its arrows are narrowed to fit, down to the
// longest arrow's label, and the server's name in the header moves left
// of the server's line where it would stick out. When even that is too wide,
// it writes instead one line, wrapped to width, that says how many
// columns the ladder needs and where else to read it: --mermaid FILE,
// the flag of the lessons, the server, the client and tracer/inspect.
// Unlike Ladder it leaves out the line that explains [AskedMark]: after
// the ladders, [AskedFootnote] writes it once.
func FitLadder(w io.Writer, events []tracer.Event, id, width int) error {
	client, server, rs := rows(events, id)
	minArrow := 0
	for _, r := range rs {
		if r.arrow != "" {
			// The label, a space each side, and at least "──" and "─▶".
			minArrow = max(minArrow, utf8.RuneCountInString(r.arrow)+2+4)
		}
	}
	need := 0
	for aw := arrowWidth; aw >= minArrow; aw-- {
		for _, headerIn := range []int{0, width} {
			text := ladderText(id, client, server, rs, aw, headerIn, false)
			n := textWidth(text)
			if n <= width {
				_, err := io.WriteString(w, text)
				return err
			}
			need = n
		}
	}
	msg := fmt.Sprintf("Connection #%d: its ladder needs %d columns, more than the %d here: "+
		"widen the terminal, or write the ladders to a file with --mermaid FILE.", id, need, width)
	_, err := io.WriteString(w, tracer.Wrap(msg, 0, width))
	return err
}

// AskedFootnote writes, wrapped to width, the line that explains
// [AskedMark] ([AskedNote]), if one of the ladders of the connections
// ids has a state so marked, and reports whether it did; else it
// writes nothing.
func AskedFootnote(w io.Writer, events []tracer.Event, ids []int, width int) (bool, error) {
	for _, id := range ids {
		_, _, rs := rows(events, id)
		if slices.ContainsFunc(rs, func(r row) bool { return r.asked }) {
			_, err := io.WriteString(w, tracer.Wrap(AskedNote, 0, width))
			return true, err
		}
	}
	return false, nil
}

// ladderText draws the ladder of connection id with arrows aw wide.
// With headerIn > 0 the server's name in the header moves left, as far
// as it needs to end within headerIn columns or the ladder's widest
// row, leaving a space after the client's. With footnote, a ladder
// with a state found when asked ends with the line that explains its
// mark.
func ladderText(id int, client, server netip.AddrPort, rs []row, aw, headerIn int, footnote bool) string {
	var body strings.Builder
	widest, asked := 0, false
	for _, r := range rs {
		mid := strings.Repeat(" ", aw)
		if r.arrow != "" {
			mid = arrow(r.arrow, r.toRight, aw)
		}
		line := strings.TrimRight(fmt.Sprintf("%*s │%s│ %s", labelWidth, r.left, mid, r.right), " ")
		widest = max(widest, utf8.RuneCountInString(line))
		body.WriteString(line + "\n")
		asked = asked || r.asked
	}
	if asked && footnote {
		// Wrapped to the ladder's width: it never makes the ladder wider.
		body.WriteString(tracer.Wrap(AskedNote, 0, max(widest, 40)))
	}
	c, s := "client "+client.String(), "server "+server.String()
	// The server's name starts above its line, or where it must.
	at := labelWidth + 1 + aw + 1
	if headerIn > 0 {
		at = min(at, max(headerIn, widest)-utf8.RuneCountInString(s))
	}
	at = max(at, labelWidth+1+utf8.RuneCountInString(c)+1)
	var b strings.Builder
	fmt.Fprintf(&b, "Connection #%d\n", id)
	fmt.Fprintf(&b, "%*s%-*s%s\n", labelWidth+1, "", at-labelWidth-1, c, s)
	b.WriteString(body.String())
	return b.String()
}

// textWidth is the width in columns of text's widest line.
func textWidth(text string) int {
	n := 0
	for line := range strings.Lines(text) {
		n = max(n, utf8.RuneCountInString(strings.TrimSuffix(line, "\n")))
	}
	return n
}

// arrow draws "── label ───▶" or "◀─── label ──" width wide.
func arrow(label string, toRight bool, width int) string {
	label = " " + label + " "
	n := width - len([]rune(label)) - 3
	if n < 0 {
		n = 0
	}
	if toRight {
		return "──" + label + strings.Repeat("─", n) + "▶"
	}
	return "◀" + strings.Repeat("─", n) + label + "──"
}

// Mermaid writes the ladders of the connections ids as one Mermaid
// sequence diagram (GitHub renders it in a ```mermaid block).
func Mermaid(w io.Writer, events []tracer.Event, ids []int) error {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for _, id := range ids {
		client, server, rs := rows(events, id)
		c, s := fmt.Sprintf("C%d", id), fmt.Sprintf("S%d", id)
		fmt.Fprintf(&b, "    participant %s as client %s\n", c, mermaidText(client.String()))
		fmt.Fprintf(&b, "    participant %s as server %s\n", s, mermaidText(server.String()))
		for _, r := range rs {
			switch {
			case r.arrow != "" && r.toRight:
				fmt.Fprintf(&b, "    %s->>%s: %s\n", c, s, mermaidText(r.arrow))
			case r.arrow != "":
				fmt.Fprintf(&b, "    %s->>%s: %s\n", s, c, mermaidText(r.arrow))
			case r.left != "":
				fmt.Fprintf(&b, "    Note left of %s: %s\n", c, mermaidText(mermaidAsked(r, r.left)))
			case r.right != "":
				fmt.Fprintf(&b, "    Note right of %s: %s\n", s, mermaidText(mermaidAsked(r, r.right)))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidAsked spells out, in a Mermaid note (which has room for it),
// what the mark of a state found when asked means.
func mermaidAsked(r row, label string) string {
	if !r.asked {
		return label
	}
	return strings.TrimSuffix(label, AskedMark) + " found when asked (the change came earlier)"
}

// mermaidText keeps characters that end or break a Mermaid message out.
func mermaidText(s string) string {
	return strings.NewReplacer(";", ",", "#", "no. ", "\n", " ", ":", "#58;").Replace(s)
}
