//go:build linux

package main

import (
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// The lesson and docs/lessons/16.md say what Node does with a name of
// two families. These tests run Node (testdata/autoselect.js) on the
// loopback of the test's own network namespace (see TestMain), with a
// lookup of its own that answers an IPv6 address first, then 127.0.0.1,
// where the test's server listens (IPv4 only).

// nodeResult is what autoselect.js prints.
type nodeResult struct {
	Defaults *struct {
		AutoSelectFamily bool
		AttemptTimeout   int
	}
	Connected     float64
	RemoteAddress string
	RemoteFamily  string
	Attempted     []string
	Error         string
	Waiting       float64
	Connecting    bool
}

// runNode runs autoselect.js against a server on 127.0.0.1 and returns
// its reports; the first is Node's defaults.
func runNode(t *testing.T, v6 string, off bool) []nodeResult {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	args := []string{"testdata/autoselect.js", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), v6, "127.0.0.1"}
	if off {
		args = append(args, "off")
	}
	node := lessontest.StartNode(t, args[0], args[1:]...)
	out, err := node.Wait()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res []nodeResult
	for _, m := range regexp.MustCompile(`(?m)^\{.*\}$`).FindAllString(out, -1) {
		var r nodeResult
		if err := json.Unmarshal([]byte(m), &r); err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	if len(res) < 2 || res[0].Defaults == nil {
		t.Fatalf("node said:\n%s", out)
	}
	t.Logf("node: %s", out)
	return res
}

// Node 20's defaults: autoSelectFamily on, 250 ms per attempt. With
// IPv6 refused (::1, where nothing listens), Node tries 127.0.0.1 at
// once after the RST and connects: remoteFamily 'IPv4', both addresses
// in autoSelectFamilyAttemptedAddresses.
func TestNodeAutoSelectRefused(t *testing.T) {
	blackhole(t) // brings lo up too
	res := runNode(t, "::1", false)
	if d := res[0].Defaults; !d.AutoSelectFamily || d.AttemptTimeout != 250 {
		t.Errorf("Node's defaults: autoSelectFamily %v, attempt timeout %d ms; the lesson says true and 250", d.AutoSelectFamily, d.AttemptTimeout)
	}
	r := res[1]
	if r.RemoteFamily != "IPv4" || len(r.Attempted) != 2 || r.Connected >= 250 {
		t.Errorf("IPv6 refused: %+v; want IPv4, both addresses tried, connected well within 250 ms", r)
	}
}

// With IPv6 silent, Node waits its attempt timeout, 250 ms, then tries
// IPv4 (Go's dialer waits 300 ms).
func TestNodeAutoSelectBlackholed(t *testing.T) {
	v6 := blackhole(t)
	r := runNode(t, v6, false)[1]
	if r.RemoteFamily != "IPv4" || len(r.Attempted) != 2 || r.Connected < 250 || r.Connected > 1000 {
		t.Errorf("IPv6 blackholed: %+v; want IPv4 after the 250 ms attempt timeout", r)
	}
}

// With autoSelectFamily false, Node tries the first address only and
// waits on it: nothing connects in a second.
func TestNodeAutoSelectOff(t *testing.T) {
	v6 := blackhole(t)
	r := runNode(t, v6, true)[1]
	if r.Waiting == 0 || !r.Connecting {
		t.Errorf("autoSelectFamily false, IPv6 blackholed: %+v; want it still connecting after a second", r)
	}
}

// A Node server that listens with no host listens on ::, both
// families: an IPv4 client's address there is ::ffff:127.0.0.1, its
// remoteFamily 'IPv6'; the client's own remoteFamily is its
// connection's family, 'IPv4' or 'IPv6' (the seed's addressType).
func TestNodeFamilies(t *testing.T) {
	blackhole(t) // brings lo up
	node := lessontest.StartNode(t, "testdata/families.js")
	out, err := node.Wait()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	type line struct{ Side, Address, Family, RemoteAddress, RemoteFamily string }
	var got []line
	for _, m := range regexp.MustCompile(`(?m)^\{.*\}$`).FindAllString(out, -1) {
		var l line
		if err := json.Unmarshal([]byte(m), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	want := map[line]bool{
		{Side: "listener", Address: "::", Family: "IPv6"}:                         true,
		{Side: "server", RemoteAddress: "::ffff:127.0.0.1", RemoteFamily: "IPv6"}: true,
		{Side: "client", RemoteAddress: "127.0.0.1", RemoteFamily: "IPv4"}:        true,
		{Side: "server", RemoteAddress: "::1", RemoteFamily: "IPv6"}:              true,
		{Side: "client", RemoteAddress: "::1", RemoteFamily: "IPv6"}:              true,
	}
	for _, l := range got {
		if !want[l] {
			t.Errorf("node said %+v, which the lesson does not expect", l)
		}
		delete(want, l)
	}
	for l := range want {
		t.Errorf("node did not say %+v", l)
	}
}
