package link

import (
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
