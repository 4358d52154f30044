package tracer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"golang.org/x/term"

	"tcptour/tracer/kernel"
)

// NewJSON returns a printer that writes each event as one JSON object on
// its own line (JSON Lines). The fields are documented in
// docs/trace-format.md. A nil w means os.Stdout.
//
// The output is what encoding/json's Encoder writes for an Event; the
// printer builds it without reflection or allocation, in one buffer,
// with one Write per event. Like the Encoder, after a Write fails it
// returns that error and writes nothing more. It is safe for concurrent
// use.
func NewJSON(w io.Writer) Printer {
	if w == nil {
		w = os.Stdout
	}
	return &jsonPrinter{w: w}
}

type jsonPrinter struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	scratch []byte // a note being built
	times   timeCache
	err     error // the first error writing: sticky, as json.Encoder's
}

func (p *jsonPrinter) Print(e Event) error { return p.PrintBatch([]Event{e}) }

// flushAt is how much a batch printer gathers before it writes, at most.
const flushAt = 32 << 10

// PrintBatch writes the events' lines with one Write for each 32 KiB or
// so; an event encoding/json refuses is left out, and its error
// returned.
func (p *jsonPrinter) PrintBatch(events []Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	var refused error
	b := p.buf[:0]
	for i := range events {
		e := &events[i]
		n := len(b)
		var ok bool
		b, ok = p.appendJSON(b, e)
		if !ok {
			// A time json cannot hold (a year outside 0 to 9999): let
			// encoding/json say so, as before.
			b = b[:n]
			if _, err := json.Marshal(e.Resolved()); err != nil && refused == nil {
				refused = err
			}
		}
		if len(b) >= flushAt || i == len(events)-1 {
			if err := p.write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	p.keep(b)
	return refused
}

func (p *jsonPrinter) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := p.w.Write(b); err != nil {
		p.err = err
		return err
	}
	return nil
}

// appendJSON appends e's line, its pending note built into the
// printer's scratch buffer.
func (p *jsonPrinter) appendJSON(b []byte, e *Event) ([]byte, bool) {
	note := e.Note
	if note == "" && e.lazy != 0 {
		p.scratch = appendNote(p.scratch[:0], e)
		return appendJSONNote(b, e, p.scratch, &p.times)
	}
	return appendJSONNote(b, e, note, &p.times)
}

// keep keeps b for the next event, unless one huge event made it big.
func (p *jsonPrinter) keep(b []byte) {
	if cap(b) <= maxKeptBuffer {
		p.buf = b
	} else {
		p.buf = nil
	}
}

const maxKeptBuffer = 64 << 10

// appendJSON appends e as encoding/json's Encoder writes it: the fields in
// order, with their tags' names, omitempty and omitzero, strings escaped
// the same way (HTML characters too), and a newline. It reports false,
// with b unchanged, for what it leaves to encoding/json: a time whose
// year is outside 0 to 9999, which Time.MarshalJSON refuses.
func appendJSON(b []byte, e *Event) ([]byte, bool) { return appendJSONNote(b, e, e.Note, nil) }

// appendJSONNote is appendJSON with the note given, and the time's text
// kept in times (nil: none).
func appendJSONNote[S []byte | string](b []byte, e *Event, note S, times *timeCache) ([]byte, bool) {
	start := len(b)
	b = strconv.AppendInt(append(b, `{"seq":`...), e.Seq, 10)
	b = append(b, `,"time":"`...)
	tb, err := times.appendText(b, e.Time)
	if err != nil {
		return b[:start], false
	}
	b = append(tb, '"')
	b = strconv.AppendInt(append(b, `,"elapsed_ns":`...), int64(e.Elapsed), 10)
	if e.Step != 0 {
		b = strconv.AppendInt(append(b, `,"step":`...), int64(e.Step), 10)
	}
	b = appendJSONString(append(b, `,"actor":`...), e.Actor)
	if e.Conn != 0 {
		b = strconv.AppendInt(append(b, `,"conn":`...), int64(e.Conn), 10)
	}
	b = appendJSONString(append(b, `,"phase":`...), string(e.Phase))
	b = jsonStringField(b, `,"proto":`, e.Proto)
	if e.Local != (netip.AddrPort{}) {
		b = appendJSONAddrPort(append(b, `,"local":`...), e.Local)
	}
	if e.Remote != (netip.AddrPort{}) {
		b = appendJSONAddrPort(append(b, `,"remote":`...), e.Remote)
	}
	b = jsonStringField(b, `,"addr":`, e.Addr)
	b = jsonStringField(b, `,"name":`, e.Name)
	if len(e.DNSServers) > 0 {
		b = append(b, `,"dns_servers":[`...)
		for i, s := range e.DNSServers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if len(e.Addrs) > 0 {
		b = append(b, `,"addrs":[`...)
		for i, a := range e.Addrs {
			if i > 0 {
				b = append(b, ',')
			}
			var scratch [64]byte
			b = appendJSONString(b, a.AppendTo(scratch[:0]))
		}
		b = append(b, ']')
	}
	b = jsonIntField(b, `,"bytes":`, int64(e.Bytes))
	if e.Data == "" && e.raw != nil {
		// The preview, built at the end of b, then moved into place
		// escaped.
		n := len(b)
		b = appendPreview(b, e.raw, e.Bytes)
		preview := b[n:]
		b = appendJSONString(append(b, `,"data":`...), preview)
		b = append(b[:n], b[n+len(preview):]...)
	} else {
		b = jsonStringField(b, `,"data":`, e.Data)
	}
	b = jsonIntField(b, `,"bytes_in":`, e.BytesIn)
	b = jsonIntField(b, `,"bytes_out":`, e.BytesOut)
	if e.PeerClosed {
		b = append(b, `,"peer_closed":true`...)
	}
	b = jsonIntField(b, `,"lifetime_ns":`, int64(e.Lifetime))
	b = jsonIntField(b, `,"duration_ns":`, int64(e.Duration))
	b = jsonStringField(b, `,"op":`, e.Op)
	b = jsonStringField(b, `,"error":`, e.Err)
	b = jsonStringField(b, `,"text":`, e.Text)
	b = jsonStringField(b, `,"note":`, note)
	if p := e.Packet; p != nil {
		b = appendJSONString(append(b, `,"packet":{"proto":`...), p.Proto)
		b = appendJSONAddrPort(append(b, `,"src":`...), p.Src)
		b = appendJSONAddrPort(append(b, `,"dst":`...), p.Dst)
		b = appendJSONString(append(b, `,"from":`...), p.From)
		b = appendJSONString(append(b, `,"to":`...), p.To)
		b = jsonStringField(b, `,"flags":`, p.Flags)
		b = strconv.AppendUint(append(b, `,"seq":`...), uint64(p.Seq), 10)
		b = strconv.AppendUint(append(b, `,"ack":`...), uint64(p.Ack), 10)
		b = strconv.AppendUint(append(b, `,"raw_seq":`...), uint64(p.RawSeq), 10)
		b = strconv.AppendUint(append(b, `,"raw_ack":`...), uint64(p.RawAck), 10)
		b = strconv.AppendInt(append(b, `,"len":`...), int64(p.Len), 10)
		b = strconv.AppendInt(append(b, `,"win":`...), int64(p.Window), 10)
		b = jsonStringField(b, `,"options":`, p.Options)
		b = jsonStringField(b, `,"dns":`, p.DNS)
		b = strconv.AppendInt(append(b, `,"size":`...), int64(p.Size), 10)
		if p.Frame != 0 {
			b = strconv.AppendInt(append(b, `,"frame":`...), int64(p.Frame), 10)
		}
		b = jsonStringField(b, `,"at":`, p.At)
		if p.IPID != 0 {
			b = strconv.AppendUint(append(b, `,"ip_id":`...), uint64(p.IPID), 10)
		}
		if len(p.Analysis) > 0 {
			b = append(b, `,"analysis":[`...)
			for i, a := range p.Analysis {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, a)
			}
			b = append(b, ']')
		}
		b = jsonStringField(b, `,"payload":`, p.Payload)
		b = jsonStringField(b, `,"comment":`, p.Comment)
		b = append(b, '}')
	}
	if i := e.TCP; i != nil {
		b = appendJSONString(append(b, `,"tcp_info":{"state":`...), i.State.String())
		b = strconv.AppendInt(append(b, `,"rtt_ns":`...), int64(i.RTT), 10)
		b = strconv.AppendInt(append(b, `,"rttvar_ns":`...), int64(i.RTTVar), 10)
		b = strconv.AppendInt(append(b, `,"rto_ns":`...), int64(i.RTO), 10)
		b = strconv.AppendUint(append(b, `,"snd_cwnd":`...), uint64(i.SndCwnd), 10)
		b = strconv.AppendUint(append(b, `,"snd_mss":`...), uint64(i.SndMSS), 10)
		b = strconv.AppendUint(append(b, `,"rcv_mss":`...), uint64(i.RcvMSS), 10)
		b = strconv.AppendUint(append(b, `,"unacked":`...), uint64(i.Unacked), 10)
		b = strconv.AppendUint(append(b, `,"retransmits":`...), uint64(i.Retransmits), 10)
		b = strconv.AppendUint(append(b, `,"retrans":`...), uint64(i.Retrans), 10)
		b = strconv.AppendUint(append(b, `,"total_retrans":`...), uint64(i.TotalRetrans), 10)
		b = strconv.AppendUint(append(b, `,"snd_wnd":`...), uint64(i.SndWnd), 10)
		b = strconv.AppendUint(append(b, `,"probes":`...), uint64(i.Probes), 10)
		b = strconv.AppendUint(append(b, `,"backoff":`...), uint64(i.Backoff), 10)
		b = strconv.AppendUint(append(b, `,"bytes_acked":`...), i.BytesAcked, 10)
		b = strconv.AppendUint(append(b, `,"bytes_received":`...), i.BytesReceived, 10)
		b = appendJSONString(append(b, `,"ca_state":`...), i.CAState.String())
		b = strconv.AppendUint(append(b, `,"snd_ssthresh":`...), uint64(i.SndSsthresh), 10)
		b = strconv.AppendUint(append(b, `,"total_rto":`...), uint64(i.TotalRTO), 10)
		b = strconv.AppendUint(append(b, `,"total_rto_recoveries":`...), uint64(i.TotalRTORecoveries), 10)
		b = strconv.AppendInt(append(b, `,"total_rto_time_ns":`...), int64(i.TotalRTOTime), 10)
		b = strconv.AppendUint(append(b, `,"lost":`...), uint64(i.Lost), 10)
		b = strconv.AppendUint(append(b, `,"sacked":`...), uint64(i.Sacked), 10)
		b = strconv.AppendUint(append(b, `,"reord_seen":`...), uint64(i.ReordSeen), 10)
		b = strconv.AppendUint(append(b, `,"dsack_dups":`...), uint64(i.DSACKDups), 10)
		b = strconv.AppendUint(append(b, `,"rcv_ooopack":`...), uint64(i.RcvOOOPack), 10)
		b = strconv.AppendUint(append(b, `,"segs_out":`...), uint64(i.SegsOut), 10)
		b = strconv.AppendUint(append(b, `,"segs_in":`...), uint64(i.SegsIn), 10)
		b = strconv.AppendUint(append(b, `,"data_segs_out":`...), uint64(i.DataSegsOut), 10)
		b = strconv.AppendUint(append(b, `,"data_segs_in":`...), uint64(i.DataSegsIn), 10)
		b = strconv.AppendUint(append(b, `,"bytes_sent":`...), i.BytesSent, 10)
		b = strconv.AppendUint(append(b, `,"bytes_retrans":`...), i.BytesRetrans, 10)
		b = strconv.AppendUint(append(b, `,"notsent_bytes":`...), uint64(i.NotsentBytes), 10)
		b = strconv.AppendUint(append(b, `,"rcv_wnd":`...), uint64(i.RcvWnd), 10)
		b = strconv.AppendInt(append(b, `,"min_rtt_ns":`...), int64(i.MinRTT), 10)
		b = strconv.AppendUint(append(b, `,"delivery_rate":`...), i.DeliveryRate, 10)
		b = append(b, '}')
	}
	if c := e.State; c != nil {
		b = appendJSONString(append(b, `,"state":{"side":`...), c.Side)
		b = appendJSONString(append(b, `,"from":`...), c.From.String())
		b = appendJSONString(append(b, `,"to":`...), c.To.String())
		if c.Asked {
			b = append(b, `,"asked":true`...)
		}
		if c.Kept {
			b = append(b, `,"kept":true`...)
		}
		b = jsonIntField(b, `,"expires_ns":`, int64(c.Expires))
		b = jsonIntField(b, `,"cause":`, c.Cause)
		b = jsonStringField(b, `,"cause_flags":`, c.CauseFlags)
		b = jsonIntField(b, `,"cause_elapsed_ns":`, int64(c.CauseElapsed))
		b = jsonStringField(b, `,"reason":`, c.Reason)
		b = append(b, '}')
	}
	if c := e.Counter; c != nil {
		b = appendJSONString(append(b, `,"counter":{"name":`...), c.Name)
		b = strconv.AppendInt(append(b, `,"delta":`...), c.Delta, 10)
		b = strconv.AppendInt(append(b, `,"value":`...), c.Value, 10)
		b = jsonStringField(b, `,"at":`, c.At)
		b = append(b, '}')
	}
	return append(b, "}\n"...), true
}

// jsonStringField appends an omitempty string field.
func jsonStringField[S []byte | string](b []byte, name string, s S) []byte {
	if len(s) == 0 {
		return b
	}
	return appendJSONString(append(b, name...), s)
}

// jsonIntField appends an omitempty integer field.
func jsonIntField(b []byte, name string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, name...), n, 10)
}

