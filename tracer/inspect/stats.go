package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tcptour/tracer"
)

// connStats sums up one TCP connection for -stats: what tshark -z
// conv,tcp and captcp give, in words.
type connStats struct {
	id             int
	client, server netip.AddrPort
	first, last    time.Time
	packets        int
	dirs           [2]dirStats // [0] from the client, [1] from the server
	synAt          time.Time   // the client's last SYN
	firstSYN       time.Time   // its first
	syns           int         // SYNs the client sent, copies included
	synAckSeen     bool
	finSeq         uint32        // the first FIN's sequence number, in its sender's relative numbers
	crossed        bool          // the second FIN did not acknowledge the first: they crossed
	handshake      time.Duration // from the SYN to the ACK that completed the handshake
	established    bool
	finFirst       string // "client" or "server": who sent the first FIN
	resetBy        string // who sent the first RST
	sawSYN         bool
	at             map[string]bool // the interfaces it was seen at, on a file of several
	firstAt        string          // the first of them
}

// dirStats is one direction of a connection.
type dirStats struct {
	segments int
	bytes    int // payload bytes, copies sent again included
	resent   int // segments sent again (the analysis's retransmissions)
	resentB  int
	fin      bool
	rst      int
}

// add counts the packet of e.
func (s *connStats) add(e *tracer.Event) {
	p := e.Packet
	if p == nil || p.Proto != "tcp" {
		return
	}
	if p.At != "" {
		// Seen at two interfaces, a segment would count twice. At the
		// two ends of a link (interfaces named client and server, as a
		// lesson's are), each segment counts as the end that sent it
		// saw it leave; elsewhere, as the first interface the
		// connection was seen at saw it.
		if s.at == nil {
			s.at, s.firstAt = map[string]bool{}, p.At
		}
		s.at[p.At] = true
		roles := p.At == "client" || p.At == "server"
		if (roles && p.At != p.From) || (!roles && p.At != s.firstAt) {
			return
		}
	}
	s.packets++
	if s.first.IsZero() {
		s.first = e.Time
	}
	s.last = e.Time
	d := &s.dirs[0]
	if p.From == "client" {
		s.client, s.server = p.Src, p.Dst
	} else {
		s.client, s.server = p.Dst, p.Src
		d = &s.dirs[1]
	}
	d.segments++
	d.bytes += p.Len
	if p.Resent {
		d.resent++
		d.resentB += p.Len
	}
	flags := p.Flags
	switch {
	case strings.Contains(flags, "SYN") && !strings.Contains(flags, "ACK"):
		if !s.sawSYN {
			s.firstSYN = e.Time
		}
		s.synAt, s.sawSYN = e.Time, true
		s.syns++
	case strings.Contains(flags, "SYN"):
		s.synAckSeen = true
	case !s.established && s.synAckSeen && p.From == "client" && strings.Contains(flags, "ACK"):
		s.established = true
		if s.sawSYN {
			s.handshake = e.Time.Sub(s.synAt)
		}
	}
	if strings.Contains(flags, "FIN") {
		switch {
		case s.finFirst == "":
			s.finFirst, s.finSeq = p.From, p.Seq+uint32(p.Len)
		case p.From != s.finFirst && !d.fin:
			// The other side's first FIN: whether it acknowledges the
			// first one (the ACK flag, and an ack beyond the FIN).
			s.crossed = !strings.Contains(flags, "ACK") || int32(p.Ack-(s.finSeq+1)) < 0
		}
		d.fin = true
	}
	if strings.Contains(flags, "RST") {
		if s.resetBy == "" {
			s.resetBy = p.From
		}
		d.rst++
	}
}

// ended says how the connection ended, as far as the capture shows.
func (s *connStats) ended() string {
	switch {
	case s.resetBy != "" && !s.synAckSeen && s.resetBy == "server" && s.dirs[1].segments == s.dirs[1].rst:
		return "refused: the server answered the SYN with RST"
	case s.resetBy != "":
		return "reset by the " + s.resetBy
	case s.dirs[0].fin && s.dirs[1].fin && s.crossed:
		return "closed at once by both: their FINs crossed"
	case s.dirs[0].fin && s.dirs[1].fin:
		return "closed: both sent FIN, the " + s.finFirst + " first"
	case s.finFirst != "":
		return "half-closed: only the " + s.finFirst + " sent FIN"
	case s.sawSYN && !s.synAckSeen && s.dirs[1].segments == 0:
		return "never opened: no answer to the SYN in the capture"
	}
	return "still open when the capture ended"
}

