package quiz

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// Question is one question about a run, with its answer and the event
// that shows it.
type Question struct {
	// Name says which kind of question it is, stable: "client-port",
	// "handshake-segments", "handshake-time", "syn-window",
	// "server-mss", "client-bytes", "server-bytes", "server-fin-seq",
	// "client-fin-seq", "client-resent", "server-resent", "time-wait",
	// "fin-state", "first-fin".
	Name string
	// Conn is the connection asked about, as the trace numbers it.
	Conn int
	// Text is the question.
	Text string
	// Answer is the answer as printed: "52522", "client", "0.028 ms".
	Answer string
	// Why says where the answer is, in a sentence that ends with a
	// colon: the event is printed below it.
	Why string
	// Event is the packet or the change of state that answers the
	// question.
	Event tracer.Event

	// The answer as [Question.Check] reads a reply: a number with its
	// tolerance and unit ("ms" for a time), or the words that say it.
	number float64
	tol    float64
	unit   string
	words  []string
	// clean is set on a question of segments sent again that
	// Wireshark calls retransmissions, every one: Make prefers them.
	clean bool
	// stepStart is when the step of Event started, in a lesson's
	// trace: the event is printed with its time since then, as the
	// lesson printed it.
	stepStart time.Duration
}

// Quiz is what [Make] found to ask.
type Quiz struct {
	Questions []Question
	// Why, when set, is a line printed before the questions, or alone
	// when there are none: why there are none, or why they come from
	// the kernel's states alone.
	Why string
}

// The kinds of question, in the order Make considers them.
var kinds = []string{
	"client-port", "handshake-segments", "handshake-time", "syn-window", "server-mss",
	"client-bytes", "server-bytes", "client-fin-seq", "server-fin-seq", "client-resent", "server-resent",
	"first-fin", "time-wait", "fin-state",
}

// Make makes up to five questions (three to five when the run answers
// that many kinds) whose answers events hold: the
// events of one run, in time order, as a trace or tracer/inspect has
// them. Without packets or states to ask about, Quiz.Why says why and
// there are no questions.
func Make(events []tracer.Event) Quiz {
	conns := connsOf(events)
	var title string
	var steps []time.Duration
	packets, states := false, false
	for i := range events {
		e := &events[i]
		switch {
		case e.Phase == tracer.PhaseLesson && title == "":
			title = e.Text
		case e.Phase == tracer.PhaseStep:
			steps = append(steps, e.Elapsed)
		case e.Packet != nil && e.Packet.Proto == "tcp":
			packets = true
		case e.State != nil && e.Conn != 0:
			states = true
		}
	}
	var q Quiz
	switch {
	case !packets && !states:
		q.Why = "No questions: this run holds no connection's packets or states to ask about."
		return q
	case !packets:
		q.Why = "No packets were captured: the questions come from the kernel's states alone."
	}
	// Every question the run can answer, by kind.
	byKind := map[string][]Question{}
	for _, c := range conns {
		for _, qu := range c.questions() {
			byKind[qu.Name] = append(byKind[qu.Name], qu)
		}
	}
	var avail []string
	for _, k := range kinds {
		if len(byKind[k]) > 0 {
			avail = append(avail, k)
		}
	}
	if len(avail) == 0 {
		q.Why = "No questions: no connection in this run shows its handshake, or its close as the kernel saw it, and the questions need one or the other."
		return q
	}
	// The same run gets the same questions; another lesson others.
	h := fnv.New64a()
	if title != "" {
		h.Write([]byte(title))
	} else {
		segs := 0
		for _, c := range conns {
			segs += len(c.segs)
		}
		fmt.Fprintf(h, "%d connections, %d segments", len(conns), segs)
	}
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed>>7|1))
	rng.Shuffle(len(avail), func(i, j int) { avail[i], avail[j] = avail[j], avail[i] })
	// Segments sent again are worth asking about first, and before
	// them a handshake that took more than three segments.
	for _, k := range []string{"server-resent", "client-resent"} {
		if i := slices.Index(avail, k); i >= 0 {
			avail = slices.Insert(slices.Delete(avail, i, i+1), 0, k)
		}
	}
	for _, qu := range byKind["handshake-segments"] {
		if qu.number > 3 {
			i := slices.Index(avail, "handshake-segments")
			avail = slices.Insert(slices.Delete(avail, i, i+1), 0, "handshake-segments")
			byKind["handshake-segments"] = []Question{qu}
			break
		}
	}
	n := 3 + int(seed%3)
	families := map[string]bool{}
	for _, k := range avail {
		if len(q.Questions) == n {
			break
		}
		// One of the client's and the server's bytes, and of their
		// FINs: the other is the same question again. One of the
		// client's port and its SYN's window: the same SYN answers
		// both.
		family := strings.TrimPrefix(strings.TrimPrefix(k, "client-"), "server-")
		if k == "syn-window" {
			family = "port"
		}
		if families[family] {
			continue
		}
		families[family] = true
		cands := byKind[k]
		if clean := slices.DeleteFunc(slices.Clone(cands), func(q Question) bool { return !q.clean }); len(clean) > 0 &&
			strings.HasSuffix(k, "-resent") {
			// Segments sent again that Wireshark agrees are
			// retransmissions, when a connection has them.
			cands = clean
		}
		qu := cands[rng.IntN(len(cands))]
		qu.stepStart = stepOf(steps, qu.Event.Elapsed)
		q.Questions = append(q.Questions, qu)
	}
	// In the order the run answered them.
	slices.SortStableFunc(q.Questions, func(a, b Question) int {
		return a.Event.Time.Compare(b.Event.Time)
	})
	return q
}

