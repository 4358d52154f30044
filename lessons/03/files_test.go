//go:build unix

package main

// The output files a learner names, --pcap and --mermaid, with the
// lesson binary as it runs: a file already there is never destroyed or
// taken over (tracer/outfile has the cases in full, in-process).

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"tcptour/lessons/internal/lessontest"
	"tcptour/tracer/capture"
)

// file is what a test remembers of a file, to check that nothing
// touched it.
type file struct {
	data []byte
	fi   fs.FileInfo
}

func remember(t *testing.T, path string) file {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return file{data, fi}
}

// untouched fails the test unless the file at path is the one
// remembered, as it was: content, inode, mode, owner, time.
func untouched(t *testing.T, path string, was file) {
	t.Helper()
	now := remember(t, path)
	st, wst := now.fi.Sys().(*syscall.Stat_t), was.fi.Sys().(*syscall.Stat_t)
	if !bytes.Equal(now.data, was.data) || !os.SameFile(now.fi, was.fi) || now.fi.Mode() != was.fi.Mode() ||
		!now.fi.ModTime().Equal(was.fi.ModTime()) || st.Uid != wst.Uid || st.Gid != wst.Gid {
		t.Errorf("%s was touched: %q %v uid %d, was %q %v uid %d", path, now.data, now.fi.Mode(), st.Uid, was.data, was.fi.Mode(), wst.Uid)
	}
}

// write makes a file with content data.
func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// temps returns the lesson's temporary files in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tcptour-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	if left := temps(t, dir); len(left) > 0 {
		t.Errorf("temporary files left in %s: %q", dir, left)
	}
}

// refusedBeforeStart checks a run that must stop before the lesson
// starts: exit 1, no lesson output, and one line on stderr containing
// want.
func refusedBeforeStart(t *testing.T, r lessontest.Ran, want string) {
	t.Helper()
	if r.Code != 1 || r.Stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 1 before the lesson starts", r.Code, r.Stdout)
	}
	if !strings.HasPrefix(r.Stderr, "lesson 03: ") || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr = %q, want one line containing %q", r.Stderr, want)
	}
}

// noSudo clears SUDO_UID for the lessons these tests run, should the
// tests themselves run under sudo.
func noSudo(t *testing.T) {
	t.Setenv("SUDO_UID", "")
	t.Setenv("SUDO_GID", "")
}

// tsharkCount returns how many packets tshark reads in pcap, or -1
// where tshark is not installed.
func tsharkCount(t *testing.T, pcap string) int {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: the file was checked with gopacket's reader only")
		return -1
	}
	out, err := exec.Command(tshark, "-r", pcap).Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", pcap, err)
	}
	return bytes.Count(out, []byte("\n"))
}

// capturing reports whether a lesson captures packets, as its output,
// its stdout so far, shows: wire lines. In a lab of its own a lesson
// captures, root or not; on the host (--host, or where the system
// refuses it a lab) only with root or CAP_NET_RAW, and without them it
// says so on stderr and goes on without packets.
func capturing(stdout string) bool { return strings.Contains(stdout, "wire   #") }

var capturedRe = regexp.MustCompile(`Captured (\d+) packets`)

// completePcap checks that pcap holds exactly the packets the lesson
// said it captured, read by gopacket and by tshark.
func completePcap(t *testing.T, pcap, stdout string) {
	t.Helper()
	m := capturedRe.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no Captured line:\n%s", stdout)
	}
	want, _ := strconv.Atoi(m[1])
	pkts, err := capture.ReadFile(pcap)
	if err != nil || len(pkts) != want || want == 0 {
		t.Errorf("%s: %d packets, %v; the lesson captured %d", pcap, len(pkts), err, want)
	}
	if n := tsharkCount(t, pcap); n >= 0 && n != want {
		t.Errorf("tshark reads %d packets, the lesson captured %d", n, want)
	}
}

// TestOutputNewFiles: new files get the diagram and the packets, mode
// 0644 (less the umask) and 0600, and no temporary file is left.
func TestOutputNewFiles(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := t.TempDir()
	mmd, pcap := filepath.Join(dir, "03.mmd"), filepath.Join(dir, "03.pcapng")
	r := lessontest.RunOK(t, bin, "--no-color", "--mermaid", mmd, "--pcap", pcap)
	got := remember(t, mmd)
	if !bytes.HasPrefix(got.data, []byte("sequenceDiagram\n")) || got.fi.Mode()&^0o644 != 0 || got.fi.Mode()&0o600 != 0o600 {
		t.Errorf("%s: %v, starts %q; want a diagram, mode 0644 less the umask", mmd, got.fi.Mode(), got.data[:min(30, len(got.data))])
	}
	if capturing(r.Stdout) {
		completePcap(t, pcap, r.Stdout)
		if fi, err := os.Stat(pcap); err != nil || fi.Mode() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", pcap, fi.Mode(), err)
		}
	} else if _, err := os.Lstat(pcap); !os.IsNotExist(err) {
		t.Errorf("no capture here (%s), yet %s is there: %v", strings.TrimSpace(r.Stderr), pcap, err)
	}
	noTemp(t, dir)
}

