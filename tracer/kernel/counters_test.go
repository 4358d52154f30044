package kernel

import "testing"

func TestCountersParse(t *testing.T) {
	c := Counters{}
	err := c.parse([]byte("Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 7\nTcpExt: ListenOverflows TCPLossProbes\nTcpExt: 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c["TcpActiveOpens"] != 7 || c["TcpExtListenOverflows"] != 2 || c["TcpExtTCPLossProbes"] != 3 || c["TcpMaxConn"] != -1 {
		t.Errorf("parsed %v", c)
	}
	before := Counters{"TcpActiveOpens": 5, "TcpExtListenOverflows": 2}
	got := c.Since(before, []string{"TcpExtListenOverflows", "TcpActiveOpens", "TcpExtTCPLossProbes"})
	want := []CounterChange{{Name: "TcpActiveOpens", Delta: 2, Value: 7}, {Name: "TcpExtTCPLossProbes", Delta: 3, Value: 3}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Since: %v, want %v", got, want)
	}
	if err := c.parse([]byte("TcpExt: A B\nTcpExt: 1\n")); err == nil {
		t.Error("a line short of values parsed")
	}
}

func TestReadCounters(t *testing.T) {
	c, err := ReadCounters()
	if err != nil {
		t.Skipf("no /proc/net here: %v", err)
	}
	for _, n := range KnownNames {
		if _, ok := c[n]; !ok {
			t.Logf("this kernel has no %s", n)
		}
	}
	if _, ok := c["TcpExtListenOverflows"]; !ok {
		t.Errorf("no TcpExtListenOverflows among %d counters", len(c))
	}
}