// stepOf is when the last step at or before d started, 0 before the
// first.
func stepOf(steps []time.Duration, d time.Duration) time.Duration {
	var s time.Duration
	for _, st := range steps {
		if st <= d {
			s = st
		}
	}
	return s
}

// conn is what a connection's events say, for the questions.
type conn struct {
	id int
	// segs are its TCP segments, each once: on a link, seen at the
	// end that sent it.
	segs []*tracer.Event
	// states are the kernel's changes of its sockets' states.
	states []*tracer.Event
	// oneEnd names the interface a capture at several was read at,
	// when they are not a link's two ends: only its packets count.
	oneEnd string
	link   bool // captured at both ends of a link
}

// connsOf gathers the TCP connections of events, in the order their
// first event came.
func connsOf(events []tracer.Event) []*conn {
	byID := map[int]*conn{}
	var order []*conn
	get := func(id int) *conn {
		c := byID[id]
		if c == nil {
			c = &conn{id: id}
			byID[id] = c
			order = append(order, c)
		}
		return c
	}
	for i := range events {
		e := &events[i]
		if e.Conn == 0 {
			continue
		}
		switch {
		case e.Packet != nil && e.Packet.Proto == "tcp":
			c := get(e.Conn)
			p := e.Packet
			switch p.At {
			case "":
			case "client", "server":
				// A link: each segment is seen leaving one end and
				// reaching the other; it counts where it was sent.
				c.link = true
				if p.At != p.From {
					continue
				}
			default:
				// Interfaces of other names: the first one seen.
				if c.oneEnd == "" {
					c.oneEnd = p.At
				}
				if p.At != c.oneEnd {
					continue
				}
			}
			c.segs = append(c.segs, e)
		case e.State != nil:
			get(e.Conn).states = append(get(e.Conn).states, e)
		}
	}
	return order
}

// has reports whether the flags ("SYN ACK", "FIN ACK") include flag.
func has(flags, flag string) bool {
	return slices.Contains(strings.Fields(flags), flag)
}

// where says which capture shows a segment sent by side, on a link.
func (c *conn) where(side string) string {
	switch {
	case c.link:
		return " (the " + side + "'s end of the link, where it was sent)"
	case c.oneEnd != "":
		return " (as captured at " + c.oneEnd + ")"
	}
	return ""
}

// whereEach says which capture shows segments of both sides: on a
// link, each where it was sent.
func (c *conn) whereEach() string {
	switch {
	case c.link:
		return " (each counted once, at the end of the link that sent it)"
	case c.oneEnd != "":
		return " (as captured at " + c.oneEnd + ")"
	}
	return ""
}

