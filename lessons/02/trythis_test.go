//go:build linux

package main

import (
	"regexp"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// Try this: the server, two nc clients; the server's two ACCEPT lines
// share port 6969 and differ in the client's port, its CONNECTED lines
// name the client's end only; ss lists one established socket per
// connection with sport 6969.
func TestTryThisTwoClients(t *testing.T) {
	nc := lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	ns := lessontest.NewNetns(t)
	server := ns.StartServer(lessontest.BuildPackage(t, "tcptour/server"), "127.0.0.1:6969")
	// Two terminals: each nc keeps its connection open while its stdin
	// is.
	for range 2 {
		lessontest.StartInteractive(t, ns.Command(nc, "127.0.0.1", "6969"))
	}
	accept := regexp.MustCompile(`ACCEPT     tcp 127\.0\.0\.1:(\d+) ↔ 127\.0\.0\.1:(\d+)`)
	m := server.WaitFor(regexp.MustCompile(`(?s)` + accept.String() + `.*` + accept.String()))
	if m[1] != "6969" || m[3] != "6969" || m[2] == m[4] {
		t.Errorf("ACCEPT lines: server ports %s and %s, client ports %s and %s; want 6969 twice and two client ports", m[1], m[3], m[2], m[4])
	}
	// The seed's CONNECTED line, printed after the ACCEPT: the
	// client's end only.
	for _, port := range []string{m[2], m[4]} {
		server.WaitFor(regexp.MustCompile(`(?m)^CONNECTED: 127\.0\.0\.1:` + port + `$`))
	}
	ss := ns.Run("ss", "-Htn", "state", "established", "( sport = :6969 )")
	lines := strings.Split(strings.TrimSpace(ss), "\n")
	if len(lines) != 2 {
		t.Errorf("ss -tn state established '( sport = :6969 )': want one line per connection, got:\n%s", ss)
	}
	server.Stop()
}

// And one more: both ends of each connection in the JSON trace, through
// jq; the server's local address is the client's remote one.
func TestTryThisBothEnds(t *testing.T) {
	out := lessontest.JQ(t, `select(.conn) | [.conn, .actor, .phase, .local, .remote] | @tsv`)
	ends := map[string]map[string][2]string{} // conn → actor → local, remote
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 || (f[1] != "client" && f[1] != "server") || f[3] == "" {
			continue
		}
		if ends[f[0]] == nil {
			ends[f[0]] = map[string][2]string{}
		}
		ends[f[0]][f[1]] = [2]string{f[3], f[4]}
	}
	if len(ends) != 2 {
		t.Fatalf("want two connections, got %v from:\n%s", ends, out)
	}
	for conn, e := range ends {
		c, s := e["client"], e["server"]
		if c[0] == "" || c[0] != s[1] || c[1] != s[0] {
			t.Errorf("conn %s: client %v, server %v: want each end's local the other's remote", conn, c, s)
		}
	}
}

// --hold: the commands the held lesson prints, ready to paste, reach
// its server: nc is greeted, and ss lists both ends of nc's connection.
func TestHoldCommands(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(2)
	nc := lessontest.StartInteractive(t, h.Paste(cmds[0]))
	nc.WaitFor(regexp.MustCompile(`hello, you are connection \d+`))
	out, err := h.Paste(cmds[1]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[1], err)
	}
	if n := len(regexp.MustCompile(`(?m)^ESTAB\s`).FindAll(out, -1)); n != 2 {
		t.Errorf("%s: want both ends of nc's connection:\n%s", cmds[1], out)
	}
	nc.CloseInput() // Ctrl-D: nc sends FIN, and the server closes too
	if out, err := nc.Wait(); err != nil {
		t.Errorf("nc after Ctrl-D: %v\n%s", err, out)
	}
	h.Stop()
}