// timeCache keeps the text of the second a printer wrote last: a trace's
// events come many to a second, and Time.AppendText works the date and
// the clock out again for each.
type timeCache struct {
	sec  int64
	loc  *time.Location
	head []byte // "2006-01-02T15:04:05", empty until a time is kept
	zone []byte // "Z" or "-07:00"
}

// appendText appends t as t.AppendText does (RFC 3339 with the
// nanoseconds that are not zero), from the second kept when t is in it,
// in the same location (a zone's offset changes on a second, never
// within one).
func (c *timeCache) appendText(b []byte, t time.Time) ([]byte, error) {
	if c == nil {
		return t.AppendText(b)
	}
	if len(c.head) == 0 || t.Unix() != c.sec || t.Location() != c.loc {
		start := len(b)
		b, err := t.AppendText(b)
		if err != nil {
			return b, err
		}
		// "2006-01-02T15:04:05", then ".999999999" (or nothing), then
		// the zone: a year has four digits, or AppendText refuses it.
		text := b[start:]
		rest := text[19:]
		if len(rest) > 0 && rest[0] == '.' {
			rest = rest[1:]
			for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
				rest = rest[1:]
			}
		}
		c.sec, c.loc = t.Unix(), t.Location()
		c.head = append(c.head[:0], text[:19]...)
		c.zone = append(c.zone[:0], rest...)
		return b, nil
	}
	b = append(b, c.head...)
	if ns := t.Nanosecond(); ns != 0 {
		var digits [9]byte
		for i := 8; i >= 0; i-- {
			digits[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for digits[n-1] == '0' {
			n--
		}
		b = append(append(b, '.'), digits[:n]...)
	}
	return append(b, c.zone...), nil
}

// appendJSONAddrPort appends ap as encoding/json writes it: its
// MarshalText as a JSON string ("" for the zero value).
func appendJSONAddrPort(b []byte, ap netip.AddrPort) []byte {
	if ap.Addr().Zone() == "" {
		// Digits, dots, colons and brackets alone: nothing to escape.
		b = append(b, '"')
		return append(ap.AppendTo(b), '"')
	}
	var scratch [64]byte
	return appendJSONString(b, ap.AppendTo(scratch[:0]))
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// with HTML escaping on (its default): ", \ and control characters
// escaped, <, > and & as \u003c, \u003e and \u0026, invalid UTF-8 as
// \ufffd, and U+2028 and U+2029 escaped.
func appendJSONString[S []byte | string](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a look of its own
		// (notes are long, and plain).
		i += plainRun(s[i:])
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainRun returns how many of s's first bytes, in whole words of
// eight, need no look of their own in appendJSONString (see plain8): a
// loop of its own, whose few variables stay in registers.
func plainRun[S []byte | string](s S) int {
	n := 0
	for ; len(s)-n >= 8; n += 8 {
		t := s[n : n+8]
		if !plain8(uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56) {
			break
		}
	}
	return n
}

// Words of eight bytes, each byte the same, for plain8.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether none of the eight bytes in w needs a look of
// its own in appendJSONString: each is ASCII, at least 0x20, and none of
// " \ < > &. (Bit Twiddling Hacks' tests for a zero byte and a byte
// below n: a borrow can mark a byte above one that matched, never a
// word where none did.)
func plain8(w uint64) bool {
	// (x - ones) &^ x has a byte's high bit set where x has a zero byte
	// (and perhaps in higher ones); (w - n*ones) &^ w, where w has a
	// byte below n (n ≤ 128). The high bits are kept at the end. " and &
	// (0x22, 0x26) differ in one bit, and so do < and > (0x3c, 0x3e):
	// with that bit set, each pair is one value.
	qa, lg, bs := (w|0x04*ones)^('&'*ones), (w|0x02*ones)^('>'*ones), w^('\\'*ones)
	bad := w | (w-0x20*ones)&^w | (qa-ones)&^qa | (lg-ones)&^lg | (bs-ones)&^bs
	return bad&highs == 0
}

// ColorWanted reports whether output to w should be coloured: not when
// the program was asked not to (noColor, from a --no-color flag), not
// when the NO_COLOR environment variable is set (https://no-color.org),
// and only when w is a terminal.
func ColorWanted(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// The widths of the pretty output, in columns.
const (
	// DefaultWidth is the width of output that is not a terminal, or
	// of a terminal that does not say.
	DefaultWidth = 80
	// MinWidth is the narrowest the pretty output wraps to: narrower,
	// a note would be a column of words.
	MinWidth = 40
)

// TerminalWidth returns the width in columns of w when it is a
// terminal (an *os.File whose terminal gives its size), at least
// [MinWidth]; [DefaultWidth] otherwise. Pass it to
// [PrettyOptions.Width]: a printer cannot tell from its io.Writer.
func TerminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return DefaultWidth
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return DefaultWidth
	}
	return max(cols, MinWidth)
}

// PrettyOptions configure the printer [NewPrettyWith] returns.
type PrettyOptions struct {
	// Color colours the phases and actors (see [ColorWanted]).
	Color bool
	// Width is the width of the output in columns: the notes wrap to
	// it, between words. 0 means [DefaultWidth]; less than [MinWidth]
	// means MinWidth. [TerminalWidth] gives a terminal's.
	Width int
	// StepTimes shows each event's time since the start of its step
	// (the last PhaseStep event at or before it), not since the trace
	// started, so that the time a lesson waits at a pause between steps
	// does not count. An event that happens during a pause belongs to
	// the step before it, and shows its time since that step started.
	// Before the first step, times are since the trace started. The
	// title (the PhaseLesson event) says so in a line.
	StepTimes bool
	// Brief prints one line an event: no note below it, and no line
	// of TCP_INFO (for a summary that picks out events, as the
	// practice checks print).
	Brief bool
}

// NewPretty returns a printer for people: one line per event with the
// time since the trace started, the actor, the connection and what
// happened, then the note, wrapped to 80 columns, below it. With
// useColor the phase and actor are coloured (see [ColorWanted]). A nil
// w means os.Stdout. It writes each event with one Write, and is safe
// for concurrent use. [NewPrettyWith] takes more options.
func NewPretty(w io.Writer, useColor bool) Printer {
	return NewPrettyWith(w, PrettyOptions{Color: useColor})
}

// NewPrettyWith returns a printer as [NewPretty] does, with the
// options opts.
func NewPrettyWith(w io.Writer, opts PrettyOptions) Printer {
	if w == nil {
		w = os.Stdout
	}
	width := opts.Width
	if width == 0 {
		width = DefaultWidth
	}
	p := &prettyPrinter{w: w, colors: map[string]paint{}, width: max(width, MinWidth), stepTimes: opts.StepTimes, brief: opts.Brief}
	mk := func(attrs ...color.Attribute) paint {
		c := color.New(attrs...)
		if opts.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		// fatih/color wraps a string in the same two sequences whatever
		// the string: find them once, with a marker in between.
		pre, post, _ := strings.Cut(c.Sprint("\x00"), "\x00")
		return paint{pre, post}
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

// paint is a colour as the escape sequences that start and end it
// (both empty without colour).
type paint struct{ pre, post string }

// appendPadded appends s in the colour, padded with spaces to width
// runes (as fmt's %-*s).
func (c paint) appendPadded(b []byte, s string, width int) []byte {
	b = append(b, c.pre...)
	b = appendPadRight(b, s, width)
	return append(b, c.post...)
}

// appendLines appends text and a newline, in the colour: as it is
// when it fits on a line of width columns, else wrapped to width, each
// line in the colour.
func (c paint) appendLines(b []byte, text string, width int) []byte {
	if utf8.RuneCountInString(text) <= width && !strings.Contains(text, "\n") {
		return append(c.appendPadded(b, text, 0), '\n')
	}
	for line := range strings.Lines(Wrap(text, 0, width)) {
		b = append(b, c.pre...)
		b = append(b, strings.TrimSuffix(line, "\n")...)
		b = append(append(b, c.post...), '\n')
	}
	return b
}

var phaseColors = map[Phase][]color.Attribute{
	PhaseListen:       {color.FgGreen},
	PhaseDNSStart:     {color.FgCyan},
	PhaseDNSDone:      {color.FgCyan},
	PhaseDNSSkip:      {color.FgCyan},
	PhaseConnectStart: {color.FgGreen},
	PhaseConnectDone:  {color.FgGreen, color.Bold},
	PhaseAccept:       {color.FgGreen, color.Bold},
	PhaseRead:         {color.FgBlue, color.Bold},
	PhaseWrite:        {color.FgBlue, color.Bold},
	PhaseEOF:          {color.FgYellow},
	PhaseCloseWrite:   {color.FgYellow},
	PhaseClose:        {color.FgYellow, color.Bold},
	PhaseError:        {color.FgRed, color.Bold},
	PhaseNote:         {color.Italic},
	PhaseState:        {color.FgHiCyan},
	PhaseCounter:      {color.FgCyan},
}

// Labels are the short names of phases in the pretty output.
var labels = map[Phase]string{
	PhaseListen:       "LISTEN",
	PhaseDNSStart:     "DNS ?",
	PhaseDNSDone:      "DNS =",
	PhaseDNSSkip:      "NO DNS",
	PhaseConnectStart: "CONNECT",
	PhaseConnectDone:  "CONNECTED",
	PhaseAccept:       "ACCEPT",
	PhaseRead:         "READ",
	PhaseWrite:        "WRITE",
	PhaseEOF:          "EOF",
	PhaseCloseWrite:   "CLOSE WR",
	PhaseClose:        "CLOSE",
	PhaseError:        "ERROR",
	PhaseNote:         "NOTE",
	PhaseState:        "STATE",
	PhaseCounter:      "COUNTER",
	PhaseSample:       "SAMPLE",
}

type prettyPrinter struct {
	w         io.Writer
	colors    map[string]paint // read only after NewPretty
	width     int              // the notes wrap to it
	stepTimes bool             // PrettyOptions.StepTimes
	brief     bool             // PrettyOptions.Brief

	mu      sync.Mutex // guards buf, scratch and steps
	buf     []byte
	scratch []byte          // a note being built
	steps   []time.Duration // with stepTimes: when each step printed started
}

// noteIndent is where a note starts, below its event's line: after the
// time.
const noteIndent = 13

// stepTimesNote is the line under a lesson's title that says how the
// pretty output counts its times (PrettyOptions.StepTimes).
const stepTimesNote = "Each time (+…) counts from the start of its step, so pauses are left out."

// since returns the time to show for an event d after the trace
// started: d, or with stepTimes its time since the last step started
// at or before it. p.mu is held.
func (p *prettyPrinter) since(d time.Duration) time.Duration {
	if !p.stepTimes {
		return d
	}
	i := sort.Search(len(p.steps), func(i int) bool { return p.steps[i] > d })
	if i == 0 {
		return d
	}
	return d - p.steps[i-1]
}

// stepStarted notes that a step started d after the trace did. p.mu is
// held.
func (p *prettyPrinter) stepStarted(d time.Duration) {
	if !p.stepTimes {
		return
	}
	i := sort.Search(len(p.steps), func(i int) bool { return p.steps[i] > d })
	p.steps = slices.Insert(p.steps, i, d)
}

func (p *prettyPrinter) Print(e Event) error { return p.PrintBatch([]Event{e}) }

// PrintBatch writes the events with one Write for each 32 KiB or so.
func (p *prettyPrinter) PrintBatch(events []Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buf[:0]
	for i := range events {
		b = p.appendEvent(b, &events[i])
		if len(b) >= flushAt || i == len(events)-1 {
			if _, err := p.w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if cap(b) <= maxKeptBuffer {
		p.buf = b
	} else {
		p.buf = nil
	}
	return nil
}

// appendEvent appends e as Print writes it. p.mu is held.
func (p *prettyPrinter) appendEvent(b []byte, e *Event) []byte {
	note := e.Note
	if note == "" && e.lazy != 0 {
		// The note built into the scratch buffer, read in place: it
		// does not change while it is appended to b.
		p.scratch = appendNote(p.scratch[:0], e)
		note = unsafe.String(unsafe.SliceData(p.scratch), len(p.scratch))
	}
	switch e.Phase {
	case PhaseLesson:
		b = p.colors["title"].appendLines(b, e.Text, p.width)
		b = appendWrapped(b, note, 0, p.width)
		if p.stepTimes {
			b = appendWrapped(b, stepTimesNote, 0, p.width)
		}
	case PhaseSample:
		// A series of readings is for a chart (package
		// tracer/chart), not for a line each.
	case PhaseStep:
		p.stepStarted(e.Elapsed)
		b = append(b, '\n')
		b = p.colors["heading"].appendLines(b, e.Text, p.width)
		b = appendWrapped(b, note, 2, p.width)
		b = append(b, '\n')
	default:
		actor := p.colors["actor"]
		if c, ok := p.colors[e.Actor]; ok {
			actor = c
		}
		label := labels[e.Phase]
		if label == "" {
			label = strings.ToUpper(string(e.Phase))
		}
		labelColor, ok := p.colors[string(e.Phase)]
		if e.Phase == PhasePacket {
			label, labelColor, ok = packetLabel(e.Packet), p.packetColor(e.Packet), true
		}
		if !ok {
			labelColor = p.colors["wire"]
		}
		// As fmt's "%12s  %s %-3s %s  %s\n" of the elapsed time, the
		// actor, the connection, the label and the detail.
		var scratch [32]byte
		elapsed := appendDuration(append(scratch[:0], '+'), p.since(e.Elapsed))
		b = appendPadLeft(b, elapsed, 12)
		b = append(b, "  "...)
		b = actor.appendPadded(b, e.Actor, 6)
		b = append(b, ' ')
		conn := scratch[:0]
		if e.Conn != 0 {
			conn = strconv.AppendInt(append(conn, '#'), int64(e.Conn), 10)
		}
		b = appendPadRight(b, conn, 3)
		b = append(b, ' ')
		b = labelColor.appendPadded(b, label, 9)
		b = append(b, "  "...)
		var causeShift time.Duration // what since takes off the cause's time
		if c := e.State; c != nil && c.CauseFlags != "" {
			causeShift = c.CauseElapsed - p.since(c.CauseElapsed)
		}
		b = appendDetail(b, e, causeShift)
		b = append(b, '\n')
		if p.brief {
			break
		}
		if e.TCP != nil && briefTCP(e) {
			var brief [160]byte
			b = appendParts(b, appendTCPBrief(append(brief[:0], "kernel: "...), e), noteIndent, p.width)
		}
		b = appendWrapped(b, note, noteIndent, p.width)
		if e.Packet != nil && e.Packet.Comment != "" {
			// A comment the capture file holds on the packet.
			var c [256]byte
			b = appendWrapped(b, string(append(append(c[:0], "Comment in the file: "...), e.Packet.Comment...)), noteIndent, p.width)
		}
	}
	return b
}

// appendPadRight appends s and then spaces up to width runes.
func appendPadRight[S []byte | string](b []byte, s S, width int) []byte {
	b = append(b, s...)
	for n := utf8.RuneCountInString(string(s)); n < width; n++ {
		b = append(b, ' ')
	}
	return b
}

// appendPadLeft appends spaces up to width runes and then s.
func appendPadLeft[S []byte | string](b []byte, s S, width int) []byte {
	for n := utf8.RuneCountInString(string(s)); n < width; n++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

// Detail is the one-line description of an event used by the pretty
// printer after its label: "tcp 127.0.0.1:52844 ↔ 127.0.0.1:6969",
// `18 bytes "I am Chuck Norris!"`.
func Detail(e Event) string { return string(appendDetail(nil, &e, 0)) }

// appendDetail appends [Detail] of e, the time of the segment that
// caused a change of state less causeShift.
func appendDetail(b []byte, e *Event, causeShift time.Duration) []byte {
	switch e.Phase {
	case PhaseListen:
		b = append(append(b, e.Proto...), ' ')
		b = appendAddrPort(b, e.Local)
		b = append(b, " (asked for "...)
		return append(append(b, e.Addr...), ')')
	case PhaseDNSStart:
		return append(b, e.Name...)
	case PhaseDNSDone:
		b = append(b, e.Name...)
		if e.Err != "" {
			return append(append(b, ": "...), e.Err...)
		}
		b = append(b, " → "...)
		for i, a := range e.Addrs {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendAddr(b, a)
		}
		return appendDuration(append(b, " in "...), e.Duration)
	case PhaseDNSSkip:
		return append(append(b, e.Name...), " is an IP literal"...)
	case PhaseConnectStart:
		b = append(append(b, e.Proto...), " → "...)
		return appendAddrPort(b, e.Remote)
	case PhaseConnectDone, PhaseAccept:
		b = append(append(b, e.Proto...), ' ')
		b = appendAddrPort(b, e.Local)
		b = append(b, " ↔ "...)
		return appendAddrPort(b, e.Remote)
	case PhaseRead, PhaseWrite:
		b = appendPlural(b, e.Bytes, "byte")
		if e.Data == "" && e.raw != nil {
			return appendPreview(append(b, ' '), e.raw, e.Bytes)
		}
		return append(append(b, ' '), e.Data...)
	case PhaseEOF:
		return append(b, "the peer sent FIN"...)
	case PhaseCloseWrite:
		return append(b, "shutdown(SHUT_WR): FIN follows the data"...)
	case PhaseClose:
		if !e.Remote.IsValid() {
			return appendAddrPort(append(b, "listener "...), e.Local)
		}
		b = strconv.AppendInt(append(b, "in "...), e.BytesIn, 10)
		b = strconv.AppendInt(append(b, " B, out "...), e.BytesOut, 10)
		return appendDuration(append(b, " B, lived "...), e.Lifetime)
	case PhaseError:
		return append(append(append(b, e.Op...), ": "...), e.Err...)
	case PhaseNote:
		return append(b, e.Text...)
	case PhasePacket:
		if p := e.Packet; p != nil {
			return appendPacketDetail(b, p)
		}
	case PhaseCounter:
		if c := e.Counter; c != nil {
			if c.At != "" {
				b = append(append(b, c.At...), "'s "...)
			}
			b = append(append(b, c.Name...), " +"...)
			return strconv.AppendInt(b, c.Delta, 10)
		}
	case PhaseState:
		if c := e.State; c != nil {
			return appendStateDetail(b, c, causeShift)
		}
	}
	return append(b, e.Text...)
}

// appendStateDetail describes a change of state on one line: whose
// socket, from and to, and what the kernel said besides; the time of
// the segment that caused it less causeShift (its step's start, as its
// own line shows it).
func appendStateDetail(b []byte, c *StateChange, causeShift time.Duration) []byte {
	b = append(append(b, c.Side...), ' ')
	// Found when asked after a jump of several states: no arrow, which
	// would show a change the state machine does not have.
	jump := c.Asked && !Transition(c.From, c.To)
	if c.From != c.To && !jump {
		b = append(append(b, c.From.String()...), " → "...)
	}
	b = append(b, c.To.String()...)
	if c.Kept {
		b = appendSeconds(append(b, ", kept by the kernel for "...), c.Expires)
	}
	switch {
	case jump:
		b = append(append(append(b, " (found when asked; last seen "...), c.From.String()...), ')')
	case c.Asked:
		b = append(b, " (found when asked)"...)
	}
	if c.CauseFlags != "" {
		b = append(append(b, "  ← "...), c.CauseFlags...)
		b = appendDuration(append(b, " at +"...), c.CauseElapsed-causeShift)
	}
	return b
}

// briefTCP reports whether the pretty output shows the TCP_INFO of e:
// where it teaches something. A connection's start (the round-trip
// time and segment size the handshake gave), the end of reading (the
// state the FIN left), closing and errors (the state then); a read or
// write only off the beaten track: in a state other than ESTABLISHED,
// or after retransmissions.
func briefTCP(e *Event) bool {
	switch e.Phase {
	case PhaseConnectDone, PhaseAccept, PhaseEOF, PhaseCloseWrite, PhaseClose, PhaseError:
		return true
	case PhaseRead, PhaseWrite:
		return e.TCP.State != kernel.Established || e.TCP.TotalRetrans > 0
	}
	return false
}

// appendParts appends text, parts joined by " · ", indented, in lines
// of at most width columns where it can: a line breaks only between
// parts, and the next line starts with the " · " below the first part's
// second word:
//
//	kernel: ESTABLISHED · rtt 0.045 ms · mss 65483
//	        · cwnd 10
func appendParts(b, text []byte, indent, width int) []byte {
	const sep = " · "
	hang := indent + bytes.IndexByte(text, ' ') + 1
	for range indent {
		b = append(b, ' ')
	}
	col := indent
	for i := 0; ; i++ {
		part, rest, more := bytes.Cut(text, []byte(sep))
		n := utf8.RuneCount(part)
		switch {
		case i == 0:
		case col+3+n > width:
			b = append(b, '\n')
			for range hang {
				b = append(b, ' ')
			}
			b = append(b, sep[1:]...)
			col = hang + 2
		default:
			b = append(b, sep...)
			col += 3
		}
		b = append(b, part...)
		col += n
		if !more {
			return append(b, '\n')
		}
		text = rest
	}
}

// appendTCPBrief appends what the pretty output shows of e's TCP_INFO:
// "ESTABLISHED · rtt 0.045 ms · mss 65483 · cwnd 10" at a connection's
// start, the state and what is unusual otherwise.
func appendTCPBrief(b []byte, e *Event) []byte {
	i := e.TCP
	b = append(b, i.State.String()...)
	if e.Phase == PhaseConnectDone || e.Phase == PhaseAccept {
		b = appendDuration(append(b, " · rtt "...), i.RTT)
		b = strconv.AppendUint(append(b, " · mss "...), uint64(i.SndMSS), 10)
		return strconv.AppendUint(append(b, " · cwnd "...), uint64(i.SndCwnd), 10)
	}
	if i.Unacked > 0 {
		b = strconv.AppendUint(append(b, " · unacked "...), uint64(i.Unacked), 10)
	}
	if i.TotalRetrans > 0 {
		b = strconv.AppendUint(append(b, " · retransmitted "...), uint64(i.TotalRetrans), 10)
	}
	return b
}

// appendPacketDetail describes a packet on one line: where it was seen
// on a link, who sends to whom,
// then the TCP numbers or the DNS message.
func appendPacketDetail(b []byte, p *Packet) []byte {
	if p.At != "" {
		// On a link: which end's interface saw it.
		b = append(append(append(b, "at "...), p.At...), ": "...)
	}
	if p.Proto != "tcp" && p.DNS == "" {
		// No roles (a UDP datagram not DNS): its addresses.
		b = appendAddrPort(append(appendAddrPort(b, p.Src), " → "...), p.Dst)
	} else {
		b = append(append(append(b, p.From...), " → "...), p.To...)
	}
	switch {
	case p.DNS != "":
		return append(append(b, "  "...), p.DNS...)
	case p.Proto != "tcp":
		b = append(append(append(b, "  "...), p.Proto...), ' ')
		b = append(strconv.AppendInt(b, int64(p.Len), 10), " bytes"...)
		if p.Payload != "" {
			b = append(append(b, "  "...), p.Payload...)
		}
		return b
	}
	b = strconv.AppendUint(append(b, "  seq "...), uint64(p.Seq), 10)
	if strings.Contains(p.Flags, "ACK") {
		b = strconv.AppendUint(append(b, " ack "...), uint64(p.Ack), 10)
	}
	if p.Len > 0 {
		b = strconv.AppendInt(append(b, " len "...), int64(p.Len), 10)
	}
	b = strconv.AppendInt(append(b, " win "...), int64(p.Window), 10)
	if p.Options != "" {
		b = append(append(b, "  "...), p.Options...)
	}
	if p.Payload != "" {
		b = append(append(b, "  "...), p.Payload...)
	}
	// What the analysis found, as Wireshark prints its own: [TCP
	// Retransmission].
	for _, a := range p.Analysis {
		b = append(append(append(b, "  ["...), a...), ']')
	}
	return b
}

// appendAddrPort appends ap as its String method writes it.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.Addr().IsValid() {
		return append(b, "invalid AddrPort"...)
	}
	return ap.AppendTo(b)
}

// appendAddr appends a as its String method writes it.
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, "invalid IP"...)
	}
	return a.AppendTo(b)
}

// appendDuration appends [FormatDuration] of d.
func appendDuration(b []byte, d time.Duration) []byte {
	switch {
	case d < time.Second:
		return append(strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64), " ms"...)
	case d < time.Minute:
		return append(strconv.AppendFloat(b, d.Seconds(), 'f', 3, 64), " s"...)
	}
	return append(b, d.Round(time.Second).String()...)
}

// appendSeconds appends d to the second, "60 s", or as
// [FormatDuration] does below a second.
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < time.Second {
		return appendDuration(b, d)
	}
	return append(strconv.AppendInt(b, int64(d.Round(time.Second)/time.Second), 10), " s"...)
}

