package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"tcptour/tracer/capture"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// practiceBin is the practice command, built once by TestMain, so that
// each test runs it as a learner does: in a lab of its own.
var practiceBin string

// builtDir holds the exercises' programs TestEveryExercise built
// before checking them, each named by its builtKey (envBuilt).
var builtDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "practice-test-")
	if err != nil {
		panic(err)
	}
	practiceBin = filepath.Join(dir, "practice")
	builtDir = filepath.Join(dir, "built")
	if err := os.Mkdir(builtDir, 0o755); err != nil {
		panic(err)
	}
	out, err := exec.Command("go", "build", "-buildvcs=false", "-o", practiceBin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// practice runs the command with args from the module's root, its
// progress kept in config, and returns its exit status and output.
func practice(t *testing.T, config string, args ...string) (int, string, string) {
	t.Helper()
	return practiceIn(t, "../..", config, args...)
}

// practiceIn is practice run in the folder dir.
func practiceIn(t *testing.T, dir, config string, args ...string) (int, string, string) {
	t.Helper()
	return practiceEnv(t, dir, config, nil, args...)
}

// practiceEnv is practiceIn with env added to the command's environment.
func practiceEnv(t *testing.T, dir, config string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(practiceBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+config, "NO_COLOR=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// needLab skips a test that needs the exercises to run in a lab, where
// the system allows none and this user may not capture either.
func needLab(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the checks run in a lab, made of Linux network namespaces")
	}
	if os.Geteuid() == 0 {
		return
	}
	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Skip("user namespaces are not allowed here (kernel.unprivileged_userns_clone = 0), and without root the checks cannot capture")
	}
}

// TestEveryExercise checks each exercise three ways, as a learner and a
// teacher would: the untouched file and every wrong solution kept in
// wrong/ must fail the check, the reference solution must pass it. The
// programs are built first, an exercise's folders in one go build
// (prebuild), and the checks run them; the other tests check through
// the learner's path, which builds (TestDoesNotCompile, TestWatch,
// TestProgress, TestPcap).
func TestEveryExercise(t *testing.T) {
	t.Parallel() // the checks mostly wait: the tests of this file run side by side
	needLab(t)
	// Every exercise at once, not -parallel's two at a time: a check
	// mostly waits (for a deadline, a timer, the program), so a few of
	// them at once cost little; checks is how many at most.
	var all sync.WaitGroup
	defer all.Wait()
	for _, ex := range exercises {
		all.Go(func() { t.Run(ex.Name, func(t *testing.T) { proveExercise(t, ex) }) })
	}
}

// checks bounds how many checks TestEveryExercise runs at once.
var checks = make(chan struct{}, 8)

// builds bounds how many go build commands prebuild runs at once (each
// links up to GOMAXPROCS programs side by side).
var builds = make(chan struct{}, 2)

// prebuild builds the programs of dirs (folders of ex, each a package
// main of one file, main.go) in one go build, not one a check: each
// go build spends about as much CPU starting (loading and hashing the
// packages) as linking a program. Each program goes in builtDir, named
// by the builtKey of its folder's files, where the checks of
// TestEveryExercise find it (envBuilt) in place of building it again.
// A folder it leaves out, or a build that fails, the check builds
// itself, as a learner's check does.
func prebuild(t *testing.T, ex *Exercise, dirs []string) {
	t.Helper()
	gomod := findGoMod(".")
	if gomod == "" {
		t.Fatal("no go.mod above lessons/practice")
	}
	keys := map[string]string{} // the folder's last element: its key
	var pkgs []string
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		name := filepath.Base(dir)
		// go build -o DIR/ names each program by its folder's last
		// element: two folders of one name would write one file.
		if _, twice := keys[name]; twice {
			t.Errorf("%s: two of its folders are called %s; the second is built by its check", ex.Name, name)
			continue
		}
		// A package holds the files its build constraints keep; the
		// check builds every Go file of the folder. With one file,
		// main.go, the two are the same program.
		if len(files) != 1 || filepath.Base(files[0]) != "main.go" {
			continue
		}
		key, err := builtKey(files, gomod)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = key
		pkgs = append(pkgs, "./"+filepath.ToSlash(dir))
	}
	if len(pkgs) == 0 {
		return
	}
	out := t.TempDir()
	builds <- struct{}{}
	// -buildvcs=false: the check builds files, which go build stamps
	// with no version control either.
	msg, err := exec.Command("go", append([]string{"build", "-buildvcs=false", "-o", out + string(filepath.Separator)}, pkgs...)...).CombinedOutput()
	<-builds
	if err != nil {
		t.Logf("go build of %s's folders failed; each check builds its own:\n%s", ex.Name, msg)
	}
	for name, key := range keys {
		bin := filepath.Join(out, name)
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		// NOTE: a program missing here (its build failed) is built by
		// its check, which says why.
		_ = os.Rename(bin, filepath.Join(builtDir, key))
	}
}

