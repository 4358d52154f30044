package tracer

// The printers build their output by hand, without fmt or reflection.
// These tests hold them to what they replaced: encoding/json's Encoder
// for NewJSON, and the fmt-based pretty printer (kept below as
// newRefPretty) for NewPretty and Detail, over many generated events.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"

	"tcptour/tracer/kernel"
)

func TestPrintersMatchReference(t *testing.T) {
	for i, e := range generatedEvents(3000) {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(e); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := NewJSON(&got).Print(e); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("event %d: JSON\n got %s\nwant %s", i, got.String(), want.String())
		}
		for _, useColor := range []bool{false, true} {
			var got, want bytes.Buffer
			if err := NewPretty(&got, useColor).Print(e); err != nil {
				t.Fatal(err)
			}
			if err := newRefPretty(&want, useColor).Print(e); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("event %d: pretty (colour %v)\n got %q\nwant %q", i, useColor, got.String(), want.String())
			}
		}
		if got, want := Detail(e), refDetail(e); got != want {
			t.Fatalf("event %d: Detail %q, want %q", i, got, want)
		}
	}
}

func TestDurationsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ds := []time.Duration{0, 1, -1, 999_999, time.Millisecond, time.Second - 1, time.Second, time.Minute - 1, time.Minute,
		time.Hour, -time.Hour, 1<<63 - 1, -1 << 63, 1_234_567, 59_999_999_999}
	for range 10000 {
		ds = append(ds, time.Duration(r.Int64N(int64(2*time.Minute)))-time.Minute/2)
	}
	// What FormatDuration said when it used fmt.
	ref := func(d time.Duration) string {
		switch {
		case d < time.Second:
			return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
		case d < time.Minute:
			return fmt.Sprintf("%.3f s", d.Seconds())
		}
		return d.Round(time.Second).String()
	}
	for _, d := range ds {
		want := ref(d)
		if got := string(appendDuration(nil, d)); got != want {
			t.Errorf("appendDuration(%d): %q, want %q", d, got, want)
		}
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%d): %q, want %q", d, got, want)
		}
	}
}

