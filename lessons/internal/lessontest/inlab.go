package lessontest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// envInLab marks a test binary run again by InLab in a network
// namespace of its own.
const envInLab = "TCPTOUR_LESSONTEST_INLAB"

// inLab is set in a test binary that InLab ran in a namespace of its
// own; noLab says why it could not, where it could not.
var (
	inLab bool
	noLab string
	// inUserNS is set where InLab made a user namespace too: the
	// tests run as root there, but are not root on the machine.
	inUserNS bool
)

// InLab is the TestMain of a lesson with a link (lesson.Lesson.Link):
// it runs the tests again in a network namespace of their own, inside a
// user namespace when not root, as the lesson's program runs in its lab,
// so that Run can make the link there. Where no namespace can be made,
// the tests that need one skip, saying why. Either way it checks that no
// goroutine is left behind.
func InLab(m *testing.M) {
	if v := os.Getenv(envInLab); v != "" {
		inLab, inUserNS = true, v == "userns"
		goleak.VerifyTestMain(m)
		return
	}
	exe, err := os.Executable()
	if err == nil {
		cmd := exec.Command(exe, os.Args[1:]...)
		mark := "1"
		if os.Geteuid() != 0 {
			mark = "userns"
		}
		cmd.Env = append(os.Environ(), envInLab+"="+mark)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = labAttr()
		if cmd.SysProcAttr == nil {
			err = errors.New("network namespaces are Linux's")
		} else {
			err = cmd.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				os.Exit(exit.ExitCode())
			}
			if err == nil {
				os.Exit(0)
			}
		}
	}
	noLab = fmt.Sprintf("no network namespace could be made for the test: %v", err)
	goleak.VerifyTestMain(m)
}

// needLab skips t where InLab could not make a namespace, and fails it
// where the test binary's TestMain is not InLab.
func needLab(t *testing.T) {
	t.Helper()
	switch {
	case noLab != "":
		t.Skip(noLab)
	case !inLab:
		t.Fatal("a lesson with a link runs its tests in a lab: its TestMain must call lessontest.InLab")
	}
}
