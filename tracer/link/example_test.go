package link_test

import (
	"fmt"
	"time"

	"tcptour/tracer/link"
)

func ExampleRule_String() {
	for _, r := range []link.Rule{
		{Dir: link.FromClient, Kind: link.Data, Index: 3, Action: link.Drop},
		{Dir: link.FromClient, Kind: link.Data, Index: 3, Retransmits: 1, Action: link.Drop},
		{Dir: link.FromServer, Kind: link.SYNACK, Action: link.Delay, Extra: 200 * time.Millisecond},
		{Dir: link.FromClient, Kind: link.Data, Index: 5, Action: link.Hold},
	} {
		fmt.Println(r)
	}
	// Output:
	// drop the 3rd data segment from the client
	// drop the 3rd data segment from the client and its first retransmission
	// delay by 200ms every SYN-ACK from the server
	// hold back the 5th data segment from the client
}
