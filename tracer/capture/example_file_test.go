package capture_test

import (
	"fmt"
	"io"
	"strings"

	"tcptour/tracer/capture"
)

// Read a pcapng file of two interfaces packet by packet: the
// interfaces, the section's comment and each packet's interface and
// comment.
func ExampleOpenFile() {
	r, err := capture.OpenFile("testdata/twoif.pcapng")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err) // the packets before the damage were read
			break
		}
		d, _ := capture.Decode(p)
		fmt.Printf("%d: at %s, %v → %v %q", r.Packets(), p.Interface, d.Src.Addr(), d.Dst.Addr(), d.UDP.Payload)
		if p.Comment != "" {
			fmt.Printf(" (comment: %s)", p.Comment)
		}
		fmt.Println()
	}
	for i, ifc := range r.Interfaces() {
		fmt.Printf("interface %d: %s, %s\n", i, ifc.Name, capture.LinkTypeName(ifc.LinkType))
	}
	fmt.Println("comments:", strings.Join(r.Comments(), "; "))
	// Output:
	// 1: at lo, 127.0.0.1 → 127.0.0.1 "lo 0"
	// 2: at lo, 127.0.0.1 → 127.0.0.1 "lo 1" (comment: makecaps: the second packet)
	// 3: at lo, 127.0.0.1 → 127.0.0.1 "lo 2"
	// 4: at d0, 10.9.0.1 → 10.9.0.2 "d0 0"
	// 5: at d0, 10.9.0.1 → 10.9.0.2 "d0 1"
	// 6: at d0, 10.9.0.1 → 10.9.0.2 "d0 2"
	// interface 0: lo, EN10MB (1)
	// interface 1: d0, EN10MB (1)
	// comments: makecaps: 3 datagrams on lo, 3 out through d0
}

// Decode a capture with a Decoder, which puts IP fragments back
// together, and count what it could not show, per reason.
func ExampleDecoder() {
	r, err := capture.OpenFile("testdata/lo.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	dc := capture.NewDecoder()
	skipped := map[string]int{}
	for {
		p, err := r.Next()
		if err != nil {
			break // io.EOF, or a damaged file
		}
		d, _ := dc.Decode(p)
		if d.Skip != "" {
			skipped[d.Skip]++
			continue
		}
		if d.DNS != nil && d.Fragments > 0 {
			m := d.DNS
			fmt.Printf("%d fragments: DNS answer %s %s, %d records\n", d.Fragments, m.Questions[0].Type, m.Questions[0].Name, len(m.Answers))
		}
	}
	for _, reason := range []string{capture.SkipIPv4Held, capture.SkipIPv6Held, "not TCP or UDP (ICMP)"} {
		fmt.Printf("%s: %d\n", reason, skipped[reason])
	}
	// Output:
	// 3 fragments: DNS answer TXT big.example.test, 12 records
	// 3 fragments: DNS answer TXT big.example.test, 12 records
	// an IPv4 fragment, held for reassembly: 2
	// an IPv6 fragment, held for reassembly: 2
	// not TCP or UDP (ICMP): 1
}
