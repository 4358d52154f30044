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
// Its value is the user id the tests were started as: inside, a user
// namespace maps it to 0.
const envInLab = "TCPTOUR_LESSONTEST_INLAB"

// inLab is set in a test binary that InLab ran in a namespace of its
// own; noLab says why it could not, where it could not.
var (
	inLab bool
	noLab string
)

// InLab is the TestMain of a lesson with a link (lesson.Lesson.Link),
// as Main is of the others:
// it runs the tests again in a network namespace of their own, inside a
// user namespace when not root, as the lesson's program runs in its lab,
// so that Run can make the link there. Where no namespace can be made,
// the tests that need one skip, saying why. Either way up to 10
// parallel tests run at once unless -test.parallel says otherwise, and
// no goroutine may be left behind.
func InLab(m *testing.M) {
	defaultParallel()
	if v := os.Getenv(envInLab); v != "" {
		inLab = true
		if err := loUp(); err != nil {
			fmt.Fprintln(os.Stderr, "lessontest: bringing up lo in the test's lab:", err)
			os.Exit(1)
		}
		goleak.VerifyTestMain(m)
		return
	}
	exe, err := os.Executable()
	if err == nil {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envInLab, os.Geteuid()))
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

// root reports whether the tests run as root on the machine: in a lab
// made in a user namespace, uid 0 is the user who started them.
func root() bool {
	if v := os.Getenv(envInLab); v != "" {
		return v == "0"
	}
	return os.Geteuid() == 0
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

// ParallelUnlessRoot runs t in parallel with the other parallel tests,
// unless the tests run as root: there the kernel reports changes of
// state through a tracepoint that sees every namespace, and two runs of
// a lesson that uses fixed ports (lesson 17) would each see the other's
// sockets.
func ParallelUnlessRoot(t *testing.T) {
	if !root() {
		t.Parallel()
	}
}
