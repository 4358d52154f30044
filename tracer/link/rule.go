package link

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Addresses of the two ends of the link.
var (
	ClientAddr = netip.MustParseAddr("192.0.2.1")
	ServerAddr = netip.MustParseAddr("192.0.2.2")
	// ClientAddr6 and ServerAddr6 are the ends' IPv6 addresses, from
	// the documentation prefix 2001:db8::/32, usable at once (no
	// duplicate address detection).
	ClientAddr6 = netip.MustParseAddr("2001:db8::1")
	ServerAddr6 = netip.MustParseAddr("2001:db8::2")
	// MarkerAddr is an address both ends send to out through their
	// interface, with a permanent neighbour entry (no ARP), that the
	// link never forwards: a capture of an end sends its Sync markers
	// there (capture.Config.MarkerTo).
	MarkerAddr = netip.MustParseAddr("192.0.2.254")
)

// The interfaces of the two ends, each in its end's namespace.
const (
	ClientInterface = "c0"
	ServerInterface = "s0"
)

// Dir is the direction a segment travels.
type Dir uint8

const (
	// AnyDir matches both directions (in a Rule only).
	AnyDir Dir = iota
	// FromClient is from the client to the server.
	FromClient
	// FromServer is from the server to the client.
	FromServer
)

// String says the direction in words: "from the client".
func (d Dir) String() string {
	switch d {
	case FromClient:
		return "from the client"
	case FromServer:
		return "from the server"
	}
	return "either way"
}

// Kind is what sort of segment a rule picks.
type Kind uint8

const (
	// AnyKind matches every TCP segment.
	AnyKind Kind = iota
	// SYN is a SYN without ACK: a connection's first segment.
	SYN
	// SYNACK is the answer to a SYN.
	SYNACK
	// Data is a segment that carries payload, without SYN, FIN or RST
	// (a FIN that carries the last bytes is a FIN).
	Data
	// PureACK is a segment with ACK alone: no payload, SYN, FIN or RST.
	PureACK
	// FIN is a segment with FIN (with or without payload).
	FIN
	// RST is a segment with RST.
	RST
)

var kindNames = [...]string{"segment", "SYN", "SYN-ACK", "data segment", "pure ACK", "FIN", "RST"}

// String names the kind: "data segment", "SYN-ACK".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// Family is the address family of the segments a rule picks.
type Family uint8

const (
	// AnyFamily matches IPv4 and IPv6 segments (in a Rule only).
	AnyFamily Family = iota
	// IPv4 matches segments carried in IPv4.
	IPv4
	// IPv6 matches segments carried in IPv6.
	IPv6
)

// String names the family: "IPv4", "IPv6"; "" for AnyFamily.
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return ""
}

// familyOf is the family of an address.
func familyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// AllRetransmits as Rule.Retransmits applies the action to every
// transmission of the segments the rule picks: with Drop and Index 0,
// nothing of that kind gets through (a cut link, a blackholed family).
const AllRetransmits = -1

// Action is what a rule does to the segments it picks.
type Action uint8

const (
	// Pass lets the segment through unchanged (a rule that only
	// reports).
	Pass Action = iota
	// Drop loses the segment.
	Drop
	// Delay holds the segment Rule.Extra longer than the base delay.
	Delay
	// Duplicate sends the segment twice.
	Duplicate
	// Hold keeps the segment back until the next segment in the same
	// direction has gone: the two arrive swapped. A segment held when
	// no other follows stays held until Close.
	Hold
)

var actionVerbs = [...]string{"pass", "drop", "delay", "duplicate", "hold back"}
var actionDone = [...]string{"passed", "dropped", "delayed", "duplicated", "held back"}

// String is the action's verb: "drop".
func (a Action) String() string {
	if int(a) < len(actionVerbs) {
		return actionVerbs[a]
	}
	return "action " + strconv.Itoa(int(a))
}

// Rule picks segments and says what to do with them. The zero value of
// each selector matches anything.
type Rule struct {
	// Dir is the direction; AnyDir for both.
	Dir Dir
	// Kind is the kind of segment; AnyKind for all.
	Kind Kind
	// Family picks segments of one address family; AnyFamily for all.
	Family Family
	// Index picks the Index-th segment of that kind in that direction
	// of a connection (1 for the first), counted by first
	// transmission: a segment sent again with the same sequence number
	// has the same index. 0 picks every one. Pure ACKs share sequence
	// numbers, so each counts.
	Index int
	// Retransmits is how many transmissions after the first the action
	// also applies to: with Drop, 2 loses the segment and its first two
	// retransmissions, so the fourth transmission gets through.
	// [AllRetransmits] applies it to every transmission.
	Retransmits int
	// Action is what to do.
	Action Action
	// Extra is the delay added by Delay.
	Extra time.Duration
}