// appendJSONString reads eight plain bytes at a time: every byte value,
// and every awkward rune, at every place in a word, and across two
// words, must come out as encoding/json writes it.
func TestJSONStringMatchesReference(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want)
		}
		if got := appendJSONString(nil, []byte(s)); string(got) != string(want) {
			t.Fatalf("%q as bytes: got %s, want %s", s, got, want)
		}
	}
	plain := "The client's kernel sends"
	for n := range len(plain) + 1 {
		check(plain[:n])
	}
	for c := range 256 {
		for at := range 18 {
			check(plain[:at] + string([]byte{byte(c)}) + plain[at:18])
		}
	}
	for _, r := range []string{"é", "日本", "\u2028", "\u2029", "\xff\xfe", "\xe6\x97", "𝄞"} {
		for at := range 18 {
			check(plain[:at] + r + plain[at:])
		}
	}
	rng := rand.New(rand.NewPCG(3, 5))
	alphabet := []string{"a", " ", "~", "\x7f", "\x00", "\x1f", `"`, `\`, "<", ">", "&", "é", "\u2028", "\xff", "日"}
	for range 20000 {
		var sb strings.Builder
		for range rng.IntN(40) {
			if rng.IntN(4) == 0 {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				sb.WriteByte(byte(' ' + rng.IntN(95)))
			}
		}
		check(sb.String())
	}
}

// The JSON printer keeps the text of the last second it wrote: times in
// the same second, and around it, in several zones, with nanoseconds
// ending in zeros or none, come out as encoding/json writes them.
func TestJSONTimesMatchReference(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600),
		time.FixedZone("", 19*60+32)} // an offset with seconds, as Amsterdam's before 1937
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny) // a change of offset: 2026-03-08 07:00 UTC
	}
	base := []time.Time{time.Date(2026, 12, 6, 8, 53, 38, 0, time.UTC), time.Date(2026, 3, 8, 6, 59, 59, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(9999, 12, 31, 12, 0, 0, 0, time.UTC), time.Date(0, 6, 15, 12, 0, 0, 0, time.UTC)}
	nanos := []int{0, 1, 10, 100_000, 999_999_999, 500_000_000, 385_033_187, 120}
	rng := rand.New(rand.NewPCG(4, 4))
	var evs []Event
	for _, b := range base {
		for range 400 {
			at := b.Add(time.Duration(rng.IntN(3))*time.Second + time.Duration(nanos[rng.IntN(len(nanos))]))
			evs = append(evs, Event{Seq: int64(len(evs)), Time: at.In(zones[rng.IntN(len(zones))]), Actor: "wire", Phase: PhasePacket})
		}
	}
	var got, want bytes.Buffer
	if err := NewJSON(&got).(*jsonPrinter).PrintBatch(evs); err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&want)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	gl, wl := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
	for i := range wl {
		if i >= len(gl) || gl[i] != wl[i] {
			t.Fatalf("event %d:\n got %s\nwant %s", i, gl[min(i, len(gl)-1)], wl[i])
		}
	}
}

// plain8 against the byte-by-byte test it stands for.
func TestPlain8(t *testing.T) {
	plainByte := func(c byte) bool {
		return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 2_000_000 {
		var w [8]byte
		for j := range w {
			w[j] = byte(' ' + rng.IntN(95))
		}
		// Every byte value at every place, then random words.
		if i < 256*8 {
			w[i%8] = byte(i / 8)
		} else {
			for range rng.IntN(3) {
				w[rng.IntN(8)] = byte(rng.IntN(256))
			}
		}
		want := true
		for _, c := range w {
			want = want && plainByte(c)
		}
		if got := plain8(binary.LittleEndian.Uint64(w[:])); got != want {
			t.Fatalf("% x: plain8 %v, want %v", w, got, want)
		}
	}
}

// A time JSON cannot hold is refused as encoding/json refuses it.
func TestJSONTimeOutOfRange(t *testing.T) {
	e := Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "a", Phase: PhaseNote}
	_, want := json.Marshal(e)
	var b bytes.Buffer
	err := NewJSON(&b).Print(e)
	if err == nil || want == nil || err.Error() != want.Error() || b.Len() != 0 {
		t.Errorf("got %v and %q, want %v", err, b.String(), want)
	}
}

// After a failed write the JSON printer writes nothing more and returns
// the error, as json.Encoder does.
func TestJSONWriteErrorSticks(t *testing.T) {
	w := &failOnce{}
	p := NewJSON(w)
	e := Event{Time: time.Unix(1, 0), Actor: "a", Phase: PhaseNote}
	if err := p.Print(e); err == nil {
		t.Fatal("no error")
	}
	if err := p.Print(e); err == nil || w.writes != 1 {
		t.Errorf("second Print: %v after %d writes", err, w.writes)
	}
}

type failOnce struct{ writes int }

func (f *failOnce) Write(p []byte) (int, error) {
	f.writes++
	return 0, io.ErrClosedPipe
}

// generatedEvents returns events of every phase with awkward values:
// HTML and control characters, invalid UTF-8, U+2028, wide runes, long
// notes, zero and IPv6 addresses with zones, extreme durations.
func generatedEvents(n int) []Event {
	r := rand.New(rand.NewPCG(7, 11))
	strs := []string{"", "a", "I am Chuck Norris!", `"quoted" \ back`, "<b>&amp;</b>", "tab\there\nnew\rline\b\f\x00\x1f\x7f",
		"bad \xff\xfe utf8", "sep \u2028 \u2029", "wide 日本語 ünïcödé", "  lots   of\t\tspace  ", "\u00a0nbsp\u00a0word\u3000ideo",
		strings.Repeat("word ", 40), strings.Repeat("x", 100), "é", "日本", "client", "server", "wire", "lesson", "note", "listen", "title"}
	str := func() string { return strs[r.IntN(len(strs))] }
	aps := []netip.AddrPort{{}, netip.MustParseAddrPort("127.0.0.1:6969"), netip.MustParseAddrPort("[::1]:0"),
		netip.MustParseAddrPort("[fe80::1%eth0]:65535"), netip.MustParseAddrPort("[::ffff:10.0.0.1]:80"),
		netip.AddrPortFrom(netip.Addr{}, 7), netip.AddrPortFrom(netip.MustParseAddr("fe80::1%<a&b>"), 1)}
	ap := func() netip.AddrPort { return aps[r.IntN(len(aps))] }
	durs := []time.Duration{0, 1, -5, 123_456, time.Second, 90 * time.Second, 3 * time.Hour}
	dur := func() time.Duration { return durs[r.IntN(len(durs))] }
	phases := []Phase{PhaseListen, PhaseDNSStart, PhaseDNSDone, PhaseDNSSkip, PhaseConnectStart, PhaseConnectDone,
		PhaseAccept, PhaseRead, PhaseWrite, PhaseEOF, PhaseCloseWrite, PhaseClose, PhaseError, PhaseNote,
		PhasePacket, PhaseLesson, PhaseStep, PhaseState, PhaseCounter, PhaseSample, "say", ""}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600)}
	var ev []Event
	for i := range n {
		e := Event{
			Seq:     r.Int64N(1 << 40),
			Time:    time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(zones[r.IntN(len(zones))]),
			Elapsed: dur(),
			Actor:   str(),
			Phase:   phases[i%len(phases)],
		}
		if r.IntN(2) == 0 {
			e.Step, e.Conn = r.IntN(12), r.IntN(300)
		}
		if r.IntN(2) == 0 {
			e.Proto, e.Local, e.Remote, e.Addr = str(), ap(), ap(), str()
		}
		if r.IntN(3) == 0 {
			e.Name = str()
			for range r.IntN(3) {
				e.DNSServers = append(e.DNSServers, str())
				e.Addrs = append(e.Addrs, ap().Addr())
			}
			if r.IntN(4) == 0 {
				e.DNSServers, e.Addrs = []string{}, []netip.Addr{}
			}
		}
		if r.IntN(2) == 0 {
			e.Bytes, e.Data = r.IntN(3), str()
			e.BytesIn, e.BytesOut, e.PeerClosed = r.Int64N(3)-1, r.Int64N(1<<40), r.IntN(2) == 0
			e.Lifetime, e.Duration = dur(), dur()
		}
		if r.IntN(2) == 0 {
			e.Op, e.Err, e.Text, e.Note = str(), str(), str(), str()
		}
		if e.Phase == PhasePacket && r.IntN(5) != 0 {
			flags := []string{"", "SYN", "SYN ACK", "ACK", "PSH ACK", "FIN ACK", "RST", "RST ACK"}
			e.Packet = &Packet{Proto: []string{"tcp", "udp", ""}[r.IntN(3)], Src: ap(), Dst: ap(), From: str(), To: str(),
				Flags: flags[r.IntN(len(flags))], Seq: r.Uint32(), Ack: r.Uint32(), RawSeq: r.Uint32(), RawAck: r.Uint32(),
				Len: r.IntN(3), Window: r.IntN(1 << 20), Options: str(), Size: r.IntN(70000), Frame: r.IntN(2) * r.IntN(200000)}
			if r.IntN(3) == 0 {
				e.Packet.DNS = str()
			}
			if r.IntN(3) == 0 {
				e.Packet.At = str()
				e.Packet.IPID = uint16(r.IntN(3) * r.IntN(65536))
			}
			for range r.IntN(3) {
				e.Packet.Analysis = append(e.Packet.Analysis, str())
			}
			if r.IntN(3) == 0 {
				e.Packet.Payload, e.Packet.Comment = str(), str()
			}
		}
		states := []kernel.State{kernel.Gone, kernel.Established, kernel.FinWait2, kernel.TimeWait, kernel.Close, kernel.CloseWait, 13, 255}
		state := func() kernel.State { return states[r.IntN(len(states))] }
		if r.IntN(3) == 0 {
			e.TCP = &kernel.Info{State: state(), RTT: dur(), RTTVar: dur(), RTO: dur(), SndCwnd: r.Uint32(), SndMSS: r.Uint32(),
				RcvMSS: r.Uint32(), Unacked: uint32(r.IntN(3)), Retransmits: uint8(r.IntN(256)), Retrans: r.Uint32(),
				TotalRetrans: uint32(r.IntN(3)), SndWnd: r.Uint32(), Probes: uint8(r.IntN(256)), Backoff: uint8(r.IntN(256)),
				BytesAcked: r.Uint64(), BytesReceived: r.Uint64(),
				CAState: kernel.CAState(r.IntN(7)), SndSsthresh: r.Uint32(), TotalRTO: uint16(r.IntN(1 << 16)),
				TotalRTORecoveries: uint16(r.IntN(1 << 16)), TotalRTOTime: dur(), Lost: r.Uint32(), Sacked: r.Uint32(),
				ReordSeen: r.Uint32(), DSACKDups: r.Uint32(), RcvOOOPack: r.Uint32(), SegsOut: r.Uint32(), SegsIn: r.Uint32(),
				DataSegsOut: r.Uint32(), DataSegsIn: r.Uint32(), BytesSent: r.Uint64(), BytesRetrans: r.Uint64(),
				NotsentBytes: r.Uint32(), RcvWnd: r.Uint32(), MinRTT: dur(), DeliveryRate: r.Uint64()}
		}
		if e.Phase == PhaseCounter && r.IntN(5) != 0 || r.IntN(20) == 0 {
			e.Counter = &kernel.CounterChange{Name: str(), Delta: r.Int64N(100), Value: r.Int64N(1000)}
			if r.IntN(3) == 0 {
				e.Counter.At = str()
			}
		}
		if e.Phase == PhaseState && r.IntN(5) != 0 || r.IntN(20) == 0 {
			e.State = &StateChange{Side: str(), From: state(), To: state(), Asked: r.IntN(2) == 0, Kept: r.IntN(2) == 0,
				Expires: dur(), Cause: r.Int64N(3), CauseElapsed: dur()}
			if r.IntN(2) == 0 {
				e.State.CauseFlags = str()
			}
			if r.IntN(2) == 0 {
				e.State.Reason = str()
			}
			if r.IntN(3) == 0 {
				e.State.To = e.State.From
			}
		}
		ev = append(ev, e)
	}
	return ev
}

// newRefPretty is the pretty printer as it was written with fmt and
// fatih/color, kept as the reference the new one must match.
func newRefPretty(w io.Writer, useColor bool) Printer {
	if w == nil {
		w = os.Stdout
	}
	p := &refPrettyPrinter{w: w, colors: map[string]*color.Color{}}
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if useColor {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	for phase, attrs := range phaseColors {
		p.colors[string(phase)] = mk(attrs...)
	}
	p.colors["client"] = mk(color.FgHiBlue)
	p.colors["server"] = mk(color.FgHiMagenta)
	p.colors["actor"] = mk(color.FgHiWhite)
	p.colors["wire"] = mk(color.FgWhite)
	p.colors["note"] = mk(color.Faint)
	p.colors["title"] = mk(color.Bold, color.Underline)
	p.colors["heading"] = mk(color.Bold)
	return p
}

type refPrettyPrinter struct {
	w      io.Writer
	colors map[string]*color.Color
}

func (p *refPrettyPrinter) Print(e Event) error {
	var b strings.Builder
	switch e.Phase {
	case PhaseLesson:
		refLines(&b, p.colors["title"], e.Text)
		refWrap(&b, e.Note, 0, DefaultWidth)
	case PhaseStep:
		b.WriteString("\n")
		refLines(&b, p.colors["heading"], e.Text)
		refWrap(&b, e.Note, 2, DefaultWidth)
		b.WriteString("\n")
	case PhaseSample:
		// Left out: drawn as a chart.
	default:
		actor := p.colors["actor"]
		if c, ok := p.colors[e.Actor]; ok {
			actor = c
		}
		conn := ""
		if e.Conn != 0 {
			conn = fmt.Sprintf("#%d", e.Conn)
		}
		label := labels[e.Phase]
		if label == "" {
			label = strings.ToUpper(string(e.Phase))
		}
		labelColor := p.colors[string(e.Phase)]
		if e.Phase == PhasePacket {
			label, labelColor = refPacketLabel(e.Packet), p.refPacketColor(e.Packet)
		}
		if labelColor == nil {
			labelColor = p.colors["wire"]
		}
		fmt.Fprintf(&b, "%12s  %s %-3s %s  %s\n",
			"+"+FormatDuration(e.Elapsed),
			actor.Sprintf("%-6s", e.Actor),
			conn,
			labelColor.Sprintf("%-9s", label),
			refDetail(e))
		if i := e.TCP; i != nil {
			show := false
			switch e.Phase {
			case PhaseConnectDone, PhaseAccept, PhaseEOF, PhaseCloseWrite, PhaseClose, PhaseError:
				show = true
			case PhaseRead, PhaseWrite:
				show = i.State != kernel.Established || i.TotalRetrans > 0
			}
			if show {
				parts := []string{"kernel: " + i.State.String()}
				if e.Phase == PhaseConnectDone || e.Phase == PhaseAccept {
					parts = append(parts, "rtt "+FormatDuration(i.RTT), fmt.Sprintf("mss %d", i.SndMSS), fmt.Sprintf("cwnd %d", i.SndCwnd))
				} else {
					if i.Unacked > 0 {
						parts = append(parts, fmt.Sprintf("unacked %d", i.Unacked))
					}
					if i.TotalRetrans > 0 {
						parts = append(parts, fmt.Sprintf("retransmitted %d", i.TotalRetrans))
					}
				}
				// One line, or lines that break between parts.
				line := strings.Repeat(" ", noteIndent) + parts[0]
				for _, part := range parts[1:] {
					if len([]rune(line+" · "+part)) > DefaultWidth {
						b.WriteString(line + "\n")
						line = strings.Repeat(" ", noteIndent+len("kernel: ")) + "· " + part
						continue
					}
					line += " · " + part
				}
				b.WriteString(line + "\n")
			}
		}
		refWrap(&b, e.Note, noteIndent, DefaultWidth)
		if e.Packet != nil && e.Packet.Comment != "" {
			refWrap(&b, "Comment in the file: "+e.Packet.Comment, noteIndent, DefaultWidth)
		}
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// Detail is the one-line description of an event used by the pretty
// printer after its label: "tcp 127.0.0.1:52844 ↔ 127.0.0.1:6969",
// `18 bytes "I am Chuck Norris!"`.
func refDetail(e Event) string {
	switch e.Phase {
	case PhaseListen:
		return fmt.Sprintf("%s %s (asked for %s)", e.Proto, e.Local, e.Addr)
	case PhaseDNSStart:
		return e.Name
	case PhaseDNSDone:
		if e.Err != "" {
			return fmt.Sprintf("%s: %s", e.Name, e.Err)
		}
		return fmt.Sprintf("%s → %s in %s", e.Name, joinAddrs(e.Addrs), FormatDuration(e.Duration))
	case PhaseDNSSkip:
		return fmt.Sprintf("%s is an IP literal", e.Name)
	case PhaseConnectStart:
		return fmt.Sprintf("%s → %s", e.Proto, e.Remote)
	case PhaseConnectDone, PhaseAccept:
		return e.Tuple().String()
	case PhaseRead, PhaseWrite:
		return fmt.Sprintf("%s %s", plural(e.Bytes, "byte"), e.Data)
	case PhaseEOF:
		return "the peer sent FIN"
	case PhaseCloseWrite:
		return "shutdown(SHUT_WR): FIN follows the data"
	case PhaseClose:
		if !e.Remote.IsValid() {
			return fmt.Sprintf("listener %s", e.Local)
		}
		return fmt.Sprintf("in %d B, out %d B, lived %s", e.BytesIn, e.BytesOut, FormatDuration(e.Lifetime))
	case PhaseError:
		return fmt.Sprintf("%s: %s", e.Op, e.Err)
	case PhaseNote:
		return e.Text
	case PhasePacket:
		if p := e.Packet; p != nil {
			return refPacketDetail(p)
		}
	case PhaseCounter:
		if c := e.Counter; c != nil {
			if c.At != "" {
				return fmt.Sprintf("%s's %s +%d", c.At, c.Name, c.Delta)
			}
			return fmt.Sprintf("%s +%d", c.Name, c.Delta)
		}
	case PhaseState:
		if c := e.State; c != nil {
			s := c.Side + " "
			jump := c.Asked && !Transition(c.From, c.To)
			if c.From != c.To && !jump {
				s += c.From.String() + " → "
			}
			s += c.To.String()
			if c.Kept {
				if c.Expires < time.Second {
					s += ", kept by the kernel for " + FormatDuration(c.Expires)
				} else {
					s += fmt.Sprintf(", kept by the kernel for %d s", c.Expires.Round(time.Second)/time.Second)
				}
			}
			switch {
			case jump:
				s += " (found when asked; last seen " + c.From.String() + ")"
			case c.Asked:
				s += " (found when asked)"
			}
			if c.CauseFlags != "" {
				s += fmt.Sprintf("  ← %s at +%s", c.CauseFlags, FormatDuration(c.CauseElapsed))
			}
			return s
		}
	}
	return e.Text
}

// packetDetail describes a packet on one line: who sends to whom, then
// the TCP numbers or the DNS message.
func refPacketDetail(p *Packet) string {
	s := p.From + " → " + p.To
	if p.Proto != "tcp" && p.DNS == "" {
		s = p.Src.String() + " → " + p.Dst.String()
	}
	if p.At != "" {
		s = "at " + p.At + ": " + s
	}
	switch {
	case p.DNS != "":
		return s + "  " + p.DNS
	case p.Proto != "tcp":
		s = fmt.Sprintf("%s  %s %d bytes", s, p.Proto, p.Len)
		if p.Payload != "" {
			s += "  " + p.Payload
		}
		return s
	}
	s += fmt.Sprintf("  seq %d", p.Seq)
	if strings.Contains(p.Flags, "ACK") {
		s += fmt.Sprintf(" ack %d", p.Ack)
	}
	if p.Len > 0 {
		s += fmt.Sprintf(" len %d", p.Len)
	}
	s += fmt.Sprintf(" win %d", p.Window)
	if p.Options != "" {
		s += "  " + p.Options
	}
	if p.Payload != "" {
		s += "  " + p.Payload
	}
	for _, a := range p.Analysis {
		s += "  [" + a + "]"
	}
	return s
}

// packetLabel is a packet's label in the pretty output: its TCP flags,
// or DNS.
func refPacketLabel(p *Packet) string {
	switch {
	case p == nil:
		return "PACKET"
	case p.DNS != "":
		return "DNS"
	case p.Flags != "":
		return p.Flags
	}
	return strings.ToUpper(p.Proto)
}

// packetColor picks the colour of a packet's label by what it does.
func (pp *refPrettyPrinter) refPacketColor(p *Packet) *color.Color {
	switch {
	case p == nil:
		return pp.colors["wire"]
	case strings.Contains(p.Flags, "RST"):
		return pp.colors[string(PhaseError)]
	case strings.Contains(p.Flags, "SYN"):
		return pp.colors[string(PhaseConnectDone)]
	case strings.Contains(p.Flags, "FIN"):
		return pp.colors[string(PhaseClose)]
	case p.DNS != "":
		return pp.colors[string(PhaseDNSDone)]
	case p.Len > 0:
		return pp.colors[string(PhaseWrite)]
	}
	return pp.colors["wire"]
}

// wrap writes text to b in lines of at most width columns, each indented.
// refLines writes a title or heading in colour c: on its line, or
// wrapped to DefaultWidth, each line coloured, if it does not fit.
func refLines(b *strings.Builder, c *color.Color, text string) {
	if len([]rune(text)) <= DefaultWidth && !strings.Contains(text, "\n") {
		b.WriteString(c.Sprint(text) + "\n")
		return
	}
	var w strings.Builder
	refWrap(&w, text, 0, DefaultWidth)
	for _, line := range strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n") {
		b.WriteString(c.Sprint(line) + "\n")
	}
}

func refWrap(b *strings.Builder, text string, indent, width int) {
	if text == "" {
		return
	}
	pad := strings.Repeat(" ", indent)
	line := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && line+1+len([]rune(word)) > width-indent {
			b.WriteString("\n")
			line = 0
		}
		if line == 0 {
			b.WriteString(pad)
		} else {
			b.WriteString(" ")
			line++
		}
		b.WriteString(word)
		line += len([]rune(word))
	}
	b.WriteString("\n")
}

// Preview's fast path for plain ASCII gives what strconv.Quote gives.
func TestPreviewPlainASCII(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	cases := [][]byte{nil, {}, []byte("I am Chuck Norris!"), []byte(`say "hi"`), []byte(`back\slash`), all[0x20:0x7f],
		[]byte(strings.Repeat("x", 64)), []byte(strings.Repeat("x", 65)), []byte("tab\t"), []byte("del\x7f"), []byte("é")}
	for c := range 256 {
		cases = append(cases, []byte{'a', byte(c), 'b'})
	}
	for _, d := range cases {
		want := strconv.Quote(string(d))
		if len(d) > maxTextPreview || !IsText(d) {
			continue
		}
		if got := Preview(d); got != want {
			t.Errorf("Preview(%q) = %s, want %s", d, got, want)
		}
	}
}

// refPreview is Preview as it was written before it appended in place.
func refPreview(data []byte) string {
	if plainASCII(data) {
		return strconv.Quote(string(data))
	}
	if isText(data) {
		shown := data
		if len(shown) > maxTextPreview {
			shown = shown[:maxTextPreview]
			for len(shown) > 0 && !utf8.Valid(shown) {
				shown = shown[:len(shown)-1]
			}
		}
		s := strconv.Quote(string(shown))
		if rest := len(data) - len(shown); rest > 0 {
			s = s[:len(s)-1] + `…"` + fmt.Sprintf(" (+%d bytes)", rest)
		}
		return s
	}
	shown := data
	if len(shown) > maxHexPreview {
		shown = shown[:maxHexPreview]
	}
	s := "hex " + hex.EncodeToString(shown)
	if rest := len(data) - len(shown); rest > 0 {
		s += fmt.Sprintf("… (+%d bytes)", rest)
	}
	return s
}