// questions are all the questions c can answer.
func (c *conn) questions() []Question {
	var qs []Question
	add := func(q Question) {
		q.Conn = c.id
		qs = append(qs, q)
	}
	var syn, synAck, hsAck *tracer.Event
	nSYN := 0
	for _, e := range c.segs {
		p := e.Packet
		switch {
		case syn == nil && p.From == "client" && has(p.Flags, "SYN") && !has(p.Flags, "ACK"):
			syn = e
		case syn != nil && synAck == nil && p.From == "server" && has(p.Flags, "SYN") && has(p.Flags, "ACK"):
			synAck = e
		case synAck != nil && hsAck == nil && p.From == "client" && has(p.Flags, "ACK") &&
			!has(p.Flags, "SYN") && !has(p.Flags, "RST") && p.Ack == 1:
			hsAck = e
		}
		if syn != nil && hsAck == nil && has(p.Flags, "SYN") {
			nSYN++
		}
	}
	name := fmt.Sprintf("connection #%d", c.id)
	if syn != nil {
		port := syn.Packet.Src.Port()
		add(Question{Name: "client-port",
			Text:   "Which port did the client use in " + name + "?",
			Answer: strconv.Itoa(int(port)), number: float64(port),
			Why:   "The client's SYN came from it" + c.where("client") + ":",
			Event: *syn})
		add(Question{Name: "syn-window",
			Text:   "What receive window did the client advertise in its SYN, in " + name + "?",
			Answer: strconv.Itoa(syn.Packet.Window), number: float64(syn.Packet.Window),
			Why:   "The SYN's win" + c.where("client") + ":",
			Event: *syn})
	}
	if synAck != nil {
		if mss, ok := optionValue(synAck.Packet.Options, "mss"); ok {
			add(Question{Name: "server-mss",
				Text:   "What MSS did the server announce in its SYN-ACK, in " + name + "?",
				Answer: strconv.Itoa(mss), number: float64(mss),
				Why:   "The SYN-ACK's options" + c.where("server") + ":",
				Event: *synAck})
		}
	}
	if hsAck != nil {
		add(Question{Name: "handshake-segments",
			Text:   "How many segments did the handshake of " + name + " take, from the client's first SYN to its ACK of the SYN-ACK?",
			Answer: strconv.Itoa(nSYN + 1), number: float64(nSYN + 1),
			Why:   handshakeWhy(nSYN) + c.whereEach() + ":",
			Event: *hsAck})
		d := hsAck.Time.Sub(syn.Time)
		ms := float64(d) / float64(time.Millisecond)
		add(Question{Name: "handshake-time",
			Text:   "How long did the handshake of " + name + " take, from the client's first SYN to its ACK of the SYN-ACK?",
			Answer: formatMS(ms), number: ms, unit: "ms", tol: max(ms/10, 0.002),
			Why:   fmt.Sprintf("This ACK left %s after the client's first SYN%s; a reply within %s of it counts as right:", formatMS(ms), c.where("client"), formatMS(max(ms/10, 0.002))),
			Event: *hsAck})
	}
	if syn != nil && synAck != nil {
		for _, side := range []string{"client", "server"} {
			if last := c.lastData(side); last != nil {
				p := last.Packet
				n := int(p.Seq) + p.Len - 1
				if has(p.Flags, "SYN") {
					n++ // the SYN takes the first number, the data the next
				}
				add(Question{Name: side + "-bytes",
					Text:   fmt.Sprintf("How many bytes of data did the %s send in %s?", side, name),
					Answer: strconv.Itoa(n), number: float64(n),
					Why:   fmt.Sprintf("Its last new data ends at byte %d of its stream%s:", n, c.where(side)),
					Event: *last})
			}
			if fin := c.firstFIN(side); fin != nil {
				n, why := finNumber(fin.Packet)
				add(Question{Name: side + "-fin-seq",
					Text:   fmt.Sprintf("What is the relative sequence number of the %s's FIN in %s?", side, name),
					Answer: strconv.Itoa(int(n)), number: float64(n),
					Why:   "The " + side + "'s FIN" + why + c.where(side) + ":",
					Event: *fin})
			}
		}
	}
	if syn != nil && c.link {
		// Sent again: only a capture at the sending end sees every
		// copy, so only on a link, where each end has its own.
		for _, side := range []string{"client", "server"} {
			var first, firstRetr *tracer.Event
			n, ooo, other := 0, 0, 0
			for _, e := range c.segs {
				if e.Packet.From != side || !e.Packet.Resent {
					continue
				}
				if n++; first == nil {
					first = e
				}
				switch {
				case wiresharkRetransmission(e.Packet):
					if firstRetr == nil {
						firstRetr = e
					}
				case slices.Contains(e.Packet.Analysis, "out-of-order"):
					ooo++
				default:
					other++
				}
			}
			if n == 0 {
				continue
			}
			// Shown: the first that Wireshark too calls a
			// retransmission, when there is one.
			show, what := first, "the first of them"
			switch {
			case n == 1:
				what = ""
			case firstRetr != nil && firstRetr != first:
				show, what = firstRetr, "the first that Wireshark flags a retransmission"
			}
			why := fmt.Sprintf("Segments that carry sequence space the %s had sent already", side)
			if n == 1 {
				why = fmt.Sprintf("One segment carries sequence space the %s had sent already", side)
			}
			switch {
			case ooo == 1 && other == 0:
				which := "one of them"
				if n == 1 {
					which = "it"
				}
				why += " (Wireshark flags " + which + " out-of-order, not a retransmission: it came after later data, but the " + side + " had sent this sequence space before)"
			case ooo > 0 && other == 0:
				why += fmt.Sprintf(" (Wireshark flags %d of them out-of-order, not retransmissions: each came after later data, but the %s had sent this sequence space before)", ooo, side)
			case ooo+other > 0:
				why += fmt.Sprintf(" (Wireshark does not call %d of them a retransmission; the %s had sent this sequence space before all the same)", ooo+other, side)
			}
			add(Question{Name: side + "-resent",
				Text:   fmt.Sprintf("How many segments did the %s send again (retransmissions) in %s?", side, name),
				Answer: strconv.Itoa(n), number: float64(n),
				Why:   why + cond(what != "", "; "+what, "") + c.where(side) + ":",
				Event: *show,
				clean: ooo+other == 0})
		}
	}
	timeWait := c.timeWait()
	if timeWait != nil {
		add(*timeWait)
	} else if syn != nil {
		// The kernel's view is not in the run: the packets say who
		// closed first.
		cf, sf := c.firstFIN("client"), c.firstFIN("server")
		first := cf
		if first == nil || sf != nil && sf.Time.Before(cf.Time) {
			first = sf
		}
		// With both FINs, the later one must acknowledge the first:
		// sent after it arrived, whatever the point of capture. In a
		// simultaneous close neither does, and one capture cannot
		// tell which left first.
		if first != nil && (cf == nil || sf == nil || acks(later(cf, sf), first)) {
			side := first.Packet.From
			add(Question{Name: "first-fin",
				Text:   "Which side sent the first FIN in " + name + "?",
				Answer: side, words: sideWords(side),
				Why:   "The first FIN" + c.where(side) + ":",
				Event: *first})
		}
	}
	if q := c.finState(); q != nil {
		add(*q)
	}
	return qs
}