// String says the rule in words: "drop the 3rd data segment from the
// client".
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Action.String())
	if r.Action == Delay {
		fmt.Fprintf(&b, " by %v", r.Extra)
	}
	b.WriteString(" ")
	b.WriteString(r.what())
	switch {
	case r.Retransmits == AllRetransmits && r.Index == 0:
		b.WriteString(", retransmissions too")
	case r.Retransmits == AllRetransmits:
		b.WriteString(" and all its retransmissions")
	case r.Retransmits == 1:
		b.WriteString(" and its first retransmission")
	case r.Retransmits > 1:
		fmt.Fprintf(&b, " and its first %d retransmissions", r.Retransmits)
	}
	return b.String()
}

// what names the segments the rule picks: "the 3rd data segment from
// the client", "every SYN from the client".
func (r Rule) what() string {
	kind := r.Kind.String()
	if r.Family != AnyFamily {
		kind = r.Family.String() + " " + kind
	}
	s := "every " + kind
	if r.Index > 0 {
		s = "the " + ordinal(r.Index) + " " + kind
	}
	if r.Dir != AnyDir {
		s += " " + r.Dir.String()
	}
	return s
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// Segment is a TCP segment as the link saw it.
type Segment struct {
	Dir      Dir
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	// RelSeq and RelAck are Seq and Ack relative to the sender's and
	// the receiver's initial sequence numbers, as Wireshark shows them
	// (0 when the link saw no SYN for that side).
	RelSeq, RelAck uint32
	Len            int
	Flags          Flags
	// Kind is what sort of segment it is, Index its number among the
	// segments of that kind in its direction of its connection (by
	// first transmission),
	// Transmission how many times the link has seen it (1 the first).
	Kind         Kind
	Index        int
	Transmission int
}

// String prints the segment as a trace line would: "from the client
// [P.] seq 1:1449 ack 1 len 1448".
func (s Segment) String() string {
	return fmt.Sprintf("%s [%s] seq %d:%d ack %d len %d", s.Dir, s.Flags, s.RelSeq, s.RelSeq+uint32(s.Len), s.RelAck, s.Len)
}

// Flags are a segment's TCP flags.
type Flags uint8

// The TCP flags, as in the header.
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
)

