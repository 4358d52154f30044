//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// debianHosts is /etc/hosts as Debian installs it: localhost is ::1
// too. (This machine's may list 127.0.0.1 alone.)
const debianHosts = "127.0.0.1\tlocalhost\n" +
	"::1\t\tlocalhost ip6-localhost ip6-loopback\n" +
	"ff02::1\t\tip6-allnodes\n" +
	"ff02::2\t\tip6-allrouters\n"

// Try this: the server on 6969, the client to 127.0.0.1 (no lookup),
// then to localhost: /etc/hosts answers ::1 and 127.0.0.1, nothing on
// the wire for the lookup, ::1 tried first and refused with RST, then
// 127.0.0.1. It runs in a network namespace of its own, for the port,
// with Debian's /etc/hosts bound over this machine's.
func TestTryThisClientLocalhost(t *testing.T) {
	ns := lessontest.NewNetns(t)
	ns.BindFile("/etc/hosts", debianHosts)
	server := ns.StartServer(lessontest.BuildPackage(t, "tcptour/server"), "127.0.0.1:6969")
	client := lessontest.BuildPackage(t, "tcptour/client")

	literal := ns.Run(client, "-addr", "127.0.0.1:6969", "--no-color")
	lessontest.InOrder(t, literal,
		"client     NO DNS     127.0.0.1 is an IP literal",
		"CONNECT    tcp → 127.0.0.1:6969",
		"CONNECTED TO: 127.0.0.1:6969",
		"DATA: You said \"I am Chuck Norris!\"")
	if strings.Contains(literal, "DNS ?") || strings.Contains(literal, "wire       DNS") {
		t.Errorf("a lookup for an IP literal:\n%s", literal)
	}

	name := ns.Run(client, "-addr", "localhost:6969", "--no-color")
	lessontest.InOrder(t, name,
		"client     DNS ?      localhost",
		"client     DNS =      localhost → ::1, 127.0.0.1",
		"nothing went on the wire: the hosts file (/etc/hosts) answered",
		"CONNECT    tcp → [::1]:6969",
		"connect: dial tcp [::1]:6969: connect: connection refused",
		"CONNECT    tcp → 127.0.0.1:6969",
		"CONNECTED  tcp 127.0.0.1:",
		"CONNECTED TO: localhost:6969",
		"DATA: You said \"I am Chuck Norris!\"")
	if strings.Contains(name, "wire       DNS") {
		t.Errorf("a DNS packet for a name in /etc/hosts:\n%s", name)
	}
	if strings.Contains(name, "wire   #") {
		// Captured (root): the SYN to ::1 and the RST that refused it.
		lessontest.InOrder(t, name,
			"CONNECT    tcp → [::1]:6969",
			"SYN        client → server",
			"RST ACK    server → client",
			"CONNECT    tcp → 127.0.0.1:6969",
			"SYN        client → server",
			"SYN ACK    server → client")
	} else {
		t.Log("no capture here: the packets were not checked")
	}
	server.Stop()
}

// Try this: the JSON trace, one phase a line through jq.
func TestTryThisJSONPhases(t *testing.T) {
	phases := strings.Fields(lessontest.JQ(t, ".phase"))
	for _, want := range []string{"lesson", "step", "listen", "dns-start", "dns-done", "connect-start", "connect-done", "accept", "write", "read", "eof", "close"} {
		if !strings.Contains(" "+strings.Join(phases, " ")+" ", " "+want+" ") {
			t.Errorf("no %q among the phases jq printed: %v", want, phases)
		}
	}
}

// And one more: a name the lab DNS server does not know fails the
// lookup with "no such host", and no connect is tried.
func TestTryThisNoSuchHost(t *testing.T) {
	ns := lessontest.NewNetns(t)
	server := ns.StartServer(lessontest.BuildPackage(t, "tcptour/server"), "127.0.0.1:6969", "-lab", "127.0.0.1:10053")
	cmd := ns.Command(lessontest.BuildPackage(t, "tcptour/client"), "-dns", "127.0.0.1:10053", "-addr", "nosuch.tcptour.test:6969", "--no-color")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Errorf("the client succeeded with a name the lab does not know:\n%s", out.String())
	}
	lessontest.InOrder(t, out.String(), "DNS ?      nosuch.tcptour.test", "no such host")
	if strings.Contains(out.String(), "CONNECT ") {
		t.Errorf("a connect after a failed lookup:\n%s", out.String())
	}
	server.Stop()
}