// printStats prints the statistics of every connection shown.
func (in *inspector) printStats() error {
	if in.cfg.json {
		enc := json.NewEncoder(in.out)
		for _, id := range in.conns {
			if err := enc.Encode(in.stats[id].json()); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range in.conns {
		s := in.stats[id]
		if s.packets == 0 {
			continue
		}
		fmt.Fprintf(in.out, "Connection #%d: client %s, server %s\n", s.id, s.client, s.server)
		fmt.Fprintf(in.out, "  %s, from %s to %s\n", tracer.FormatDuration(s.last.Sub(s.first)), s.first.UTC().Format("15:04:05.000000"), s.last.UTC().Format("15:04:05.000000"))
		for i, who := range []string{"client → server", "server → client"} {
			d := s.dirs[i]
			line := fmt.Sprintf("  %s: %s, %s of data", who, plural(d.segments, "segment"), plural(d.bytes, "byte"))
			if d.resent > 0 {
				line += fmt.Sprintf(", %s of them sent again (%s)", plural(d.resent, "segment"), plural(d.resentB, "byte"))
			}
			fmt.Fprintln(in.out, line)
		}
		var hs string
		switch {
		case s.handshake > 0 && s.syns > 1:
			hs = fmt.Sprintf("handshake round trip %s (from the last of the %d SYNs the client sent, the first %s before it, to the ACK of the SYN-ACK, as captured)",
				tracer.FormatDuration(s.handshake), s.syns, tracer.FormatDuration(s.synAt.Sub(s.firstSYN)))
		case s.handshake > 0:
			hs = "handshake round trip " + tracer.FormatDuration(s.handshake) + " (from the SYN to the ACK of the SYN-ACK, as captured)"
		case !s.sawSYN:
			hs = "its handshake was before the capture began"
		case !s.established:
			hs = "the handshake did not complete in the capture"
		}
		fmt.Fprintf(in.out, "  %s; %s.\n", hs, s.ended())
	}
	fmt.Fprintf(in.out, "\n%s read from %s", plural(in.read, "packet"), in.name())
	in.connsLine()
	return nil
}

// statsJSON is a connection's statistics as -stats -json prints them.
type statsJSON struct {
	Conn        int      `json:"conn"`
	Client      string   `json:"client"`
	Server      string   `json:"server"`
	First       string   `json:"first"`
	Last        string   `json:"last"`
	DurationNS  int64    `json:"duration_ns"`
	Handshake   int64    `json:"handshake_rtt_ns,omitempty"`
	ToServer    dirJSON  `json:"client_to_server"`
	ToClient    dirJSON  `json:"server_to_client"`
	Ended       string   `json:"ended"`
	Interfaces  []string `json:"interfaces,omitempty"`
	Established bool     `json:"established"`
}

type dirJSON struct {
	Segments    int  `json:"segments"`
	Bytes       int  `json:"bytes"`
	Resent      int  `json:"resent_segments"`
	ResentBytes int  `json:"resent_bytes"`
	Resets      int  `json:"resets"`
	FIN         bool `json:"fin"`
}

func (s *connStats) json() statsJSON {
	dir := func(d dirStats) dirJSON {
		return dirJSON{Segments: d.segments, Bytes: d.bytes, Resent: d.resent, ResentBytes: d.resentB, Resets: d.rst, FIN: d.fin}
	}
	j := statsJSON{Conn: s.id, Client: s.client.String(), Server: s.server.String(),
		First: s.first.UTC().Format(time.RFC3339Nano), Last: s.last.UTC().Format(time.RFC3339Nano),
		DurationNS: int64(s.last.Sub(s.first)), Handshake: int64(s.handshake),
		ToServer: dir(s.dirs[0]), ToClient: dir(s.dirs[1]), Ended: s.ended(), Established: s.established}
	for a := range s.at {
		j.Interfaces = append(j.Interfaces, a)
	}
	slices.Sort(j.Interfaces)
	return j
}