// lastData is the segment of side's that carries the end of its new
// data: the highest sequence number plus length.
func (c *conn) lastData(side string) *tracer.Event {
	var last *tracer.Event
	var end uint32
	for _, e := range c.segs {
		p := e.Packet
		if p.From != side || p.Len == 0 || has(p.Flags, "RST") {
			continue
		}
		if x := p.Seq + uint32(p.Len); last == nil || int32(x-end) > 0 {
			last, end = e, x
		}
	}
	return last
}

// finNumber is the sequence number a FIN takes in segment p: after the
// segment's data (and its SYN, when it has one), as tcp.nxtseq-1 in
// Wireshark. why says so when that is not the segment's seq.
func finNumber(p *tracer.Packet) (n uint32, why string) {
	n = p.Seq + uint32(p.Len)
	if has(p.Flags, "SYN") {
		n++ // the SYN takes the segment's first number
	}
	if n != p.Seq {
		why = fmt.Sprintf(" follows %d bytes of data in this segment, whose seq is %d: it takes number %d", p.Len, p.Seq, n)
		if has(p.Flags, "SYN") {
			why = fmt.Sprintf(" follows the SYN and %d bytes of data in this segment, whose seq is %d: it takes number %d", p.Len, p.Seq, n)
		}
	}
	return n, why
}