// proveExercise checks ex's untouched file, its wrong solutions and its
// reference solution, at once.
func proveExercise(t *testing.T, ex *Exercise) {
	base := filepath.Join("exercises", ex.Name)
	wrongs, _ := filepath.Glob(filepath.Join(base, "wrong", "*"))
	if len(wrongs) == 0 {
		t.Errorf("%s has no wrong solution in wrong/ to prove its check", ex.Name)
	}
	if len(ex.Hints) < 2 {
		t.Errorf("%s has %d hints, want at least 2", ex.Name, len(ex.Hints))
	}
	config := t.TempDir()
	type variant struct {
		args  []string
		holds bool
	}
	variants := []variant{
		{[]string{"check", ex.Name}, false},
		{[]string{"check", "--solution", ex.Name}, true},
	}
	for _, w := range wrongs {
		variants = append(variants, variant{[]string{"check", "--from", filepath.Join("lessons", "practice", w), ex.Name}, false})
	}
	prebuild(t, ex, append([]string{base, filepath.Join(base, "solution")}, wrongs...))
	// The variants run at once: a check mostly waits.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, v := range variants {
		wg.Go(func() {
			checks <- struct{}{}
			defer func() { <-checks }()
			checkVariant(t, ex, config, v.args, v.holds)
		})
	}
}

// checkVariant runs practice with args and checks that the exercise
// holds, or fails with what failed and a hint.
func checkVariant(t *testing.T, ex *Exercise, config string, args []string, holds bool) {
	code, out, errs := practiceEnv(t, "../..", config, []string{envBuilt + "=" + builtDir}, args...)
	cmd := strings.Join(args, " ")
	switch {
	case holds && (code != 0 || !strings.Contains(out, "The exercise "+ex.Name+" holds.")):
		t.Errorf("practice %s: exit %d, want 0 and the exercise holding\n%s%s", cmd, code, out, errs)
	case !holds && (code != 1 || !strings.Contains(out, "✗ ")):
		t.Errorf("practice %s: exit %d, want 1 with what failed (✗)\n%s%s", cmd, code, out, errs)
	case !holds && !strings.Contains(out, "Hint 1 of "):
		t.Errorf("practice %s: no hint after the failure\n%s", cmd, out)
	}
	if errs != "" {
		t.Errorf("practice %s wrote to stderr:\n%s", cmd, errs)
	}
}

// TestEnoughExercises: the issue asks for at least twelve, across the
// lessons, each with its folder, solution and wrong solutions.
func TestEnoughExercises(t *testing.T) {
	if len(exercises) < 12 {
		t.Errorf("%d exercises, want at least 12", len(exercises))
	}
	for _, ex := range exercises {
		for _, f := range []string{"main.go", "solution/main.go"} {
			if _, err := os.Stat(filepath.Join("exercises", ex.Name, f)); err != nil {
				t.Errorf("%s: %v", ex.Name, err)
			}
		}
		if ex.Role != "server" && ex.Role != "client" {
			t.Errorf("%s: role %q, want server or client", ex.Name, ex.Role)
		}
	}
}

