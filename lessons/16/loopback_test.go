package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"tcptour/lessons/internal/lessontest"
)

// Where the lesson cannot have its lab (--host here, as where the system
// refuses it), it says so in one line and shows the localhost case on
// the loopback: ::1 tried first, refused, and 127.0.0.1 at once.
func TestOnLoopback(t *testing.T) {
	bin := lessontest.BuildPackage(t, "tcptour/lessons/16")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--host", "--no-color")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("lesson 16 --host: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if want := "lesson 16: --host: this lesson's link needs its lab; what it can show on this machine's loopback follows\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	out := stdout.String()
	t.Logf("\n%s", out)
	attempts := regexp.MustCompile(`(?m)^  \+[0-9.]+ ms  (tcp[46]) connect to (\S+)$`).FindAllStringSubmatch(out, -1)
	if len(attempts) != 2 || attempts[0][1] != "tcp6" || !strings.HasPrefix(attempts[0][2], "[::1]:") ||
		attempts[1][1] != "tcp4" || !strings.HasPrefix(attempts[1][2], "127.0.0.1:") {
		t.Fatalf("attempts %q: want ::1 first, then 127.0.0.1", attempts)
	}
	if !regexp.MustCompile(`(?m)^  \+[0-9.]+ ms  connected from 127\.0\.0\.1:\d+$`).MatchString(out) {
		t.Errorf("no IPv4 connection in the output")
	}
	switch {
	case strings.Contains(out, "this loopback has no IPv6"):
		t.Log("no ::1 here: the attempt failed before any packet")
	case !strings.Contains(out, "so the kernel\nanswered its SYN with RST (ECONNREFUSED), and the dialer started the IPv4\nattempt at once"):
		t.Errorf("the output does not say the IPv6 attempt was refused and IPv4 followed at once")
	}
}