// String prints the flags as tcpdump does: "S.", "P.", "F.", "R".
func (f Flags) String() string {
	var b strings.Builder
	for _, x := range []struct {
		f Flags
		c byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagPSH, 'P'}, {FlagRST, 'R'}, {FlagURG, 'U'}, {FlagACK, '.'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// DefaultQueue is the length of a limited direction's queue, in
// frames, when Config.Queue is 0.
const DefaultQueue = 100

// SyncTimeout is how long SetRules and SetRate wait for the link to
// read what was sent before them (Link.Sync) before they go on all the
// same; a caller of Sync may give it the same bound.
const SyncTimeout = 5 * time.Second

// Event is something a rule did to a segment, or a frame dropped
// because the queue of a limited direction was full, or at random
// (Config.Loss).
type Event struct {
	Time    time.Time
	Action  Action
	Segment Segment
	// Rule is the rule's text (Rule.String); empty for a tail drop.
	Rule string
	// TailDrop is set when the frame was dropped because its
	// direction's queue was full (Config.Queue), not by a rule; Action
	// is then Drop, and Queue the queue's length.
	TailDrop bool
	Queue    int
	// Random is set when the segment was dropped by Config.Loss, not by
	// a rule; Action is then Drop.
	Random bool
	// Text says what happened to which segment: "dropped on purpose:
	// the 3rd data segment from the client".
	Text string
}

// String is the event's text with the segment.
func (e Event) String() string { return e.Text + " (" + e.Segment.String() + ")" }

// Note explains the event for a learner: what the rule (or the queue,
// or chance) did, and what that means for the two ends.
func (e Event) Note() string {
	switch {
	case e.Random:
		return "No rule picked this one: the link also loses a share of the segments at random, drawn from its seed. The same seed draws the same numbers, but which segments they hit depends on the order the two ends send in, so it may differ from run to run."
	case e.TailDrop:
		return fmt.Sprintf("No rule picked this one: the link sends no faster than its rate, and %d frames were already waiting their turn. A frame that finds the queue full is lost (tail drop). Which frames that hits depends on when the sender sent, so it differs from run to run.", e.Queue)
	}
	return "The link's rule: " + e.Rule + ". " + actionNote[e.Action]
}

// actionNote says what each action of a rule means for the two ends.
var actionNote = map[Action]string{
	Drop:      "The segment goes no further: the other end never sees it, and the sender learns of the loss only from what comes back, or from what does not.",
	Delay:     "The segment waits longer on the link than the others: it arrives late, and the segments sent after it may overtake it.",
	Duplicate: "The link sends the segment on twice: the other end receives it twice.",
	Hold:      "The link holds the segment back and sends it after the next one: the other end receives them out of order.",
}

// randomText is Event.Text for a segment Config.Loss dropped.
func randomText(s Segment, loss float64, seed uint64) string {
	return fmt.Sprintf("dropped at random (%s of segments, seed %d): the %s %s %s", percent(loss), seed, ordinal(s.Index), s.Kind, s.Dir)
}

// percent is "1%", "0.5%".
func percent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

// eventText is Event.Text for rule r done to s.
func eventText(r Rule, s Segment) string {
	kind := s.Kind.String()
	if r.Family != AnyFamily {
		kind = r.Family.String() + " " + kind
	}
	what := "the " + ordinal(s.Index) + " " + kind + " " + s.Dir.String()
	if s.Transmission > 1 {
		what += ", sent for the " + ordinal(s.Transmission) + " time"
	}
	verb := actionDone[r.Action]
	if r.Action == Delay {
		verb += " by " + r.Extra.String()
	}
	return verb + " on purpose: " + what
}

// tailDropText is Event.Text for a frame dropped by a full queue of
// length queue.
func tailDropText(s Segment, queue int) string {
	to := "the server"
	if s.Dir == FromServer {
		to = "the client"
	}
	text := fmt.Sprintf("dropped: the queue to %s was full (%d frames)", to, queue)
	if s.Kind == AnyKind && s.Index == 0 {
		return text // not a TCP segment
	}
	text += ": the " + ordinal(s.Index) + " " + s.Kind.String() + " " + s.Dir.String()
	if s.Transmission > 1 {
		text += ", sent for the " + ordinal(s.Transmission) + " time"
	}
	return text
}

// matches reports whether r picks s.
func (r Rule) matches(s Segment) bool {
	if r.Dir != AnyDir && r.Dir != s.Dir {
		return false
	}
	if r.Kind != AnyKind && r.Kind != s.Kind {
		return false
	}
	if r.Family != AnyFamily && r.Family != familyOf(s.Src.Addr()) {
		return false
	}
	if r.Index > 0 && r.Index != s.Index {
		return false
	}
	return r.Retransmits == AllRetransmits || s.Transmission <= 1+r.Retransmits
}

// Config says how the link behaves. Its zero value is a link without
// delay or rules.
type Config struct {
	// DelayToServer and DelayToClient are the one-way delays of each
	// direction; segments keep the order the link reads them in. (A
	// veth hands the link frames on the CPU that sent them: two frames
	// sent within microseconds from two CPUs, an ACK from the network's
	// softirq and a FIN from a program's close, can reach it the other
	// way round. Seen once, under a load of 10 on 2 CPUs.)
	DelayToServer, DelayToClient time.Duration
	// Rules are tried in order for each TCP segment; the first that
	// matches acts.
	Rules []Rule
	// RateToServer and RateToClient limit each direction to so many
	// bytes a second (whole Ethernet frames: 1514 bytes for a full
	// segment), as a slower link on the path would: a frame waits in
	// that direction's queue until the frames before it have gone,
	// then takes its size divided by the rate to go, then the delay.
	// 0 means no limit: a frame only waits for its delay.
	RateToServer, RateToClient int64
	// Queue is how many frames each limited direction holds, the one
	// going out included. A frame that finds the queue full is dropped
	// (tail drop), with an Event whose TailDrop is set. 0 means
	// [DefaultQueue].
	//
	// A full queue is the one loss the link makes that no rule picks:
	// which frame finds it full depends on when the sender sent, which
	// varies from run to run. Rules stay deterministic: their counts
	// include the frames the queue dropped, as the sender sent them.
	Queue int
	// Loss, when above 0, drops that fraction of the TCP segments (data,
	// ACKs and all) that no rule picked, at random: 0.01 is one in a
	// hundred. The random numbers come from Seed, one sequence for each
	// direction, so a run with the same seed draws the same numbers; it
	// drops the same segments as long as the two ends send the same
	// segments in the same order, which their timing can change. Rules,
	// not Loss, are for a segment that must be lost on every run.
	Loss float64
	Seed uint64
	// OnEvent, if not nil, is called for each action of a rule, from
	// the link's goroutines (one per direction, so concurrently).
	OnEvent func(Event)
	// OnSegment, if not nil, is called for each TCP segment the link
	// reads, before the rules, from the link's goroutines.
	OnSegment func(Segment)
}