// TestProgress follows a learner: nothing done, a failed check (a hint),
// the next hint, a check that holds, the list, reset.
func TestProgress(t *testing.T) {
	t.Parallel() // the checks mostly wait: the tests of this file run side by side
	needLab(t)
	config := t.TempDir()
	first := exercises[0]
	_, out, _ := practice(t, config, "list")
	if !strings.HasPrefix(out, first.Name+" ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], " next ") {
		t.Errorf("list: the first line is not %s, next:\n%s", first.Name, out)
	}
	if n := strings.Count(out, "\n"); n != len(exercises) {
		t.Errorf("list: %d lines, want one an exercise (%d)", n, len(exercises))
	}
	// check with no name checks the next one: the untouched file fails.
	code, out, _ := practice(t, config, "check")
	if code != 1 || !strings.Contains(out, "Exercise "+first.Name) || !strings.Contains(out, "Hint 1 of") {
		t.Fatalf("check (the next one): exit %d, want 1 with hint 1\n%s", code, out)
	}
	_, out, _ = practice(t, config, "hint", first.Name)
	if !strings.Contains(out, "Hint 2 of") || !strings.Contains(out, first.Hints[1][:20]) {
		t.Errorf("hint %s: want hint 2\n%s", first.Name, out)
	}
	// The solution holds, but is not the learner's: nothing is done.
	if code, out, _ = practice(t, config, "check", "--solution", first.Name); code != 0 || !strings.Contains(out, "progress is kept as it was") {
		t.Errorf("check --solution: exit %d\n%s", code, out)
	}
	// The learner's own copy, once it holds, is done. A copy of the
	// solution in the exercise's place stands for the learner's work.
	root := copyExercise(t, first.Name)
	if code, out, _ = practiceIn(t, root, config, "check", first.Name); code != 0 || !strings.Contains(out, "Done: 1 of") {
		t.Fatalf("check %s with the solution in place: exit %d\n%s", first.Name, code, out)
	}
	_, out, _ = practice(t, config, "list")
	if !strings.HasPrefix(out, first.Name+" ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], " done ") {
		t.Errorf("list after the check held: %s is not done:\n%s", first.Name, out)
	}
	if b, err := os.ReadFile(filepath.Join(config, "tcptour", "practice.json")); err != nil || !strings.Contains(string(b), `"`+first.Name+`"`) {
		t.Errorf("the progress file: %v\n%s", err, b)
	}
	_, out, _ = practice(t, config, "reset")
	if !strings.Contains(out, "forgotten") {
		t.Errorf("reset: %s", out)
	}
	_, out, _ = practice(t, config, "list")
	if strings.Contains(out, " done ") {
		t.Errorf("list after reset still shows done:\n%s", out)
	}
}

// copyExercise makes a copy of the module for the test, as far as the
// practice command reads it, with the reference solution of name in
// place of the learner's main.go, and returns its root.
func copyExercise(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	sol, err := os.ReadFile(filepath.Join("exercises", name, "solution", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "lessons", "practice", "exercises", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), sol, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module tcptour\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestDoesNotCompile: a file that does not compile gets the compiler's
// message, and exit 1, not a stack trace.
func TestDoesNotCompile(t *testing.T) {
	dir := t.TempDir()
	src := "package main\n\nfunc main() {\n\tundefinedThing()\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := practice(t, t.TempDir(), "check", "--from", dir, exercises[0].Name)
	if code != 1 || !strings.Contains(out, "main.go:4:2: undefined: undefinedThing") || !strings.Contains(out, "does not compile") {
		t.Errorf("exit %d, want 1 and the compiler's message\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, "goroutine ") {
		t.Errorf("a stack trace:\n%s%s", out, errs)
	}
}

// TestUsage: bad commands and flags exit 2 with one line saying why.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"check", "--solution", "--from", "x", "accept-loop"},
		{"list", "--watch"},
		{"hint"},
		{"check", "a", "b"},
	} {
		code, _, errs := practice(t, t.TempDir(), args...)
		if code != 2 || !strings.HasPrefix(errs, "practice: ") {
			t.Errorf("practice %s: exit %d, want 2 and a line saying why\n%s", strings.Join(args, " "), code, errs)
		}
	}
	code, _, errs := practice(t, t.TempDir(), "check", "no-such-exercise")
	if code != 1 || !strings.Contains(errs, `no exercise called "no-such-exercise"`) {
		t.Errorf("an unknown exercise: exit %d\n%s", code, errs)
	}
}

// TestWatch: check --watch checks again when the file is saved, and
// Ctrl-C ends it.
func TestWatch(t *testing.T) {
	t.Parallel() // the checks mostly wait: the tests of this file run side by side
	needLab(t)
	dir := t.TempDir()
	first := exercises[0]
	task, err := os.ReadFile(filepath.Join("exercises", first.Name, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), task, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(practiceBin, "check", "--watch", "--from", dir, first.Name)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	waitFor := func(prefix string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the command ended before printing %q", prefix)
				}
				if strings.Contains(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q within 30 s", prefix)
			}
		}
	}
	waitFor("✗ ")
	waitFor("Watching ")
	sol, err := os.ReadFile(filepath.Join("exercises", first.Name, "solution", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	saved := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), sol, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("main.go saved at")
	t.Logf("the save was noticed after %s", time.Since(saved))
	waitFor("The exercise " + first.Name + " holds.")
	waitFor("Watching ")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("after Ctrl-C with the last check holding: exit %d (%v), want 0", code, err)
	}
}

// TestPcap: check --pcap saves every packet the check saw, for
// tracer/inspect: here the handshakes of the four clients of
// accept-loop.
func TestPcap(t *testing.T) {
	t.Parallel() // the checks mostly wait: the tests of this file run side by side
	needLab(t)
	file := filepath.Join(t.TempDir(), "check.pcapng")
	code, out, errs := practice(t, t.TempDir(), "check", "--solution", "--pcap", file, "accept-loop")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	r, err := capture.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	syns := 0
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := capture.Decode(p)
		if err == nil && d.TCP != nil && d.TCP.Flags == capture.SYN && d.Dst.Port() == 6969 {
			syns++
		}
	}
	if syns != 3 {
		t.Errorf("%d SYNs to port 6969 in %s, want one for each of the check's 3 clients", syns, file)
	}
}

