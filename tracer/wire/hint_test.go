package wire

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The build command the no-capture line prints works as printed from
// the repository's root: its package builds, and the binary's name is
// not a folder there (go build -o server ./server fails for that).
func TestNoPermissionCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three programs")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"./server", "./client", "./lessons/03"} {
		line := NoPermission(pkg)
		build := Build(pkg)
		if !strings.Contains(line, build) || !strings.Contains(line, "sudo ./"+Binary(pkg)) || !strings.Contains(line, "setcap cap_net_raw+ep "+Binary(pkg)) {
			t.Errorf("%s: %q lacks %q, sudo ./%s or setcap", pkg, line, build, Binary(pkg))
		}
		if fi, err := os.Stat(filepath.Join(root, Binary(pkg))); err == nil && fi.IsDir() {
			t.Errorf("%s: %s is a folder in the repository's root: %q fails there", pkg, Binary(pkg), build)
		}
		// The command as printed, its output in a temporary folder.
		args := strings.Fields(build) // go build -o NAME PKG
		args[3] = filepath.Join(t.TempDir(), Binary(pkg))
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append([]string{"build", "-buildvcs=false"}, args[2:]...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s from the repository's root: %v\n%s", build, err, out)
		}
	}
}
