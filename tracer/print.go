package tracer

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
)

// NewJSON returns a printer that writes each event as one JSON object on
// its own line (JSON Lines). The fields are documented in
// docs/trace-format.md. A nil w means os.Stdout.
func NewJSON(w io.Writer) Printer {
	if w == nil {
		w = os.Stdout
	}
	return jsonPrinter{json.NewEncoder(w)}
}

type jsonPrinter struct{ enc *json.Encoder }

func (p jsonPrinter) Print(e Event) error { return p.enc.Encode(e) }

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

// NewPretty returns a printer for people: one line per event with the
// time since the trace started, the actor, the connection and what
// happened, then the note, wrapped, below it. With useColor the phase
// and actor are coloured (see [ColorWanted]). A nil w means os.Stdout.
func NewPretty(w io.Writer, useColor bool) Printer {
	if w == nil {
		w = os.Stdout
	}
	p := &prettyPrinter{w: w, colors: map[string]*color.Color{}}
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
}

type prettyPrinter struct {
	w      io.Writer
	colors map[string]*color.Color
}

// Layout of an event line: time, actor, connection, label, detail.
const (
	noteIndent = 13
	lineWidth  = 80
)

func (p *prettyPrinter) Print(e Event) error {
	var b strings.Builder
	switch e.Phase {
	case PhaseLesson:
		b.WriteString(p.colors["title"].Sprint(e.Text))
		b.WriteString("\n")
		wrap(&b, e.Note, 0, lineWidth)
	case PhaseStep:
		b.WriteString("\n")
		b.WriteString(p.colors["heading"].Sprint(e.Text))
		b.WriteString("\n")
		wrap(&b, e.Note, 2, lineWidth)
		b.WriteString("\n")
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
			label, labelColor = packetLabel(e.Packet), p.packetColor(e.Packet)
		}
		if labelColor == nil {
			labelColor = p.colors["wire"]
		}
		fmt.Fprintf(&b, "%12s  %s %-3s %s  %s\n",
			"+"+FormatDuration(e.Elapsed),
			actor.Sprintf("%-6s", e.Actor),
			conn,
			labelColor.Sprintf("%-9s", label),
			Detail(e))
		wrap(&b, e.Note, noteIndent, lineWidth)
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// Detail is the one-line description of an event used by the pretty
// printer after its label: "tcp 127.0.0.1:52844 ↔ 127.0.0.1:6969",
// `18 bytes "I am Chuck Norris!"`.
func Detail(e Event) string {
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
			return packetDetail(p)
		}
	}
	return e.Text
}

// packetDetail describes a packet on one line: who sends to whom, then
// the TCP numbers or the DNS message.
func packetDetail(p *Packet) string {
	s := p.From + " → " + p.To
	switch {
	case p.DNS != "":
		return s + "  " + p.DNS
	case p.Proto != "tcp":
		return fmt.Sprintf("%s  %s %d bytes", s, p.Proto, p.Len)
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
	return s
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
func (pp *prettyPrinter) packetColor(p *Packet) *color.Color {
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
func wrap(b *strings.Builder, text string, indent, width int) {
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

// PrinterFunc adapts a function to the [Printer] interface.
type PrinterFunc func(Event) error

// Print calls f(e).
func (f PrinterFunc) Print(e Event) error { return f(e) }
