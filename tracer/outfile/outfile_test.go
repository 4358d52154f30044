//go:build unix

package outfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// otherUID owns the files of "another user" when the tests run as root.
const otherUID = 12345

// state is what a test remembers of a file to check that nothing
// touched it: its content, mode, owner, inode and times.
type state struct {
	data []byte
	fi   fs.FileInfo
}

func remember(t *testing.T, path string) state {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return state{data, fi}
}

// untouched fails the test if the file at path is no longer the one
// remembered, as it was.
func untouched(t *testing.T, path string, was state) {
	t.Helper()
	now := remember(t, path)
	if !bytes.Equal(now.data, was.data) || !os.SameFile(now.fi, was.fi) || now.fi.Mode() != was.fi.Mode() ||
		!now.fi.ModTime().Equal(was.fi.ModTime()) || owner(now.fi) != owner(was.fi) {
		t.Errorf("%s was touched: %q %v %v owner %d, was %q %v %v owner %d", path,
			now.data, now.fi.Mode(), now.fi.ModTime(), owner(now.fi), was.data, was.fi.Mode(), was.fi.ModTime(), owner(was.fi))
	}
}

func owner(fi fs.FileInfo) int {
	uid, _ := ownerOf(fi)
	return uid
}

// noTemp fails the test if a temporary file is left in dir.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
		return // nothing could be made there
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tcptour-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// temps returns the temporary files in dir.
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

// create is Create that must succeed, with the file discarded at the
// end of the test if it was not committed.
func create(t *testing.T, path string, perm fs.FileMode) *File {
	t.Helper()
	f, err := Create("pcap", path, perm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Discard)
	return f
}

// refused checks that Create refuses path with an error that names the
// flag and path and contains want, and leaves no temporary file.
func refused(t *testing.T, path, want string) {
	t.Helper()
	f, err := Create("pcap", path, 0o600)
	if err == nil {
		f.Discard()
		t.Fatalf("Create(%s): no error, want %q", path, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "-pcap "+path+": ") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("Create(%s): %q, want one line starting -pcap %s: and containing %q", path, msg, path, want)
	}
	noTemp(t, filepath.Dir(path))
}

// stickyDir returns a world-writable directory with the sticky bit, as
// /tmp is.
func stickyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}

// othersFile returns a file that belongs to another user than the one
// running the tests: as root, a file made for uid 12345; else a file of
// root's, /etc/passwd.
func othersFile(t *testing.T) string {
	t.Helper()
	if os.Geteuid() == 0 {
		path := filepath.Join(t.TempDir(), "theirs")
		if err := os.WriteFile(path, []byte("their data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		return path
	}
	fi, err := os.Stat("/etc/passwd")
	if err != nil || owner(fi) != 0 {
		t.Skipf("no file of root's to point at (/etc/passwd: %v)", err)
	}
	return "/etc/passwd"
}

// noSudo clears SUDO_UID should the tests themselves run under sudo,
// for the cases where the asker must be the user running them.
func noSudo(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 && os.Getenv("SUDO_UID") != "" {
		// The tests themselves under sudo: the asker is the sudo user.
		t.Setenv("SUDO_UID", "")
	}
}

func TestNewFile(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcapng")
	f := create(t, path, 0o600)
	if _, err := f.Write([]byte("packets")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the path exists before Commit: %v", err)
	}
	if n := len(temps(t, dir)); n != 1 {
		t.Errorf("%d temporary files while writing, want 1", n)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	got := remember(t, path)
	if string(got.data) != "packets" || got.fi.Mode() != 0o600 || owner(got.fi) != os.Geteuid() {
		t.Errorf("the new file: %q %v owner %d, want \"packets\" -rw------- owner %d", got.data, got.fi.Mode(), owner(got.fi), os.Geteuid())
	}
	noTemp(t, dir)
	if f.Name() != path {
		t.Errorf("Name() = %q, want %q", f.Name(), path)
	}
}

// An existing file of the user's own keeps its content until Commit,
// then is replaced whole; the group and others get no more than they
// had on it.
func TestExistingReplacedAtCommit(t *testing.T) {
	noSudo(t)
	for _, tc := range []struct {
		name     string
		old, ask fs.FileMode
		want     fs.FileMode
	}{
		{"pcap over 0644", 0o644, 0o600, 0o600},
		{"mermaid over 0600", 0o600, 0o644, 0o600},
		{"mermaid over 0640", 0o640, 0o644, 0o640},
		{"mermaid over 0400", 0o400, 0o644, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.old); err != nil {
				t.Fatal(err)
			}
			was := remember(t, path)
			f := create(t, path, tc.ask)
			if _, err := f.Write([]byte("new")); err != nil {
				t.Fatal(err)
			}
			untouched(t, path, was)
			if err := f.Commit(); err != nil {
				t.Fatal(err)
			}
			got := remember(t, path)
			if string(got.data) != "new" || os.SameFile(got.fi, was.fi) {
				t.Errorf("after Commit: %q, same inode %v; want \"new\" in a new file", got.data, os.SameFile(got.fi, was.fi))
			}
			if got.fi.Mode() != tc.want {
				t.Errorf("mode %v, want %v", got.fi.Mode(), tc.want)
			}
			noTemp(t, dir)
		})
	}
}

func TestMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nothing", "x.pcapng")
	refused(t, path, "no directory "+filepath.Join(dir, "nothing")+": create it")
	if _, err := os.Lstat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("the directory was made: %v", err)
	}
}

func TestUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write in any directory: checked as an ordinary user (asnobody go test ./tracer/outfile)")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	refused(t, filepath.Join(dir, "x.pcapng"), "cannot create a file in "+dir+" (permission denied)")
}

func TestIsDirectory(t *testing.T) {
	dir := t.TempDir()
	refused(t, dir, "is a directory")
}

// A path through a file, as if it were a directory.
func TestPathThroughAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, filepath.Join(file, "x.pcapng"), "cannot look it up (not a directory)")
}

func TestNotRegular(t *testing.T) {
	refused(t, os.DevNull, "is a device, not a regular file")
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, fifo, "is a named pipe, not a regular file")
}

// A symbolic link at the final component is refused whatever it points
// at, and what it points at is not touched, nor created.
func TestSymlinkRefused(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "mine")
	if err := os.WriteFile(target, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	was := remember(t, target)
	link := filepath.Join(dir, "x.pcapng")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	refused(t, link, "is a symbolic link (to "+target+"), which is never followed")
	untouched(t, target, was)

	dangling := filepath.Join(dir, "dangling.pcapng")
	nowhere := filepath.Join(dir, "made-through-the-link")
	if err := os.Symlink(nowhere, dangling); err != nil {
		t.Fatal(err)
	}
	refused(t, dangling, "is a symbolic link")
	if _, err := os.Lstat(nowhere); !os.IsNotExist(err) {
		t.Errorf("a file was created through the link: %v", err)
	}
}

// A symbolic link in a world-writable sticky directory, like one another
// user leaves in /tmp, pointing at a file the user does not own: refused,
// and the file is not touched.
func TestSymlinkInStickyDirToOthersFile(t *testing.T) {
	noSudo(t)
	target := othersFile(t)
	was := remember(t, target)
	link := filepath.Join(stickyDir(t), "x.pcapng")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	refused(t, link, "is a symbolic link (to "+target+")")
	untouched(t, target, was)
}

// A file of another user's, in a sticky directory as in /tmp or
// anywhere else, is refused, not replaced.
func TestOthersFileRefused(t *testing.T) {
	noSudo(t)
	path := othersFile(t)
	if os.Geteuid() == 0 {
		// Into a sticky directory, as another user's file in /tmp.
		moved := filepath.Join(stickyDir(t), "x.pcapng")
		if err := os.Rename(path, moved); err != nil {
			t.Fatal(err)
		}
		path = moved
	}
	was := remember(t, path)
	refused(t, path, "belongs to "+who(owner(was.fi))+", not to you ("+who(os.Geteuid())+"): only your own files are replaced")
	untouched(t, path, was)
}

// A run that fails discards its file: what was at the path stays, and
// no temporary file is left.
func TestDiscardLeavesWhatWasThere(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	old := filepath.Join(dir, "old.pcapng")
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	was := remember(t, old)
	fresh := filepath.Join(dir, "new.pcapng")
	for _, path := range []string{old, fresh} {
		f := create(t, path, 0o600)
		if _, err := f.Write([]byte("half a run")); err != nil {
			t.Fatal(err)
		}
		f.Discard()
		f.Discard()
		if _, err := f.Write([]byte("more")); err == nil {
			t.Error("Write after Discard: no error")
		}
		if err := f.Commit(); err == nil {
			t.Error("Commit after Discard: no error")
		}
	}
	untouched(t, old, was)
	if _, err := os.Lstat(fresh); !os.IsNotExist(err) {
		t.Errorf("a discarded new file exists: %v", err)
	}
	noTemp(t, dir)
}