// TestOutputReplacedAtEnd: files of the learner's own keep their
// content while the lesson runs (here, holds with --hold), beside the
// files being written, and are replaced when Ctrl-C ends the hold: the
// pcap complete, as tshark reads it.
func TestOutputReplacedAtEnd(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := t.TempDir()
	mmd, pcap := filepath.Join(dir, "03.mmd"), filepath.Join(dir, "03.pcapng")
	write(t, mmd, "the last diagram\n")
	write(t, pcap, "the last capture\n")
	oldMmd, oldPcap := remember(t, mmd), remember(t, pcap)
	h := lessontest.Hold(t, bin, "--mermaid", mmd, "--pcap", pcap)
	untouched(t, mmd, oldMmd)
	untouched(t, pcap, oldPcap)
	captured := capturing(h.Output())
	want := 1
	if captured {
		want = 2
	}
	if n := len(temps(t, dir)); n != want {
		t.Errorf("%d files being written beside the old ones while the lesson holds, want %d", n, want)
	}
	stdout, _ := h.Stop()
	if b, err := os.ReadFile(mmd); err != nil || !bytes.HasPrefix(b, []byte("sequenceDiagram\n")) {
		t.Errorf("%s after the lesson: %q, %v; want the new diagram", mmd, b, err)
	}
	if captured {
		completePcap(t, pcap, stdout)
	} else {
		untouched(t, pcap, oldPcap)
	}
	noTemp(t, dir)
}

// TestOutputMissingDirectory: a path in a directory that does not
// exist stops the lesson before it starts.
func TestOutputMissingDirectory(t *testing.T) {
	bin := lessontest.Build(t)
	missing := filepath.Join(t.TempDir(), "missing")
	for _, flag := range []string{"--mermaid", "--pcap"} {
		path := filepath.Join(missing, "03.out")
		r := lessontest.RunBinary(t, bin, "--no-color", flag, path)
		refusedBeforeStart(t, r, flag[1:]+" "+path+": no directory "+missing+": create it, or name a file in another")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the directory was made: %v", err)
	}
}

// TestOutputSymlink: a symbolic link at the path is refused before the
// lesson starts, and the file it points at is not touched.
func TestOutputSymlink(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "mine")
	write(t, target, "keep me\n")
	was := remember(t, target)
	link := filepath.Join(dir, "03.out")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--mermaid", "--pcap"} {
		r := lessontest.RunBinary(t, bin, "--no-color", flag, link)
		refusedBeforeStart(t, r, flag[1:]+" "+link+": is a symbolic link (to "+target+"), which is never followed")
		untouched(t, target, was)
	}
	noTemp(t, dir)
}

// TestOutputSymlinkInStickyDir: a symbolic link in a world-writable
// sticky directory, as another user can leave in /tmp, pointing at a
// file the user running the lesson does not own (as root, a file of
// uid 12345's; as another user, one of root's): refused, the file not
// touched.
func TestOutputSymlinkInStickyDir(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	target := "/etc/passwd"
	if os.Geteuid() == 0 {
		target = filepath.Join(t.TempDir(), "theirs")
		write(t, target, "their data\n")
		if err := os.Chown(target, 12345, 12345); err != nil {
			t.Fatal(err)
		}
	} else if fi, err := os.Stat(target); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Skipf("no file of root's to point at: %v", err)
	}
	was := remember(t, target)
	link := filepath.Join(tmp, "03.pcapng")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--pcap", "--mermaid"} {
		r := lessontest.RunBinary(t, bin, "--no-color", flag, link)
		refusedBeforeStart(t, r, flag[1:]+" "+link+": is a symbolic link (to "+target+")")
		untouched(t, target, was)
	}
	noTemp(t, tmp)
}

// TestOutputInterruptedMidLesson: Ctrl-C in the middle of the lesson
// (at the pause before step 3) leaves a complete pcap that tshark reads,
// in place of the old file; the Mermaid file, written only by a lesson
// that ends, stays as it was.
func TestOutputInterruptedMidLesson(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := t.TempDir()
	mmd, pcap := filepath.Join(dir, "03.mmd"), filepath.Join(dir, "03.pcapng")
	write(t, mmd, "the last diagram\n")
	write(t, pcap, "the last capture\n")
	oldMmd, oldPcap := remember(t, mmd), remember(t, pcap)
	p := lessontest.StartStepped(t, bin, "--mermaid", mmd, "--pcap", pcap)
	p.WaitPrompt(1)
	p.Enter()
	p.WaitPrompt(2)
	p.Enter()
	p.WaitPrompt(3)
	stdout, stderr := p.Stop()
	if !strings.Contains(stderr, "lesson 03: interrupted by SIGINT (Ctrl-C)") {
		t.Errorf("stderr = %q, want the interruption", stderr)
	}
	untouched(t, mmd, oldMmd)
	if capturing(stdout) {
		completePcap(t, pcap, stdout)
	} else {
		t.Log("no capture here: the old pcap stays (the complete new one is checked where the lesson may capture)")
		untouched(t, pcap, oldPcap)
	}
	noTemp(t, dir)
}