// And one more: a learner who is not root saves the packets with
// --pcap, in the lesson's lab, and reads them with tshark and
// tracer/inspect: the file is theirs, mode 0600, with the packets the
// lesson says it captured. (As root the test runs it all as nobody.)
func TestTryThisPcapAsYou(t *testing.T) {
	as := func(cmd *exec.Cmd) *exec.Cmd { return cmd }
	uid := os.Geteuid()
	if uid == 0 {
		as, uid = lessontest.AsNobody, 65534
	}
	dir := lessontest.NobodyDir(t)
	if uid == 65534 {
		if err := os.Chown(dir, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	pcap := filepath.Join(dir, "03.pcapng")
	out, err := as(exec.Command(lessontest.Build(t), "--pcap", pcap, "--no-color")).Output()
	if err != nil {
		t.Fatalf("lesson --pcap: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "a network of the lesson's own") {
		t.Skip("no lab here: without root the lesson captures nothing on the host")
	}
	fi, err := os.Stat(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || int(st.Uid) != uid {
		t.Errorf("the pcap file is mode %v, owner %d; want 0600, %d", fi.Mode().Perm(), st.Uid, uid)
	}
	m := regexp.MustCompile(`Captured (\d+) packets`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no Captured line:\n%s", out)
	}
	read := func(name string, args ...string) string {
		cmd := as(exec.Command(name, args...))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr.String())
		}
		return string(out)
	}
	if !strings.Contains(read(lessontest.BuildPackage(t, "tcptour/tracer/inspect"), pcap), "SYN") {
		t.Errorf("tracer/inspect shows no SYN")
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		if n := strings.Count(read(tshark, "-r", pcap), "\n"); fmt.Sprint(n) != m[1] {
			t.Errorf("tshark lists %d packets, the lesson captured %s", n, m[1])
		}
	}
}

// --hold: the commands the held lesson prints, ready to paste, reach
// its server: nc gets its line back, and ss lists both ends of nc's
// connection.
func TestHoldCommands(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(2)
	nc := lessontest.StartInteractive(t, h.Paste(cmds[0]))
	nc.Send("I am Chuck Norris!")
	nc.WaitFor(regexp.MustCompile(`You said "I am Chuck Norris!`))
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

// And one more: under sudo the pcap file is handed to the user who ran
// sudo (SUDO_UID), mode 0600, so that tshark and tracer/inspect run as
// that user read it without a chown.
func TestTryThisPcapUnderSudo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the Try this runs the lesson with sudo: this test needs root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "03.pcapng")
	lesson := exec.Command(lessontest.Build(t), "--pcap", pcap, "--no-color")
	// As sudo leaves them for a user nobody (uid 65534).
	lesson.Env = append(os.Environ(), "SUDO_UID=65534", "SUDO_GID=65534", "SUDO_USER=nobody")
	if out, err := lesson.CombinedOutput(); err != nil {
		t.Fatalf("lesson: %v\n%s", err, out)
	}
	fi, err := os.Stat(pcap)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || st.Uid != 65534 || st.Gid != 65534 {
		t.Fatalf("the pcap file is mode %v, owner %d:%d; want 0600, 65534:65534", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	inspect := lessontest.BuildPackage(t, "tcptour/tracer/inspect")
	asNobody := func(name string, args ...string) string {
		out, err := lessontest.AsNobody(exec.Command(name, args...)).CombinedOutput()
		if err != nil {
			t.Fatalf("%s as nobody: %v\n%s", name, err, out)
		}
		return string(out)
	}
	if !strings.Contains(asNobody(inspect, pcap), "SYN") {
		t.Errorf("tracer/inspect as nobody shows no SYN")
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		if n := strings.Count(asNobody(tshark, "-r", pcap), "\n"); n == 0 {
			t.Errorf("tshark as nobody lists no packets")
		}
	}
}
