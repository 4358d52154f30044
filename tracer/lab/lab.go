// Package lab runs the lessons' DNS server: a real DNS server on a
// loopback port, built with github.com/miekg/dns, that answers for the
// lesson host names and says NXDOMAIN for everything else.
//
// `localhost` is answered from /etc/hosts and sends no packet, so to show
// a lookup on the wire the lessons point the client's resolver at the lab:
//
//	srv, err := lab.Start("127.0.0.1:0", lab.Names)
//	if err != nil { … }
//	defer srv.Close()
//	d := tracer.Dialer{Hooks: h, DNSServer: srv.Addr().String()}
//	conn, err := d.Dial("tcp4", "chuck.norris.test:6969")
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Names are the host names the lessons use, all on loopback.
var Names = map[string][]netip.Addr{
	"chuck.norris.test":   {netip.MustParseAddr("127.0.0.1")},
	"server.tcptour.test": {netip.MustParseAddr("127.0.0.1")},
	"dual.tcptour.test":   {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
}

// TTL is the time to live of every answer, in seconds.
const TTL = 60

// Server is a running lab DNS server.
type Server struct {
	srv   *dns.Server
	addr  netip.AddrPort
	names map[string][]netip.Addr
	done  chan error
}

// Start listens for DNS queries over UDP on addr ("127.0.0.1:0" lets the
// kernel choose the port) and answers them from names. Names are matched
// without regard to case or a final dot.
func Start(addr string, names map[string][]netip.Addr) (*Server, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("lab DNS: port in use: %w (choose another port, or 0 to let the kernel choose)", err)
		}
		return nil, fmt.Errorf("lab DNS: %w", err)
	}
	s := &Server{
		addr:  pc.LocalAddr().(*net.UDPAddr).AddrPort(),
		names: make(map[string][]netip.Addr, len(names)),
		done:  make(chan error, 1),
	}
	for name, addrs := range names {
		s.names[dns.CanonicalName(name)] = addrs
	}
	started := make(chan struct{})
	s.srv = &dns.Server{
		PacketConn:        pc,
		Handler:           dns.HandlerFunc(s.answer),
		NotifyStartedFunc: func() { close(started) },
	}
	go func() { s.done <- s.srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-s.done:
		pc.Close()
		return nil, fmt.Errorf("lab DNS: %w", err)
	}
	return s, nil
}

// Addr returns the address the server answers on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Close stops the server and waits for it to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.ShutdownContext(ctx)
	<-s.done
	return err
}

// answer replies to one query: the addresses of a known name (A for
// IPv4, AAAA for IPv6; an empty answer when the name has none of that
// family), NXDOMAIN for an unknown name, NOTIMP for anything but a
// standard query.
func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m) // NOTE: a lost answer makes the client retry
		return
	}
	q := req.Question[0]
	addrs, ok := s.names[strings.ToLower(q.Name)]
	if !ok {
		m.SetRcode(req, dns.RcodeNameError)
		m.Ns = []dns.RR{s.soa()}
		_ = w.WriteMsg(m) // NOTE: a lost answer makes the client retry
		return
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: TTL}
	for _, a := range addrs {
		switch {
		case q.Qtype == dns.TypeA && a.Is4():
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case q.Qtype == dns.TypeAAAA && a.Is6():
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{s.soa()}
	}
	_ = w.WriteMsg(m) // NOTE: a lost answer makes the client retry
}

// soa is the authority record sent with negative answers, so resolvers
// know how long they may remember them.
func (s *Server) soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns:      "lab.tcptour.test.",
		Mbox:    "nobody.tcptour.test.",
		Serial:  1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: TTL,
	}
}