// onTheHost is the lesson binary bin with args run on this machine's
// loopback (--host): there a user may capture only with root or
// CAP_NET_RAW, where in a lab of its own the lesson always may.
func onTheHost(t *testing.T, bin string, args ...string) *exec.Cmd {
	return exec.Command(bin, append([]string{"--host"}, args...)...)
}

// withoutALab is the lesson binary bin with args run where the system
// refuses it a lab, as RunUnprivileged checks it: in a user namespace
// whose limits forbid more namespaces, the lesson says why and goes on
// on the host's loopback, where it may not capture. It skips the test
// where unshare is not installed.
func withoutALab(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare is not installed: a system that refuses the lab is not made here")
	}
	return exec.Command(unshare, append([]string{"-U", "-r", "sh", "-c",
		`echo 0 >/proc/sys/user/max_user_namespaces && echo 0 >/proc/sys/user/max_net_namespaces && exec "$0" "$@"`, bin}, args...)...)
}

// withoutCapture returns a function that runs the lesson binary with
// args, through how (onTheHost, withoutALab), as a user who may not
// capture: as root, the user nobody, for whom it makes dir and the
// files in it nobody's own at once; as another user, that user, where
// not permitted (else it skips).
func withoutCapture(t *testing.T, dir string, how func(t *testing.T, bin string, args ...string) *exec.Cmd) func(bin string, args ...string) (code int, stderr string) {
	t.Helper()
	root := os.Geteuid() == 0
	switch {
	case root:
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		paths := []string{dir}
		for _, e := range ents {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
		for _, p := range paths {
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	case lessontest.CapturePermitted():
		t.Skip("needs a user who may not capture: run the tests as root (they run the lesson as nobody) or as an ordinary user")
	}
	return func(bin string, args ...string) (int, string) {
		t.Helper()
		cmd := how(t, bin, args...)
		if root {
			lessontest.AsNobody(cmd)
		}
		var out bytes.Buffer
		cmd.Stderr = &out
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			return exit.ExitCode(), out.String()
		case err != nil:
			t.Fatal(err)
		}
		return 0, out.String()
	}
}

// TestOutputFailedRun: a lesson that cannot start its capture with
// --capture=on (run as a user who may not, on the host's loopback:
// --host) fails, and leaves the files that were there and no temporary
// file. (A lesson that fails midway: lessons/internal/lesson
// TestFailedLessonKeepsFiles.)
func TestOutputFailedRun(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := lessontest.NobodyDir(t)
	mmd, pcap := filepath.Join(dir, "03.mmd"), filepath.Join(dir, "03.pcapng")
	write(t, mmd, "the last diagram\n")
	write(t, pcap, "the last capture\n")
	run := withoutCapture(t, dir, onTheHost)
	oldMmd, oldPcap := remember(t, mmd), remember(t, pcap)
	code, stderr := run(bin, "--no-color", "--capture=on", "--mermaid", mmd, "--pcap", pcap)
	if code != 1 || !strings.Contains(stderr, "capture needs root or CAP_NET_RAW") {
		t.Errorf("exit %d, stderr %q; want 1 and the reason", code, stderr)
	}
	untouched(t, mmd, oldMmd)
	untouched(t, pcap, oldPcap)
	noTemp(t, dir)
}

// TestOutputCaptureNotStarted: with --capture=auto where capture is not
// permitted (the system refuses the lesson a lab, and the user may not
// capture on the host's loopback), the lesson runs without packets and
// says so; what was at the --pcap path stays as it was, and the Mermaid
// file is written.
func TestOutputCaptureNotStarted(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := lessontest.NobodyDir(t)
	mmd, pcap := filepath.Join(dir, "03.mmd"), filepath.Join(dir, "03.pcapng")
	write(t, mmd, "the last diagram\n")
	write(t, pcap, "the last capture\n")
	run := withoutCapture(t, dir, withoutALab)
	oldPcap := remember(t, pcap)
	code, stderr := run(bin, "--no-color", "--mermaid", mmd, "--pcap", pcap)
	if code != 0 || !strings.Contains(stderr, "going on on this machine's loopback") ||
		!strings.Contains(stderr, "going on without packets, and without "+pcap) {
		t.Errorf("exit %d, stderr %q; want 0, the line saying there is no lab and the one saying there is no capture", code, stderr)
	}
	untouched(t, pcap, oldPcap)
	if b, err := os.ReadFile(mmd); err != nil || !bytes.HasPrefix(b, []byte("sequenceDiagram\n")) {
		t.Errorf("%s: %q, %v; want the new diagram", mmd, b, err)
	}
	noTemp(t, dir)
}

// TestOutputKilled: a lesson killed outright (SIGKILL, which no program
// can handle) leaves what was at its paths; what it wrote so far is in
// the temporary files beside them, the pcap complete up to its last
// packet.
func TestOutputKilled(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := t.TempDir()
	mmd, pcap := filepath.Join(dir, "03.mmd"), filepath.Join(dir, "03.pcapng")
	write(t, mmd, "the last diagram\n")
	write(t, pcap, "the last capture\n")
	oldMmd, oldPcap := remember(t, mmd), remember(t, pcap)
	h := lessontest.Hold(t, bin, "--mermaid", mmd, "--pcap", pcap)
	captured := capturing(h.Output())
	if err := syscall.Kill(h.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.Wait()
	untouched(t, mmd, oldMmd)
	untouched(t, pcap, oldPcap)
	left := temps(t, dir)
	want := 1
	if captured {
		want = 2
	}
	if len(left) != want {
		t.Fatalf("temporary files left: %q, want %d", left, want)
	}
	for _, name := range left {
		if !strings.HasPrefix(name, ".03.pcapng.tcptour-") {
			continue
		}
		if pkts, err := capture.ReadFile(filepath.Join(dir, name)); err != nil || len(pkts) == 0 {
			t.Errorf("%s: %d packets, %v; want the packets so far, complete", name, len(pkts), err)
		}
	}
}

// TestOutputUnderSudo: run as root with SUDO_UID and SUDO_GID, as sudo
// runs it, the lesson gives its new files to the user who ran sudo,
// and refuses a file of root's, which it does not touch.
func TestOutputUnderSudo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: sudo runs the lesson as root")
	}
	bin := lessontest.Build(t)
	dir := t.TempDir()
	t.Setenv("SUDO_UID", "65534")
	t.Setenv("SUDO_GID", "65534")
	mmd, pcap := filepath.Join(dir, "new.mmd"), filepath.Join(dir, "new.pcapng")
	r := lessontest.RunOK(t, bin, "--no-color", "--mermaid", mmd, "--pcap", pcap)
	made := []string{mmd}
	if capturing(r.Stdout) {
		completePcap(t, pcap, r.Stdout)
		made = append(made, pcap)
	}
	for _, p := range made {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s is %d:%d, want the sudo user's, 65534:65534", p, st.Uid, st.Gid)
		}
	}

	roots := filepath.Join(dir, "root.out")
	write(t, roots, "root's\n")
	was := remember(t, roots)
	for _, flag := range []string{"--pcap", "--mermaid"} {
		r := lessontest.RunBinary(t, bin, "--no-color", flag, roots)
		refusedBeforeStart(t, r, flag[1:]+" "+roots+": belongs to root (uid 0), not to you (")
		if !strings.Contains(r.Stderr, "uid 65534), who ran sudo): only your own files are replaced") {
			t.Errorf("stderr = %q, want it to name the sudo user", r.Stderr)
		}
		untouched(t, roots, was)
	}
	noTemp(t, dir)
}

