//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tcptour/lessons/internal/lessontest"
)

// Try this: the server in one terminal, ss -ltn in another: a LISTEN
// line with 127.0.0.1:6969. Then a second server: the port clash.
func TestTryThisListeningSockets(t *testing.T) {
	lessontest.Tool(t, "ss")
	ns := lessontest.NewNetns(t)
	server := lessontest.BuildPackage(t, "tcptour/server")
	first := ns.StartServer(server, "127.0.0.1:6969")
	ss := ns.Run("ss", "-ltn")
	if !regexp.MustCompile(`(?m)^LISTEN\s+0\s+\d+\s+127\.0\.0\.1:6969\s+0\.0\.0\.0:\*`).MatchString(ss) {
		t.Errorf("ss -ltn shows no listener on 127.0.0.1:6969:\n%s", ss)
	}

	// "go run ./server twice; the second says the address is in use."
	second := ns.Command(server, "--no-color")
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("the second server: %v, want exit status 1", err)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("the second server does not say the address is in use:\n%s", out)
	}
	first.Stop()
}

// Try this: -addr :6969 shows as *:6969 in ss, one socket for IPv6 and
// IPv4; -addr 0.0.0.0:6969 as 0.0.0.0:6969.
func TestTryThisEveryInterface(t *testing.T) {
	lessontest.Tool(t, "ss")
	ns := lessontest.NewNetns(t)
	server := lessontest.BuildPackage(t, "tcptour/server")
	for _, addr := range []string{":6969", "0.0.0.0:6969"} {
		p := ns.StartServer(server, "[::]:6969", "-addr", addr)
		ss := ns.Run("ss", "-ltn")
		if !regexp.MustCompile(`(?m)^LISTEN\s+0\s+\d+\s+\*:6969\s+\*:\*`).MatchString(ss) {
			t.Errorf("-addr %s: ss -ltn shows no *:6969:\n%s", addr, ss)
		}
		// *: one IPv6 socket (ss -6 lists it) that takes IPv4 too (ss
		// prints [::] for one with IPV6_V6ONLY on).
		if ss6 := ns.Run("ss", "-ltn6"); !strings.Contains(ss6, "*:6969") {
			t.Errorf("-addr %s: the listener is not an IPv6 socket:\n%s", addr, ss6)
		}
		if _, err := exec.LookPath("bash"); err == nil {
			c := ns.Command("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6969")
			if out, err := c.CombinedOutput(); err != nil {
				t.Errorf("-addr %s: an IPv4 connect to the listener failed: %v %s", addr, err, out)
			}
		}
		p.Stop()
	}
}

// Try this: held, the lesson prints nc and ss ready to paste; nobody
// accepts, yet nc connects; ss -ltn shows the connection in the
// listener's queue (Recv-Q 1), ss -tn both ends established, the
// server's holding the line typed into nc.
func TestTryThisHeldListener(t *testing.T) {
	lessontest.Tool(t, "nc")
	lessontest.Tool(t, "ss")
	h := lessontest.Hold(t, lessontest.Build(t), "--capture=off")
	cmds := h.Commands(3)
	port := h.Port()
	for i, want := range []string{"nc -N 127.0.0.1 " + port, "ss -ltn '( sport = :" + port + " )'", "ss -tn '( sport = :" + port + " or dport = :" + port + " )'"} {
		if join := h.Join(); join != nil {
			want = strings.Join(join, " ") + " " + want
		}
		if cmds[i] != want {
			t.Errorf("command %d printed: %q, want %q", i+1, cmds[i], want)
		}
	}
	nc := lessontest.StartInteractive(t, h.Paste(cmds[0]))
	nc.Send("I am Chuck Norris!") // 19 bytes with the newline
	listener := regexp.MustCompile(`(?m)^LISTEN\s+1\s+\d+\s+127\.0\.0\.1:` + port + `\s`)
	ends := regexp.MustCompile(`(?m)^ESTAB\s+(\d+)\s+0\s+127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+)\s*$`)
	var ss1, ss2 []byte
	// nc's line is in once the server's end holds it: ask until then.
	lessontest.PollUntil(t, 10*time.Second, 10*time.Millisecond, "the line nc sent, unread at the server's end", func() bool {
		var err error
		if ss2, err = h.Paste(cmds[2]).Output(); err != nil {
			t.Fatalf("%s: %v", cmds[2], err)
		}
		for _, m := range ends.FindAllStringSubmatch(string(ss2), -1) {
			if m[2] == port && m[1] == "19" {
				return true
			}
		}
		return false
	})
	ss1, err := h.Paste(cmds[1]).Output()
	if err != nil {
		t.Fatalf("%s: %v", cmds[1], err)
	}
	if !listener.Match(ss1) {
		t.Errorf("%s: want the listener with Recv-Q 1, the connection in its queue:\n%s", cmds[1], ss1)
	}
	if n := len(ends.FindAllString(string(ss2), -1)); n != 2 {
		t.Errorf("%s: want both ends ESTAB:\n%s", cmds[2], ss2)
	}
	if strings.Contains(h.Output(), "ACCEPT") {
		t.Errorf("the lesson accepted nc's connection:\n%s", h.Output())
	}
	// Ctrl-C ends the lesson: its listener goes, and with it the
	// connection in its queue; nc, reset, ends too.
	h.Stop()
	// NOTE: ignoring nc's exit status: Wait fails the test if nc does
	// not end.
	_, _ = nc.Wait()
}