// TestBuiltAlready: with envBuilt set, a check runs the program built
// already from the very files of its folder and builds any other; a
// learner's check (no envBuilt) always builds. The files here do not
// compile, so a build shows as the compiler's message.
func TestBuiltAlready(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := builtKey([]string{src}, findGoMod("."))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, key), []byte("built"), 0o755); err != nil {
		t.Fatal(err)
	}
	var be *buildError
	if _, err := build(dir, t.TempDir()); !errors.As(err, &be) || !strings.Contains(be.out, "undefined: undefinedThing") {
		t.Errorf("without %s: %v, want the compiler's message", envBuilt, err)
	}
	t.Setenv(envBuilt, cache)
	if bin, err := build(dir, t.TempDir()); err != nil || bin != filepath.Join(cache, key) {
		t.Errorf("with the program built already: %q, %v, want %s", bin, err, filepath.Join(cache, key))
	}
	// One byte more: another program, built.
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { undefinedThing() }\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := build(dir, t.TempDir()); !errors.As(err, &be) {
		t.Errorf("with the file changed: %v, want the compiler's message", err)
	}
}

// TestBuiltKey: the key changes with any file's name or contents and
// with go.mod, not with the order the files are named in.
func TestBuiltKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := write("a.go", "package main\n"), write("b.go", "package main\nfunc main() {}\n")
	modA, modB := write("a.mod", "module tcptour\n\ngo 1.26\n"), write("b.mod", "module other\n\ngo 1.26\n")
	key := func(gomod string, files ...string) string {
		t.Helper()
		k, err := builtKey(files, gomod)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(modA, a, b)
	if len(base) != 64 {
		t.Errorf("key %q, want 64 hex digits", base)
	}
	if k := key(modA, b, a); k != base {
		t.Errorf("the files in the other order: %s, want %s", k, base)
	}
	c := write("c.go", "package main\n") // a.go's contents, another name
	for what, k := range map[string]string{
		"another go.mod": key(modB, a, b),
		"no go.mod":      key("", a, b),
		"a file renamed": key(modA, c, b),
		"one file fewer": key(modA, b),
	} {
		if k == base {
			t.Errorf("%s: the same key", what)
		}
	}
	// The two files' contents swapped: the same bytes in all, but
	// another program.
	write("a.go", "package main\nfunc main() {}\n")
	write("b.go", "package main\n")
	if k := key(modA, a, b); k == base {
		t.Error("the files' contents swapped: the same key")
	}
	if _, err := builtKey([]string{filepath.Join(dir, "missing.go")}, modA); err == nil {
		t.Error("a missing file: no error")
	}
}

// judgeWaits passes the task's waits however late a busy machine makes
// them (within lateSleep), and fails waits that grow by a fixed step or
// do not grow.
func TestJudgeWaits(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 19, 54, 29, 0, time.UTC)
	tries := func(gaps ...int) []attemptSYN {
		ts := []attemptSYN{{syn: t0}}
		for _, g := range gaps {
			ts = append(ts, attemptSYN{syn: ts[len(ts)-1].syn.Add(time.Duration(g) * time.Millisecond)})
		}
		return ts
	}
	for _, c := range []struct {
		name string
		gaps []int
		fail string // "" for a pass
	}{
		{"the task's waits", []int{100, 200, 400, 800}, ""},
		{"two late in a row, as once beside other tests", []int{129, 250, 401, 801}, ""},
		{"the last but one late", []int{100, 200, 470, 800}, ""},
		{"a fixed step of 100 ms", []int{100, 200, 300, 400}, "from the first to the fifth"},
		{"a fixed step of 200 ms", []int{200, 400, 600, 800}, "wait 4 (800 ms) is not 1.6 times"},
		{"a fixed interval", []int{200, 200, 200, 200}, "from the first to the fifth"},
		{"no wait", []int{1, 1, 1, 1}, "without waiting"},
	} {
		err := judgeWaits(&Check{}, tries(c.gaps...), len(c.gaps)+1, true)
		switch {
		case c.fail == "" && err != nil:
			t.Errorf("%s %v: %v, want a pass", c.name, c.gaps, err)
		case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
			t.Errorf("%s %v: %v, want a failure saying %q", c.name, c.gaps, err, c.fail)
		}
	}
}
