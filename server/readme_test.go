package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's commands for the seed's Node client against this server
// work as printed: the client waits for the server's port, gets its
// answer, and the server stops. Run with bash as a learner pastes them,
// on a free port and without capture.
func TestReadmeNodeClient(t *testing.T) {
	for _, tool := range []string{"node", "nc", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the README's Node commands are checked where it is", tool)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "They work with the seed's own Node.js programs too")
	if !ok {
		t.Fatal("the README no longer shows the Node client's commands")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, _ := strings.Cut(rest, "```")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	script := strings.ReplaceAll(block, "6969", port)
	script = strings.Replace(script, "go run ./server &", "go run ./server -addr 127.0.0.1:"+port+" -capture=off >/dev/null &", 1)
	cmd := exec.Command("bash", "-c", "set -m\n"+script)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's commands: %v\n%s\n%s", err, script, out)
	}
	if !strings.Contains(string(out), `You said "I am Chuck Norris!"`) {
		t.Errorf("the Node client got no answer:\n%s", out)
	}
	if c, err := net.Dial("tcp4", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Error("the server still listens after kill %1")
	}
}
