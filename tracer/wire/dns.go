package wire

import (
	"fmt"
	"strings"

	"tcptour/tracer"
	"tcptour/tracer/capture"
)

// udp explains a UDP datagram: a DNS query or answer, or any other.
func (a *Annotator) udp(d capture.Decoded, p *tracer.Packet, e *tracer.Event) string {
	if d.DNS == nil {
		p.From, p.To = "udp", "udp"
		return fmt.Sprintf("A UDP datagram with %d bytes of payload.", d.UDP.PayloadLen)
	}
	m := d.DNS
	var name, qtype string
	if len(m.Questions) > 0 {
		name, qtype = strings.TrimSuffix(m.Questions[0].Name, "."), m.Questions[0].Type
	}
	e.Name = name
	if !m.Response {
		p.From, p.To = "resolver", "dns"
		p.DNS = fmt.Sprintf("query %s %s", qtype, name)
		return fmt.Sprintf("The client's resolver asks the DNS server, in one UDP datagram: what are the %s records of %s? (%s)", qtype, name, typeMeaning(qtype))
	}
	p.From, p.To = "dns", "resolver"
	var vals []string
	for _, r := range m.Answers {
		vals = append(vals, r.Value)
	}
	switch {
	case m.RCode == "Non-Existent Domain":
		p.DNS = fmt.Sprintf("answer NXDOMAIN %s", name)
		return fmt.Sprintf("The DNS server answers NXDOMAIN: %s does not exist.", name)
	case m.RCode != "No Error":
		p.DNS = fmt.Sprintf("answer %s %s", m.RCode, name)
		return fmt.Sprintf("The DNS server answers with an error: %s.", m.RCode)
	case len(vals) == 0:
		p.DNS = fmt.Sprintf("answer %s %s (none)", qtype, name)
		return fmt.Sprintf("The DNS server answers: %s exists but has no %s record.", name, qtype)
	}
	p.DNS = fmt.Sprintf("answer %s %s %s", qtype, name, strings.Join(vals, " "))
	return fmt.Sprintf("The DNS server answers: %s has %s %s (TTL %d s).", name, qtype, strings.Join(vals, ", "), m.Answers[0].TTL)
}

func typeMeaning(qtype string) string {
	switch qtype {
	case "A":
		return "A records hold IPv4 addresses."
	case "AAAA":
		return "AAAA records hold IPv6 addresses."
	}
	return qtype + " is the record type asked for."
}