// appendPlural appends "1 byte" or "18 bytes".
func appendPlural(b []byte, n int, unit string) []byte {
	b = append(strconv.AppendInt(b, int64(n), 10), ' ')
	b = append(b, unit...)
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

// packetLabel is a packet's label in the pretty output: its TCP flags,
// or DNS.
func packetLabel(p *Packet) string {
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
func (pp *prettyPrinter) packetColor(p *Packet) paint {
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

// Wrap returns text in lines of at most width columns, each indented by
// indent spaces and ended by a newline, as the pretty printer wraps its
// notes: every run of white space, line breaks included, is one space,
// and a line breaks only between words (a word longer than a line has a
// line of its own). Empty text gives "".
func Wrap(text string, indent, width int) string {
	return string(appendWrapped(nil, text, indent, width))
}

// appendWrapped appends text in lines of at most width columns, each
// indented.
func appendWrapped(b []byte, text string, indent, width int) []byte {
	if text == "" {
		return b
	}
	line := 0
	first := true
	for i := 0; i < len(text); {
		// The next word, as strings.Fields finds it (split at
		// unicode.IsSpace), and its length in runes, in one pass.
		i = skipSpace(text, i)
		if i == len(text) {
			break
		}
		start, n := i, 0
		for i < len(text) {
			if c := text[i]; c < utf8.RuneSelf {
				if asciiSpace[c] {
					break
				}
				i++
			} else {
				r, size := utf8.DecodeRuneInString(text[i:])
				if unicode.IsSpace(r) {
					break
				}
				i += size
			}
			n++
		}
		word := text[start:i]
		if !first && line+1+n > width-indent {
			b = append(b, '\n')
			line = 0
		}
		first = false
		if line == 0 {
			for range indent {
				b = append(b, ' ')
			}
		} else {
			b = append(b, ' ')
			line++
		}
		b = append(b, word...)
		line += n
	}
	return append(b, '\n')
}

// asciiSpace marks the ASCII bytes unicode.IsSpace calls space.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// skipSpace returns the index of the first byte of text at or after i
// that does not begin a space (unicode.IsSpace), or len(text).
func skipSpace(text string, i int) int {
	for i < len(text) {
		if c := text[i]; c < utf8.RuneSelf {
			if !asciiSpace[c] {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsSpace(r) {
			return i
		}
		i += size
	}
	return i
}

// PrinterFunc adapts a function to the [Printer] interface.
type PrinterFunc func(Event) error

// Print calls f(e).
func (f PrinterFunc) Print(e Event) error { return f(e) }
