package wire

import (
	"fmt"
	"strconv"
	"strings"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// udp explains a UDP datagram: a DNS query or answer, or any other.
func (a *Annotator) udp(d capture.Decoded, p *tracer.Packet, e *tracer.Event) string {
	if d.DNS == nil {
		p.From, p.To = "udp", "udp"
		return udpNote(d) + fragmentsNote(d)
	}
	return dnsNote(d.DNS, p, e, false) + fragmentsNote(d)
}

// dnsOverTCP explains the DNS message a TCP segment carries (d.DNS,
// which capture.Decode sets for a segment to or from port 53 made of
// whole messages): a sentence to add to the segment's note, "" if it
// carries none. It sets p.DNS as for UDP.
func (a *Annotator) dnsOverTCP(d capture.Decoded, p *tracer.Packet, e *tracer.Event) string {
	if d.DNS == nil || d.TCP == nil {
		return ""
	}
	return " " + dnsNote(d.DNS, p, e, true)
}

// dnsPorts are the ports of DNS (53), mDNS (5353) and LLMNR (5355).
func dnsPort(port uint16) bool { return port == 53 || port == 5353 || port == 5355 }

// udpNote explains a UDP datagram that is not DNS.
func udpNote(d capture.Decoded) string {
	u := d.UDP
	sport, dport := d.Src.Port(), d.Dst.Port()
	switch {
	case d.Fragment:
		return fmt.Sprintf("The first fragment of a UDP datagram from port %d to port %d of %d bytes of payload: "+
			"the rest came in IP fragments after it, not reassembled here.", sport, dport, u.PayloadLen)
	case len(u.Payload) < u.PayloadLen && (dnsPort(sport) || dnsPort(dport)):
		return fmt.Sprintf("A UDP datagram from port %d to port %d with %d bytes of payload, of which the capture kept %d "+
			"(its snapshot length): too few to read the DNS message it may hold.", sport, dport, u.PayloadLen, len(u.Payload))
	case dnsPort(sport) || dnsPort(dport):
		return fmt.Sprintf("A UDP datagram from port %d to port %d with %d bytes of payload that do not read as a DNS message, "+
			"though the port is DNS's.", sport, dport, u.PayloadLen)
	}
	return fmt.Sprintf("A UDP datagram from port %d to port %d with %d bytes of payload (not DNS).", sport, dport, u.PayloadLen)
}

// fragmentsNote says that a datagram was reassembled from fragments.
func fragmentsNote(d capture.Decoded) string {
	if d.Fragments == 0 {
		return ""
	}
	return fmt.Sprintf(" It was too large for the link: it came in %d IP fragments, put back together here.", d.Fragments)
}

// dnsNote explains a DNS message and sets p.DNS and e.Name.
func dnsNote(m *capture.DNSMessage, p *tracer.Packet, e *tracer.Event, overTCP bool) string {
	var name, qtype string
	if len(m.Questions) > 0 {
		name, qtype = m.Questions[0].Name, m.Questions[0].Type
	}
	e.Name = name
	in := "in one UDP datagram"
	if overTCP {
		in = "over TCP"
	}
	if !m.Response {
		if !overTCP {
			p.From, p.To = "resolver", "dns"
		}
		p.DNS = fmt.Sprintf("query %s %s", qtype, name)
		return fmt.Sprintf("The client's resolver asks the DNS server, %s: what are the %s records of %s? (%s)", in, qtype, name, typeMeaning(qtype))
	}
	if !overTCP {
		p.From, p.To = "dns", "resolver"
	}
	where := ""
	if overTCP {
		where = ", over TCP"
	}
	switch {
	case m.RCode == "NXDOMAIN":
		p.DNS = fmt.Sprintf("answer NXDOMAIN %s", name)
		return fmt.Sprintf("The DNS server answers NXDOMAIN%s: %s does not exist.", where, name)
	case m.RCode != "NOERROR":
		p.DNS = fmt.Sprintf("answer %s %s", m.RCode, name)
		return fmt.Sprintf("The DNS server answers with an error%s: %s%s.", where, m.RCode, rcodeMeaning(m.RCode))
	case m.Truncated:
		p.DNS = fmt.Sprintf("answer %s %s TC", qtype, name)
		carries := "no records"
		if n := len(m.Answers); n == 1 {
			carries = "only 1 record"
		} else if n > 1 {
			carries = "only " + strconv.Itoa(n) + " records"
		}
		return fmt.Sprintf("The DNS server answers with TC (truncated) set: the answer did not fit in a UDP datagram, "+
			"so this one carries %s; the resolver should ask again over TCP.", carries)
	case len(m.Answers) == 0:
		p.DNS = fmt.Sprintf("answer %s %s (none)", qtype, name)
		return fmt.Sprintf("The DNS server answers%s: %s exists but has no %s record.", where, name, qtype)
	}
	runs := answerRuns(m.Answers)
	if len(runs) == 1 && runs[0].typ == qtype && runs[0].name == name && runs[0].typ != "CNAME" {
		// The plain case: the records asked for, under the name asked.
		r := runs[0]
		p.DNS = fmt.Sprintf("answer %s %s %s", qtype, name, strings.Join(shortValues(r.values, " "), " "))
		return fmt.Sprintf("The DNS server answers%s: %s has %s %s (TTL %d s).", where, name, qtype, strings.Join(shortValues(r.values, ", "), ", "), r.ttl)
	}
	// Each record keeps its type: an alias (CNAME) and then the records
	// of the name it points to, as servers send them.
	var short, long []string
	for _, r := range runs {
		if r.typ == "CNAME" {
			short = append(short, fmt.Sprintf("CNAME %s → %s", r.name, strings.Join(r.values, ", ")))
			long = append(long, fmt.Sprintf("%s is an alias (CNAME %s → %s, TTL %d s)", r.name, r.name, strings.Join(r.values, ", "), r.ttl))
			continue
		}
		short = append(short, fmt.Sprintf("%s %s %s", r.typ, r.name, strings.Join(shortValues(r.values, " "), " ")))
		long = append(long, fmt.Sprintf("%s has %s %s (TTL %d s)", r.name, r.typ, strings.Join(shortValues(r.values, ", "), ", "), r.ttl))
	}
	p.DNS = fmt.Sprintf("answer %s %s: %s", qtype, name, strings.Join(short, ", then "))
	return fmt.Sprintf("The DNS server answers%s, to the %s question for %s: %s.", where, qtype, name, strings.Join(long, ", then "))
}

// run is answer records in a row with the same name and type.
type run struct {
	name, typ string
	ttl       uint32
	values    []string
}

func answerRuns(answers []capture.DNSRecord) []run {
	var runs []run
	for _, a := range answers {
		if n := len(runs); n > 0 && runs[n-1].name == a.Name && runs[n-1].typ == a.Type {
			runs[n-1].values = append(runs[n-1].values, a.Value)
			runs[n-1].ttl = min(runs[n-1].ttl, a.TTL)
			continue
		}
		runs = append(runs, run{name: a.Name, typ: a.Type, ttl: a.TTL, values: []string{a.Value}})
	}
	return runs
}

// shortValues keeps a note readable with long records (TXT): at most 4
// values of at most 40 characters, and how many more.
func shortValues(vals []string, sep string) []string {
	const maxVals, maxLen = 4, 40
	var out []string
	for i, v := range vals {
		if i == maxVals {
			out = append(out, fmt.Sprintf("and %d more", len(vals)-maxVals))
			break
		}
		if r := []rune(v); len(r) > maxLen {
			v = string(r[:maxLen-1]) + "…"
		}
		out = append(out, v)
	}
	return out
}

func typeMeaning(qtype string) string {
	switch qtype {
	case "A":
		return "A records hold IPv4 addresses."
	case "AAAA":
		return "AAAA records hold IPv6 addresses."
	case "CNAME":
		return "A CNAME record makes a name an alias of another."
	case "TXT":
		return "TXT records hold text."
	}
	return qtype + " is the record type asked for."
}

func rcodeMeaning(rcode string) string {
	switch rcode {
	case "SERVFAIL":
		return " (the server could not answer)"
	case "REFUSED":
		return " (the server refuses to answer)"
	case "FORMERR":
		return " (the server could not read the query)"
	case "NOTIMP":
		return " (the server does not do this kind of query)"
	}
	return ""
}