// wiresharkRetransmission reports whether the sequence analysis calls p
// a retransmission of some kind ("retransmission",
// "fast-retransmission", "spurious-retransmission").
func wiresharkRetransmission(p *tracer.Packet) bool {
	return slices.ContainsFunc(p.Analysis, func(a string) bool { return strings.Contains(a, "retransmission") })
}

// cond is a when ok, else b.
func cond(ok bool, a, b string) string {
	if ok {
		return a
	}
	return b
}

// later is the later of a and b.
func later(a, b *tracer.Event) *tracer.Event {
	if b.Time.After(a.Time) {
		return b
	}
	return a
}

// acks reports whether segment e acknowledges the FIN fin.
func acks(e, fin *tracer.Event) bool {
	return has(e.Packet.Flags, "ACK") && int32(e.Packet.Ack-(fin.Packet.Seq+uint32(fin.Packet.Len)+1)) >= 0
}

// firstFIN is side's first FIN.
func (c *conn) firstFIN(side string) *tracer.Event {
	for _, e := range c.segs {
		if e.Packet.From == side && has(e.Packet.Flags, "FIN") {
			return e
		}
	}
	return nil
}

// timeWait asks which side went to TIME_WAIT, when the kernel said.
func (c *conn) timeWait() *Question {
	var sides []string
	var first *tracer.Event
	for _, e := range c.states {
		if e.State.To == kernel.TimeWait && !slices.Contains(sides, e.State.Side) {
			sides = append(sides, e.State.Side)
			if first == nil {
				first = e
			}
		}
	}
	if first == nil {
		return nil
	}
	answer := sides[0]
	words := sideWords(answer)
	if len(sides) > 1 {
		answer, words = "both", []string{"both", "each", "client and server", "server and client", "both sides", "both ends"}
	}
	return &Question{Name: "time-wait",
		Text:   fmt.Sprintf("Which side's socket went to TIME_WAIT in connection #%d?", c.id),
		Answer: answer, words: words,
		Why:   "The kernel said so:",
		Event: *first}
}

// finState asks which state a socket went to when the peer's FIN
// arrived, when the kernel said and the FIN is in the trace: CLOSE_WAIT,
// CLOSING or TIME_WAIT. A FIN that also acknowledges this side's FIN
// moves a socket in FIN_WAIT_1 first to FIN_WAIT_2 (the ACK's doing,
// not the FIN's): not asked.
func (c *conn) finState() *Question {
	for _, e := range c.states {
		s := e.State
		if !has(s.CauseFlags, "FIN") || (s.Side != "client" && s.Side != "server") ||
			s.To != kernel.CloseWait && s.To != kernel.Closing && s.To != kernel.TimeWait {
			continue
		}
		peer := "server"
		if s.Side == "server" {
			peer = "client"
		}
		return &Question{Name: "fin-state",
			Text:   fmt.Sprintf("Which state did the %s's socket go to when the %s's FIN arrived, in connection #%d?", s.Side, peer, c.id),
			Answer: s.To.String(), words: []string{s.To.String()},
			Why:   "The kernel said so:",
			Event: *e}
	}
	return nil
}

// handshakeWhy says what a handshake of n segments with SYN set and an
// ACK was made of.
func handshakeWhy(n int) string {
	if n == 2 {
		return "The SYN, the SYN-ACK, then the client's ACK that completes the handshake"
	}
	return fmt.Sprintf("%d segments with SYN set (a SYN or SYN-ACK is sent again when no answer comes in time), then the client's ACK that completes the handshake", n)
}

// sideWords are the replies that name side.
func sideWords(side string) []string { return []string{side, side[:1]} }

// optionValue is the number after name in a SYN's options ("mss 65495
// sack ts ws 7").
func optionValue(opts, name string) (int, bool) {
	f := strings.Fields(opts)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == name {
			n, err := strconv.Atoi(f[i+1])
			return n, err == nil
		}
	}
	return 0, false
}

// formatMS prints milliseconds as the timeline does: "0.028 ms".
func formatMS(ms float64) string {
	return strconv.FormatFloat(ms, 'f', 3, 64) + " ms"
}