// Preview, and the preview a trace builds from the bytes it kept, say
// what refPreview says, for text, binary, long data and data cut inside
// a rune.
func TestPreviewMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	pieces := []string{"a", "I am Chuck Norris!", `"`, `\`, "\n", "\t", "\x00", "\xff", "日本語", "é", "\u2028", " "}
	var inputs [][]byte
	for _, n := range []int{0, 1, 23, 24, 25, 63, 64, 65, 255, 256, 257, 1000} {
		inputs = append(inputs, bytes.Repeat([]byte("a"), n), bytes.Repeat([]byte("é"), n), bytes.Repeat([]byte{0}, n))
	}
	for range 5000 {
		var b []byte
		for range r.IntN(80) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		want := refPreview(in)
		if got := Preview(in); got != want {
			t.Fatalf("Preview(%q) = %q, want %q", in, got, want)
		}
		e := Event{Phase: PhaseRead, Bytes: len(in), raw: keepPreview(in)}
		if got := e.Resolved().Data; got != want {
			t.Fatalf("the kept preview of %q = %q, want %q", in, got, want)
		}
		var js bytes.Buffer
		if err := NewJSON(&js).Print(e); err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Data != want {
			t.Fatalf("JSON of the kept preview of %q: %q (%v), want %q", in, back.Data, err, want)
		}
	}
}

// BenchmarkJSONString writes a packet's note (340 bytes, nothing to
// escape) as a JSON string, against encoding/json's Marshal of it in
// the same run.
func BenchmarkJSONString(b *testing.B) {
	s := "The client's kernel sends 18 bytes of data (bytes 1 to 18 of its stream); PSH: Linux sets it on the last segment of each write, " +
		"and on the last of each group of segments its kernel builds as one large packet, cut into segments on the way out (GSO), so a long " +
		"write shows several (the receiver hands data to its program with or without it)."
	var refNs float64
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			if _, err := json.Marshal(s); err != nil {
				b.Fatal(err)
			}
		}
		refNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = appendJSONString(buf[:0], s)
		}
		if refNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/refNs, "x-encoding-json")
		}
	})
}
