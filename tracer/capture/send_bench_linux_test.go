package capture

import (
	"net"
	"testing"
)

// BenchmarkSendOnLo measures what a capture on lo costs the programs that
// send: a UDP datagram sent to a port nobody listens on and the capture
// does not record, with no capture, with a capture whose filter drops
// the copy of each frame lo hands it as the frame is sent (the kernel
// clones the frame for it first), and with one that asks the kernel not
// to hand it those copies (PACKET_IGNORE_OUTGOING, the default). The
// sending thread's CPU is the cost: ns/op is per datagram.
func BenchmarkSendOnLo(b *testing.B) {
	for _, bc := range []struct {
		name           string
		capture, apart bool
	}{{"no-capture", false, false}, {"filter-drops-outgoing", true, false}, {"ignore-outgoing", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.capture {
				defer func(was bool) { ignoreOutgoing = was }(ignoreOutgoing)
				ignoreOutgoing = bc.apart
				c, err := Open(Config{TCPPorts: []uint16{9}, Handler: func(Packet) {}})
				if err != nil {
					b.Skipf("capture not permitted: %v", err)
				}
				defer c.Close()
			}
			// A port the capture does not record: its filter
			// drops each frame as it arrives, in both cases.
			conn, err := net.Dial("udp4", "127.0.0.1:9")
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			msg := []byte("I am Chuck Norris!")
			for b.Loop() {
				// Nobody listens: every other send may return
				// the ICMP error of the one before.
				_, _ = conn.Write(msg)
			}
		})
	}
}
