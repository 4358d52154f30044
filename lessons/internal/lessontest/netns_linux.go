package lessontest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Netns is a network namespace of the test's own, with loopback up, and
// a mount namespace with it. A Try this that uses the fixed port 6969
// runs there as it is written, without meeting whatever else listens on
// 6969 on this machine; a sysctl that is kept per network namespace
// (net.ipv4.tcp_fin_timeout) can be changed for it alone; a file such
// as /etc/hosts can be replaced inside it (BindFile).
//
// As root it is made with unshare(1); as another user, inside a user
// namespace where that user is root (unshare --map-root-user), where the
// kernel allows it. Commands enter it with nsenter(1).
type Netns struct {
	t      *testing.T
	pid    int
	userns bool
}

// NewNetns makes the namespaces and returns once loopback is up. It
// skips the test with the reason where they cannot be made, and removes
// them when the test ends.
func NewNetns(t *testing.T) *Netns {
	t.Helper()
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: this test needs a network namespace of its own", tool)
		}
	}
	ip := lookTool("ip")
	if ip == "" {
		t.Skip("ip (iproute2) is not installed: this test needs it to bring loopback up in its own network namespace")
	}
	args := []string{"--net", "--mount"}
	userns := os.Geteuid() != 0
	if userns {
		args = append(args, "--map-root-user")
	}
	// The holder keeps the namespaces alive until the test ends; it
	// says "ready" once loopback is up.
	holder := exec.Command("unshare", append(args, "sh", "-c", `"$0" link set lo up && echo ready && exec sleep infinity`, ip)...)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	holder.Stderr = &stderr
	if err := holder.Start(); err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		holder.Process.Kill()
		holder.Wait()
		why := strings.TrimSpace(stderr.String())
		if userns {
			t.Skipf("cannot make a network namespace as uid %d (no unprivileged user namespaces here?): %s", os.Geteuid(), why)
		}
		t.Fatalf("unshare --net: %s", why)
	}
	return &Netns{t: t, pid: holder.Process.Pid, userns: userns}
}

// Command returns a command that runs name inside the namespaces, as a
// Try this's command run in another terminal of the same machine. Give
// name as a path, or as a command found in PATH.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	ns := []string{"-t", strconv.Itoa(n.pid), "--net", "--mount"}
	if n.userns {
		ns = append(ns, "--user", "--preserve-credentials")
	}
	return exec.Command("nsenter", append(append(ns, "--", name), args...)...)
}

// StartServer runs the module's server, bin (BuildPackage's
// "tcptour/server"), inside the namespaces with --no-color and args, as
// a Try this's `go run ./server` in one terminal, and returns once it
// says it listens on listening (127.0.0.1:6969 unless args say
// otherwise).
func (n *Netns) StartServer(bin, listening string, args ...string) *Proc {
	n.t.Helper()
	p := Start(n.t, n.Command(bin, append([]string{"--no-color"}, args...)...))
	p.WaitFor(regexp.MustCompile(`Server listening on ` + regexp.QuoteMeta(listening) + `\n`))
	return p
}

// Run runs name inside the namespaces and returns its standard output;
// it fails the test if the command fails.
func (n *Netns) Run(name string, args ...string) string {
	n.t.Helper()
	cmd := n.Command(name, args...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		n.t.Fatalf("%s %s in the test's namespace: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// Sysctl sets a sysctl of the namespace, such as
// net.ipv4.tcp_fin_timeout, writing its file under /proc/sys from
// inside it.
func (n *Netns) Sysctl(key, value string) {
	n.t.Helper()
	file := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	n.Run("sh", "-c", `echo "$1" > "$0"`, file, value)
}

// BindFile replaces the file at path, inside the namespaces only, with
// one holding content: BindFile("/etc/hosts", "127.0.0.1 localhost\n").
func (n *Netns) BindFile(path, content string) {
	n.t.Helper()
	dir := n.t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		n.t.Fatal(err)
	}
	file := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
	n.Run("mount", "--bind", file, path)
}

// lookTool finds a system tool in PATH or in the sbin directories that
// an unprivileged user's PATH often lacks; "" when it is nowhere.
func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}