// And one more: the address asked for and the one the kernel bound,
// from the JSON trace through jq.
func TestTryThisAskedAndBound(t *testing.T) {
	out := lessontest.JQ(t, `select(.phase == "listen") | "\(.addr) -> \(.local)"`)
	want := regexp.MustCompile(`^127\.0\.0\.1:0 -> 127\.0\.0\.1:(\d+)\n:0 -> \[::\]:\d+\n127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+)\n$`)
	m := want.FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[2] != m[3] {
		t.Errorf("jq printed:\n%s", out)
	}
}

// reusePort listens on addr with SO_REUSEPORT set before bind when
// reuse is true.
func reusePort(addr string, reuse bool) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		if !reuse {
			return nil
		}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp4", addr)
}

// Step 3's text: two listeners share an address and port only when
// every one of them set SO_REUSEPORT and they have the same effective
// user ID.
func TestReusePortRule(t *testing.T) {
	// Both with SO_REUSEPORT, same user: both listen.
	a, err := reusePort("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := a.Addr().String()
	b, err := reusePort(addr, true)
	if err != nil {
		t.Fatalf("a second listener with SO_REUSEPORT, same user: %v", err)
	}
	b.Close()
	// The second without it: EADDRINUSE.
	if c, err := reusePort(addr, false); !errors.Is(err, syscall.EADDRINUSE) {
		if c != nil {
			c.Close()
		}
		t.Errorf("a second listener without SO_REUSEPORT: %v, want EADDRINUSE", err)
	}
	// The first without it: EADDRINUSE for a second with it.
	plain, err := reusePort("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if c, err := reusePort(plain.Addr().String(), true); !errors.Is(err, syscall.EADDRINUSE) {
		if c != nil {
			c.Close()
		}
		t.Errorf("SO_REUSEPORT on the second only: %v, want EADDRINUSE", err)
	}
	// Both with it, another effective user: EADDRINUSE. The test binary
	// runs itself as nobody for that.
	if os.Geteuid() != 0 {
		t.Log("not root: the other user's listener is not tried")
		return
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(lessontest.NobodyDir(t), "lesson01.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := lessontest.AsNobody(exec.Command(bin, "-test.run=^TestReusePortOtherUser$"))
	cmd.Env = append(os.Environ(), "TCPTOUR_REUSEPORT_ADDR="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("another user's listener with SO_REUSEPORT: want EADDRINUSE, got:\n%s", out)
	}
}

// TestReusePortOtherUser is run by TestReusePortRule as another user.
func TestReusePortOtherUser(t *testing.T) {
	addr := os.Getenv("TCPTOUR_REUSEPORT_ADDR")
	if addr == "" {
		t.Skip("run by TestReusePortRule")
	}
	ln, err := reusePort(addr, true)
	if err == nil {
		ln.Close()
		fmt.Println("listened")
		return
	}
	fmt.Println(err)
}

// Step 2 lists the addresses that reach the socket on every interface:
// in the lab, loopback's alone; with --host, this machine's.
func TestAddressesInStep2(t *testing.T) {
	bin := lessontest.Build(t)
	out := lessontest.RunOK(t, bin, "--no-color", "--capture=off").Stdout
	step2 := lessontest.Section(t, out, "Step 2 of 4", "Step 3 of 4")
	if strings.Contains(out, "a network of the lesson's own") {
		lessontest.InOrder(t, step2, "The lab's addresses, all of which reach that socket: [127.0.0.1/8", "Loopback only")
	} else {
		t.Log("no lab here")
		lessontest.InOrder(t, step2, "This machine's addresses, all of which reach that socket:")
	}
	host := lessontest.Section(t, lessontest.RunOK(t, bin, "--host", "--no-color", "--capture=off").Stdout, "Step 2 of 4", "Step 3 of 4")
	lessontest.InOrder(t, host, "This machine's addresses, all of which reach that socket:")
}
