package capture

import (
	"encoding/hex"
	"testing"
)

// TestFastOpenOption checks the TCP Fast Open option of the SYNs of
// tracer/wire/testdata/tfo.pcapng against what tshark reads
// (tcp.options.tfo.request, tcp.options.tfo.cookie): frame 1 asks for
// a cookie, frame 2 (SYN-ACK) gives a8a404207f16b00a, frame 11 (a SYN
// with 18 bytes of data) sends it back; frame 12 has none.
func TestFastOpenOption(t *testing.T) {
	pkts, err := ReadFile("../wire/testdata/tfo.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		frame    int
		fastOpen bool
		cookie   string
	}{{1, true, ""}, {2, true, "a8a404207f16b00a"}, {11, true, "a8a404207f16b00a"}, {12, false, ""}, {3, false, ""}} {
		d, err := Decode(pkts[w.frame-1])
		if err != nil {
			t.Fatal(err)
		}
		o := d.TCP.Options
		if o.FastOpen != w.fastOpen || hex.EncodeToString(o.Cookie) != w.cookie {
			t.Errorf("frame %d: FastOpen %v cookie %x, want %v %q", w.frame, o.FastOpen, o.Cookie, w.fastOpen, w.cookie)
		}
	}
	// The experimental kind 254 with magic 0xF989 (RFC 7413 §4.1.1),
	// and a cookie request in it.
	for _, c := range []struct {
		opts   []byte
		cookie string
	}{
		{[]byte{254, 8, 0xf9, 0x89, 1, 2, 3, 4}, "01020304"},
		{[]byte{254, 4, 0xf9, 0x89}, ""},
		{[]byte{34, 2}, ""},
	} {
		o := tcpOptions(c.opts)
		if !o.FastOpen || hex.EncodeToString(o.Cookie) != c.cookie {
			t.Errorf("% x: FastOpen %v cookie %x, want a cookie %q", c.opts, o.FastOpen, o.Cookie, c.cookie)
		}
	}
	if o := tcpOptions([]byte{254, 4, 0x12, 0x34}); o.FastOpen {
		t.Errorf("kind 254 with another magic taken for Fast Open")
	}
}