// TestOutputReadOnlyDirectory: a file named in a directory of the user's
// own that they may not write in (mode 0555), or not even look in (000),
// is refused before the lesson starts, as the user would be refused.
// The lab, made in a user namespace, is root there, and could write in
// it: the program outside checks, with the user's own ids.
func TestOutputReadOnlyDirectory(t *testing.T) {
	noSudo(t)
	bin := lessontest.Build(t)
	dir := lessontest.NobodyDir(t)
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	run := withoutCapture(t, dir, func(t *testing.T, bin string, args ...string) *exec.Cmd { return exec.Command(bin, args...) })
	for _, c := range []struct {
		mode os.FileMode
		want string
	}{{0o555, "cannot create a file in " + ro + " (permission denied)"}, {0o000, "cannot look it up (permission denied)"}} {
		if err := os.Chmod(ro, c.mode); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(ro, "03.mmd")
		code, stderr := run(bin, "--no-color", "--capture=off", "--mermaid", path)
		if code != 1 || !strings.HasPrefix(stderr, "lesson 03: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("mode %v: exit %d, stderr %q; want exit 1 and one line containing %q", c.mode, code, stderr, c.want)
		}
	}
	if err := os.Chmod(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(ro); err != nil || len(ents) != 0 {
		t.Errorf("the directory holds %v (%v), want nothing", ents, err)
	}
}
