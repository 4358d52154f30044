package lab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"tcptour/tracer/lab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAnswers(t *testing.T) {
	srv, err := lab.Start("127.0.0.1:0", lab.Names)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		name    string
		qtype   uint16
		rcode   int
		answers []string
	}{
		{"chuck.norris.test.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}},
		{"CHUCK.Norris.TEST.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}},
		{"chuck.norris.test.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"dual.tcptour.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"::1"}},
		{"nobody.tcptour.test.", dns.TypeA, dns.RcodeNameError, nil},
		{"example.com.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		r, err := dns.Exchange(m, srv.Addr().String())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Rcode != tc.rcode || !r.Authoritative {
			t.Errorf("%s %s: rcode %s aa %v, want %s", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tc.rcode])
		}
		var got []string
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				got = append(got, rr.A.String())
			case *dns.AAAA:
				got = append(got, rr.AAAA.String())
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.answers, ",") {
			t.Errorf("%s %s: answers %v, want %v", tc.name, dns.TypeToString[tc.qtype], got, tc.answers)
		}
		if len(got) == 0 && len(r.Ns) != 1 {
			t.Errorf("%s: a negative answer should carry the SOA, got %v", tc.name, r.Ns)
		}
	}
}

func TestResolverUsesLab(t *testing.T) {
	srv, err := lab.Start("127.0.0.1:0", lab.Names)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr().String())
	}}
	addrs, err := r.LookupNetIP(t.Context(), "ip4", "chuck.norris.test")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("lookup: %v %v", addrs, err)
	}
}

func TestPortInUse(t *testing.T) {
	srv, err := lab.Start("127.0.0.1:0", lab.Names)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, err = lab.Start(srv.Addr().String(), lab.Names)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "lab DNS: port in use") {
		t.Fatalf("second start: %v", err)
	}
}
