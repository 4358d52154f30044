package page_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/page"
)

// A page of a trace of one SYN: its segment is the one element with
// data-frame="1".
func ExampleWrite() {
	c := netip.MustParseAddrPort("127.0.0.1:40000")
	s := netip.MustParseAddrPort("127.0.0.1:80")
	events := []tracer.Event{{
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "wire", Conn: 1, Phase: tracer.PhasePacket,
		Note: "The client asks to open a connection.",
		Packet: &tracer.Packet{Proto: "tcp", Src: c, Dst: s, From: "client", To: "server", Flags: "SYN",
			RawSeq: 1000, Window: 65495, Options: "mss 65495", Frame: 1},
	}}
	var b bytes.Buffer
	if err := page.Write(&b, page.Doc{Title: "one SYN", Events: events}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Count(b.String(), `data-frame="1"`), strings.Contains(b.String(), "<title>SYN seq 0</title>"))
	// Output: 1 true
}