// A file that appears at a new path while the program runs is not
// replaced at Commit.
func TestAppearedWhileRunning(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcapng")
	f := create(t, path, 0o600)
	if err := os.WriteFile(path, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	was := remember(t, path)
	err := f.Commit()
	if err == nil || !strings.Contains(err.Error(), "-pcap "+path+": appeared while the program ran: not replaced") {
		t.Errorf("Commit: %v, want it to refuse", err)
	}
	untouched(t, path, was)
	noTemp(t, dir)
}

// An existing file replaced by another while the program runs is not
// replaced again at Commit.
func TestReplacedWhileRunning(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcapng")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := create(t, path, 0o600)
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("swapped in"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	was := remember(t, path)
	if err := f.Commit(); err == nil || !strings.Contains(err.Error(), "was replaced while the program ran") {
		t.Errorf("Commit: %v, want it to refuse", err)
	}
	untouched(t, path, was)
	noTemp(t, dir)
}

// A file removed by its user while the program runs is simply written.
func TestRemovedWhileRunning(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcapng")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := create(t, path, 0o600)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "new" {
		t.Errorf("%q, %v; want \"new\"", got, err)
	}
	noTemp(t, dir)
}

func TestCommitTwice(t *testing.T) {
	noSudo(t)
	path := filepath.Join(t.TempDir(), "x")
	f := create(t, path, 0o600)
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err == nil {
		t.Error("a second Commit: no error")
	}
	f.Discard() // after Commit: nothing
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Discard after Commit removed the file: %v", err)
	}
	var none *File
	none.Discard()
	if err := none.Commit(); err != nil || none.Name() != "" {
		t.Errorf("a nil File: Commit %v, Name %q", err, none.Name())
	}
}

// A name too long for the temporary file's prefix still works.
func TestLongName(t *testing.T) {
	noSudo(t)
	dir := t.TempDir()
	path := filepath.Join(dir, strings.Repeat("é", 120)+".pcapng") // 247 bytes
	f := create(t, path, 0o600)
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	noTemp(t, dir)
}

// Under sudo (root, with SUDO_UID and SUDO_GID), a new file is given to
// the user who ran sudo; an existing file of root's is refused and not
// touched; one of the sudo user's own is replaced by a file of theirs.
func TestSudo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: sudo runs the program as root")
	}
	t.Setenv("SUDO_UID", "65534")
	t.Setenv("SUDO_GID", "65534")
	dir := stickyDir(t)

	fresh := filepath.Join(dir, "new.pcapng")
	f := create(t, fresh, 0o600)
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 || fi.Mode() != 0o600 {
		t.Errorf("new file under sudo: %d:%d %v, want 65534:65534 -rw-------", st.Uid, st.Gid, fi.Mode())
	}

	roots := filepath.Join(dir, "root.pcapng")
	if err := os.WriteFile(roots, []byte("root's"), 0o644); err != nil {
		t.Fatal(err)
	}
	was := remember(t, roots)
	refused(t, roots, "belongs to root (uid 0), not to you ("+who(65534)+", who ran sudo): only your own files are replaced")
	untouched(t, roots, was)

	theirs := filepath.Join(dir, "theirs.pcapng")
	if err := os.WriteFile(theirs, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	f = create(t, theirs, 0o600)
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(theirs); err != nil || owner(fi) != 65534 {
		t.Errorf("the sudo user's file replaced: owner %d, %v; want 65534", owner(fi), err)
	}
	noTemp(t, dir)
}

// SUDO_UID means nothing to a program that does not run as root.
func TestAsker(t *testing.T) {
	t.Setenv("SUDO_UID", "4242")
	t.Setenv("SUDO_GID", "4242")
	u := asker()
	if os.Geteuid() == 0 {
		if u != (asking{uid: 4242, gid: 4242, sudo: true}) {
			t.Errorf("as root under sudo: %+v", u)
		}
	} else if u != (asking{uid: os.Geteuid(), gid: os.Getegid()}) {
		t.Errorf("not root, SUDO_UID set: %+v, want the effective user", u)
	}
	t.Setenv("SUDO_UID", "not a number")
	if u := asker(); u.sudo {
		t.Errorf("a bad SUDO_UID: %+v", u)
	}
}

// Writes from several goroutines all land, and the file is complete
// after Commit.
func TestConcurrentWrites(t *testing.T) {
	noSudo(t)
	path := filepath.Join(t.TempDir(), "x")
	f := create(t, path, 0o600)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				if _, err := f.Write([]byte("0123456789")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || len(data) != 4000 {
		t.Errorf("%d bytes, %v; want 4000", len(data), err)
	}
}
