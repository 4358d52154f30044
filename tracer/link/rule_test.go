package link

import (
	"net/netip"
	"testing"
	"time"
)

func TestRuleString(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Dir: FromClient, Kind: Data, Index: 3, Action: Drop}, "drop the 3rd data segment from the client"},
		{Rule{Dir: FromClient, Kind: Data, Index: 3, Action: Drop, Retransmits: 2}, "drop the 3rd data segment from the client and its first 2 retransmissions"},
		{Rule{Dir: FromServer, Kind: SYNACK, Index: 1, Action: Delay, Extra: 50 * time.Millisecond}, "delay by 50ms the 1st SYN-ACK from the server"},
		{Rule{Kind: PureACK, Action: Duplicate}, "duplicate every pure ACK"},
		{Rule{Dir: FromClient, Kind: Data, Index: 12, Action: Hold}, "hold back the 12th data segment from the client"},
		{Rule{Action: Drop, Retransmits: AllRetransmits}, "drop every segment, retransmissions too"},
		{Rule{Dir: FromClient, Kind: SYN, Family: IPv6, Action: Drop, Retransmits: AllRetransmits}, "drop every IPv6 SYN from the client, retransmissions too"},
		{Rule{Dir: FromServer, Kind: Data, Index: 2, Action: Drop, Retransmits: AllRetransmits}, "drop the 2nd data segment from the server and all its retransmissions"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestRuleMatches(t *testing.T) {
	r := Rule{Dir: FromClient, Kind: Data, Index: 3, Retransmits: 1, Action: Drop}
	for _, tc := range []struct {
		s    Segment
		want bool
	}{
		{Segment{Dir: FromClient, Kind: Data, Index: 3, Transmission: 1}, true},
		{Segment{Dir: FromClient, Kind: Data, Index: 3, Transmission: 2}, true},
		{Segment{Dir: FromClient, Kind: Data, Index: 3, Transmission: 3}, false},
		{Segment{Dir: FromServer, Kind: Data, Index: 3, Transmission: 1}, false},
		{Segment{Dir: FromClient, Kind: Data, Index: 2, Transmission: 1}, false},
		{Segment{Dir: FromClient, Kind: FIN, Index: 3, Transmission: 1}, false},
	} {
		if got := r.matches(tc.s); got != tc.want {
			t.Errorf("%v matches %+v: %v, want %v", r, tc.s, got, tc.want)
		}
	}
}

func TestRuleMatchesFamilyAndAll(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.0.2.1:40000")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:40000")
	mapped := netip.MustParseAddrPort("[::ffff:192.0.2.1]:40000")
	r := Rule{Kind: SYN, Family: IPv6, Action: Drop, Retransmits: AllRetransmits}
	for _, tc := range []struct {
		s    Segment
		want bool
	}{
		{Segment{Src: v6, Kind: SYN, Index: 1, Transmission: 1}, true},
		{Segment{Src: v6, Kind: SYN, Index: 1, Transmission: 7}, true},
		{Segment{Src: v6, Kind: SYN, Index: 2, Transmission: 1}, true},
		{Segment{Src: v4, Kind: SYN, Index: 1, Transmission: 1}, false},
		{Segment{Src: mapped, Kind: SYN, Index: 1, Transmission: 1}, false},
		{Segment{Src: v6, Kind: Data, Index: 1, Transmission: 1}, false},
	} {
		if got := r.matches(tc.s); got != tc.want {
			t.Errorf("%v matches %+v: %v, want %v", r, tc.s, got, tc.want)
		}
	}
	text := eventText(r, Segment{Src: v6, Dir: FromClient, Kind: SYN, Index: 1, Transmission: 3})
	if want := "dropped on purpose: the 1st IPv6 SYN from the client, sent for the 3rd time"; text != want {
		t.Errorf("event text %q, want %q", text, want)
	}
}
