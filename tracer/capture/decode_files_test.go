package capture

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tsharkRow is one line of a testdata/*.tshark table (makecaps'
// tableFields).
type tsharkRow map[string]string

func readTshark(t *testing.T, path string) []tsharkRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var fields []string
	var rows []tsharkRow
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "# tshark "); ok {
			fields = strings.Fields(h)
			continue
		}
		vals := strings.Split(line, "\t")
		if len(vals) != len(fields) {
			t.Fatalf("%s: %d fields in %q", path, len(vals), line)
		}
		r := tsharkRow{}
		for i, f := range fields {
			r[f] = vals[i]
		}
		rows = append(rows, r)
	}
	return rows
}

func (r tsharkRow) num(t *testing.T, f string) int {
	t.Helper()
	s := r[f]
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		t.Fatalf("field %s: %v", f, err)
	}
	return int(n)
}

var dnsTypeNumbers = map[string]string{"1": "A", "5": "CNAME", "16": "TXT", "28": "AAAA"}

// TestDecodeAgainstTshark decodes every frame of the captures makecaps
// made (reassembling fragments, as tshark does) and compares it with
// tshark's view of it: ports, flags, raw sequence and acknowledgement
// numbers, window, payload length, the options tshark saw, and DNS (id,
// QR, TC, question, answers and their types).
func TestDecodeAgainstTshark(t *testing.T) {
	for _, name := range []string{"lo.pcap", "snaplen60.pcap", "snaplen96.pcap", "any-sll.pcap", "any-sll2.pcap"} {
		t.Run(name, func(t *testing.T) {
			pkts, err := ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			rows := readTshark(t, filepath.Join("testdata", name+".tshark"))
			if len(rows) != len(pkts) {
				t.Fatalf("%d packets, tshark %d", len(pkts), len(rows))
			}
			dc := NewDecoder()
			for i, p := range pkts {
				compareTshark(t, i+1, p, dc, rows[i])
			}
			if dc.Held() != 0 {
				t.Errorf("%d fragments still held", dc.Held())
			}
		})
	}
}

func compareTshark(t *testing.T, frame int, p Packet, dc *Decoder, r tsharkRow) {
	t.Helper()
	d, err := dc.Decode(p)
	where := fmt.Sprintf("frame %d", frame)
	proto := r["_ws.col.Protocol"]
	switch {
	case proto == "IPv4" || proto == "IPv6":
		// A fragment tshark reassembles with a later one.
		want := SkipIPv4Held
		if proto == "IPv6" {
			want = SkipIPv6Held
		}
		if err != nil || d.Skip != want || d.TCP != nil || d.UDP != nil {
			t.Errorf("%s: a fragment: skip %q, %v", where, d.Skip, err)
		}
		return
	case proto == "ICMP":
		if err != nil || d.Skip != "not TCP or UDP (ICMP)" || d.UDP != nil {
			t.Errorf("%s: ICMP: skip %q, %v", where, d.Skip, err)
		}
		return
	case r["tcp.srcport"] != "" && r["tcp.flags"] == "":
		// tshark saw the ports only: the TCP header was cut.
		if SkipReason(err) != "cut by the snapshot length within the TCP header" || d.Skip != SkipReason(err) || d.TCP != nil ||
			strconv.Itoa(int(d.Src.Port())) != r["tcp.srcport"] {
			t.Errorf("%s: TCP header cut: %+v, %v", where, d, err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if r["tcp.flags"] != "" {
		s := d.TCP
		if s == nil {
			t.Fatalf("%s: no TCP (skip %q)", where, d.Skip)
		}
		if strconv.Itoa(int(d.Src.Port())) != r["tcp.srcport"] || strconv.Itoa(int(d.Dst.Port())) != r["tcp.dstport"] ||
			int(s.Flags) != r.num(t, "tcp.flags") || int(s.Seq) != r.num(t, "tcp.seq_raw") || int(s.Ack) != r.num(t, "tcp.ack_raw") ||
			int(s.Window) != r.num(t, "tcp.window_size_value") || s.PayloadLen != r.num(t, "tcp.len") {
			t.Errorf("%s: %v → %v %v seq %d ack %d win %d len %d\ntshark %v", where, d.Src, d.Dst, s.Flags, s.Seq, s.Ack, s.Window, s.PayloadLen, r)
		}
		o := s.Options
		if int(o.MSS) != r.num(t, "tcp.options.mss_val") || o.HasWindowScale != (r["tcp.options.wscale.shift"] != "") ||
			int(o.WindowScale) != r.num(t, "tcp.options.wscale.shift") || o.HasTimestamps != (r["tcp.options.timestamp.tsval"] != "") ||
			int(o.TSval) != r.num(t, "tcp.options.timestamp.tsval") {
			t.Errorf("%s: options %+v\ntshark %v", where, o, r)
		}
		if s.OptionsCut != (d.Cut == "TCP options") || (s.OptionsCut && (len(s.Payload) != 0 || d.CaptureLength == d.Length)) ||
			s.OptionsCut != (s.OptionBytes < s.HeaderLen-20) {
			t.Errorf("%s: options cut %v, Cut %q", where, s.OptionsCut, d.Cut)
		}
	} else if r["udp.srcport"] != "" {
		if d.UDP == nil || strconv.Itoa(int(d.Src.Port())) != r["udp.srcport"] || strconv.Itoa(int(d.Dst.Port())) != r["udp.dstport"] {
			t.Errorf("%s: UDP %v → %v, %+v\ntshark %v", where, d.Src, d.Dst, d.UDP, r)
		}
	}
	if r["dns.id"] == "" || strings.Contains(r["dns.id"], ",") {
		if d.DNS != nil {
			t.Errorf("%s: DNS %+v where tshark sees none", where, d.DNS)
		}
		return
	}
	m := d.DNS
	if m == nil {
		// tshark calls anything on port 53 DNS, even a datagram that
		// does not parse (it says "Malformed").
		if d.UDP != nil && string(d.UDP.Payload) == "hello, not DNS" {
			return
		}
		// Nor does Decode show a message the capture cut (tshark shows
		// what it can of it).
		if d.TCP != nil && len(d.TCP.Payload) < d.TCP.PayloadLen {
			return
		}
		t.Fatalf("%s: no DNS\ntshark %v", where, r)
	}
	var types []string
	for _, n := range strings.Split(r["dns.resp.type"], ",") {
		if n != "" && n != "41" { // OPT is no answer
			types = append(types, dnsTypeNumbers[n])
		}
	}
	var got []string
	for _, a := range m.Answers {
		got = append(got, a.Type)
	}
	if int(m.ID) != r.num(t, "dns.id") || m.Response != (r["dns.flags.response"] == "1") || m.Truncated != (r["dns.flags.truncated"] == "1") ||
		(r["dns.qry.name"] != "" && (len(m.Questions) != 1 || m.Questions[0].Name != r["dns.qry.name"])) || (r["dns.qry.name"] == "" && len(m.Questions) != 0) || len(m.Answers) != r.num(t, "dns.count.answers") || !slices.Equal(got, types) {
		t.Errorf("%s: DNS %+v\ntshark %v", where, m, r)
	}
}
