//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestAgainstTcpdumpAndTshark captures the same loopback traffic with this
// package and with tcpdump -i lo (same ports), and compares: the same
// frames, once each, in the same order. Then tshark reads the pcapng this
// package wrote and lists every packet once. Skipped where tcpdump or
// capture permission is missing; the tshark part is skipped without
// tshark.
func TestAgainstTcpdumpAndTshark(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not on PATH")
	}
	port, serverDone := echoServer(t, "tcp4", "127.0.0.1:0")
	in, out, udpPort := udpPair(t)
	var rec recorder
	c := openOrSkip(t, Config{TCPPorts: []uint16{port}, UDPPorts: []uint16{udpPort}, Handler: rec.handle})

	// tcpdump writes pcap to stdout, one packet at a time (-U), and says
	// "listening on" on stderr once its filter is in place.
	filter := fmt.Sprintf("tcp port %d or udp port %d", port, udpPort)
	cmd := exec.Command(tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode", "-Z", "root", "-s", "262144", "-w", "-", filter)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	errLines := bufio.NewScanner(stderr)
	for errLines.Scan() {
		if strings.Contains(errLines.Text(), "listening on") {
			break
		}
	}
	go io.Copy(io.Discard, stderr)

	// The traffic: one connection, then a terminator datagram.
	talk(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", port), "I am Chuck Norris!", serverDone)
	sendQueued(t, in, out, 1, "terminator")
	syncCtx(t, c)
	ours := rec.snapshot()

	// Read tcpdump's packets up to the terminator.
	var raw bytes.Buffer
	r, err := pcapgo.NewReader(io.TeeReader(stdout, &raw))
	if err != nil {
		t.Fatalf("tcpdump output: %v", err)
	}
	var theirs []Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("tcpdump output after %d packets: %v", len(theirs), err)
		}
		theirs = append(theirs, Packet{Time: ci.Timestamp, Data: data, Info: ci, LinkType: r.LinkType()})
		if bytes.Contains(data, []byte("terminator-0")) {
			break
		}
	}
	t.Logf("tcpdump -i lo %q: %d packets; this package: %d packets", filter, len(theirs), len(ours))
	if len(theirs) != len(ours) {
		t.Fatalf("tcpdump saw %d packets, this package %d", len(theirs), len(ours))
	}
	var maxSkew time.Duration
	for i := range ours {
		if !bytes.Equal(ours[i].Data, theirs[i].Data) {
			t.Errorf("packet %d differs from tcpdump's", i)
		}
		maxSkew = max(maxSkew, ours[i].Time.Sub(theirs[i].Time).Abs())
	}
	t.Logf("largest timestamp difference from tcpdump's: %v", maxSkew)
	if maxSkew > 100*time.Millisecond {
		t.Errorf("timestamps differ from tcpdump's by up to %v", maxSkew)
	}

	dir := t.TempDir()
	tcpdumpFile := filepath.Join(dir, "tcpdump.pcap")
	if err := os.WriteFile(tcpdumpFile, raw.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ourFile := filepath.Join(dir, "tcptour.pcapng")
	w, err := NewFileWriter(ourFile, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ours {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Our reader reads tcpdump's file.
	back, err := ReadFile(tcpdumpFile)
	if err != nil || len(back) != len(theirs) {
		t.Errorf("ReadFile(tcpdump's file): %d packets, %v", len(back), err)
	}

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH")
	}
	list := func(file string) []string {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch", "-e", "tcp.flags.str", "-e", "frame.len")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tshark -r %s: %v\n%s", file, err, stderr.String())
		}
		for _, l := range strings.Split(stderr.String(), "\n") {
			if l != "" && !strings.Contains(l, "Running as user") && !strings.Contains(l, "could be dangerous") {
				t.Errorf("tshark -r %s: %s", file, l)
			}
		}
		return strings.Split(strings.TrimSpace(stdout.String()), "\n")
	}
	ourLines, theirLines := list(ourFile), list(tcpdumpFile)
	t.Logf("tshark -r tcptour.pcapng: %d packets; tshark -r tcpdump.pcap: %d packets", len(ourLines), len(theirLines))
	for _, l := range ourLines {
		t.Logf("  %s", l)
	}
	if len(ourLines) != len(ours) || len(theirLines) != len(ours) {
		t.Errorf("tshark lists %d and %d packets, want %d", len(ourLines), len(theirLines), len(ours))
	}
	// The pcapng keeps nanoseconds: tshark prints our first timestamp
	// exactly.
	if f := strings.Fields(ourLines[0]); len(f) < 2 || f[1] != fmt.Sprintf("%d.%09d", ours[0].Time.Unix(), ours[0].Time.Nanosecond()) {
		t.Errorf("tshark's first timestamp %q, ours %d.%09d", ourLines[0], ours[0].Time.Unix(), ours[0].Time.Nanosecond())
	}
	_ = net.IPv4len
}
