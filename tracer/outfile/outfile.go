package outfile

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// File is an output file in the making: written to a temporary file
// beside its path, and put in place by Commit. Its methods are safe for
// concurrent use, and those of a nil *File do nothing (a flag not
// given).
type File struct {
	flag, path string

	mu  sync.Mutex
	tmp *os.File    // nil once committed or discarded
	old fs.FileInfo // what was at path when Create checked it; nil for nothing
	err error       // the first error writing
}

// Create checks that path, named by the command-line flag flag ("pcap",
// without dashes: it names the flag in errors), may be written, and
// creates the temporary file beside it that the program then writes to.
// perm is the new file's mode, before the umask ([the package doc] says
// what an existing file gives it). Its errors are one line that says what
// is wrong and what to do: "-pcap /tmp/x.pcapng: is a symbolic link (to
// /etc/passwd), which is never followed: …".
//
// [the package doc]: https://pkg.go.dev/tcptour/tracer/outfile
func Create(flag, path string, perm fs.FileMode) (*File, error) {
	f := &File{flag: flag, path: path}
	if path == "" {
		return nil, f.errorf("no file named")
	}
	u := asker()
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if err := f.check(fi, u); err != nil {
			return nil, err
		}
		f.old = fi
	case !errors.Is(err, fs.ErrNotExist):
		// A directory on the way that is not one, or not open to us.
		return nil, f.errorf("cannot look it up (%v): name a file in a directory you can write to", unwrap(err))
	}
	tmp, err := createBeside(path, perm)
	if err != nil {
		return nil, f.dirError(err)
	}
	f.tmp = tmp
	if err := f.setOwnerAndMode(u); err != nil {
		f.Discard()
		return nil, err
	}
	return f, nil
}

// check refuses an existing path that is not a regular file of u's own.
func (f *File) check(fi fs.FileInfo, u asking) error {
	switch t := fi.Mode().Type(); {
	case t&fs.ModeSymlink != 0:
		to := ""
		if target, err := os.Readlink(f.path); err == nil {
			to = " (to " + target + ")"
		}
		return f.errorf("is a symbolic link%s, which is never followed: name the file itself, or a new one", to)
	case t&fs.ModeDir != 0:
		return f.errorf("is a directory")
	case t != 0:
		what := "not a regular file"
		switch {
		case t&fs.ModeNamedPipe != 0:
			what = "a named pipe, " + what
		case t&fs.ModeSocket != 0:
			what = "a socket, " + what
		case t&fs.ModeDevice != 0:
			what = "a device, " + what
		}
		return f.errorf("is %s: name a regular file of yours, or a new one", what)
	}
	if uid, ok := ownerOf(fi); ok && uid != u.uid {
		return f.errorf("belongs to %s, not to you (%s): only your own files are replaced; name a new one", who(uid), u)
	}
	return nil
}

// createBeside creates a new, empty temporary file in path's directory,
// with O_EXCL: it never opens an existing file, nor follows a link.
func createBeside(path string, perm fs.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	if len(base) > 100 {
		// Room for the rest of the name within NAME_MAX (255 bytes).
		base = strings.ToValidUTF8(base[:100], "")
	}
	for range 1000 {
		name := filepath.Join(dir, "."+base+".tcptour-"+strconv.Itoa(100000+rand.IntN(900000)))
		tmp, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return tmp, err
	}
	return nil, fmt.Errorf("create a temporary file in %s: %w", dir, fs.ErrExist)
}

// setOwnerAndMode gives the temporary file its final owner and mode:
// under sudo, the user who ran it; its group's and others' permissions
// no more than the file it replaces had.
func (f *File) setOwnerAndMode(u asking) error {
	if u.sudo {
		if err := f.tmp.Chown(u.uid, u.gid); err != nil {
			return f.errorf("cannot give the file to %s: %v", u, unwrap(err))
		}
	}
	if f.old == nil {
		return nil
	}
	fi, err := f.tmp.Stat()
	if err != nil {
		return f.wrap(err)
	}
	mode := fi.Mode().Perm()
	if want := mode&f.old.Mode().Perm() | mode&0o700; want != mode {
		if err := f.tmp.Chmod(want); err != nil {
			return f.wrap(err)
		}
	}
	return nil
}

// Name returns the path the file is for.
func (f *File) Name() string {
	if f == nil {
		return ""
	}
	return f.path
}

// OSFile returns the temporary file, for a child process to write to
// (exec.Cmd.ExtraFiles); nil after Commit or Discard.
func (f *File) OSFile() *os.File {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tmp
}

// Write writes p to the temporary file. After Commit or Discard it
// returns an error.
func (f *File) Write(p []byte) (int, error) {
	if f == nil {
		return 0, os.ErrInvalid
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tmp == nil {
		return 0, f.wrap(os.ErrClosed)
	}
	n, err := f.tmp.Write(p)
	if err != nil {
		err = f.wrap(err)
		if f.err == nil {
			f.err = err
		}
	}
	return n, err
}

// Commit puts the file in place once everything is written: the
// temporary file, written out to disk, takes the path's name. A new
// path is linked, so that a file someone else made there meanwhile is
// not replaced; an existing one is replaced by a rename, once checked
// to be the same file Create saw. On any error (a write failed, the path
// changed) Commit removes the temporary file, leaves the path as it is
// and says why. It returns nil on a nil File.
func (f *File) Commit() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tmp == nil {
		return f.wrap(os.ErrClosed)
	}
	tmp, name := f.tmp, f.tmp.Name()
	f.tmp = nil
	err := f.err
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.place(name)
	}
	if err != nil {
		// NOTE: ignoring the error; the temporary file is ours, in a
		// directory we could create it in.
		_ = os.Remove(name)
		return f.wrap(err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// place gives the complete temporary file tmp the path's name.
func (f *File) place(tmp string) error {
	now, err := os.Lstat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// New (or the user's file removed meanwhile): link, which
		// fails if the name was taken since.
		err := os.Link(tmp, f.path)
		if err == nil {
			// NOTE: ignoring the error; the file is in place, and
			// removing our own temporary name does not fail.
			_ = os.Remove(tmp)
			return nil
		}
		if errors.Is(err, fs.ErrExist) {
			return f.errorf("appeared while the program ran: not replaced (the new file is not kept)")
		}
		// A file system without hard links: rename, the path being
		// still free a moment ago.
		return os.Rename(tmp, f.path)
	case err != nil:
		return err
	case f.old == nil:
		return f.errorf("appeared while the program ran: not replaced (the new file is not kept)")
	case !os.SameFile(f.old, now):
		return f.errorf("was replaced while the program ran: not replaced again (the new file is not kept)")
	}
	return os.Rename(tmp, f.path)
}

// Discard removes the temporary file and leaves the path as it was. It
// does nothing after Commit, or on a nil File: defer it right after
// Create.
func (f *File) Discard() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tmp == nil {
		return
	}
	// NOTE: ignoring the errors; nothing was written that is wanted,
	// and the temporary file is ours.
	_ = f.tmp.Close()
	_ = os.Remove(f.tmp.Name())
	f.tmp = nil
}

// syncDir writes a directory's entries to disk, so that a rename
// survives a crash. Best effort: not every system can.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	// NOTE: ignoring the errors; the file is in place either way.
	_ = d.Sync()
	_ = d.Close()
}

// errorf is an error about the file: "-pcap x.pcapng: …".
func (f *File) errorf(format string, args ...any) error {
	return fmt.Errorf("-%s %s: %s", f.flag, f.path, fmt.Sprintf(format, args...))
}

// wrap names the flag and path in err, dropping a *fs.PathError's own
// path (that of the temporary file, or the same path again).
func (f *File) wrap(err error) error {
	if strings.HasPrefix(err.Error(), "-"+f.flag+" "+f.path+": ") {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("-%s %s: %s: %w", f.flag, f.path, pe.Op, pe.Err)
	}
	return fmt.Errorf("-%s %s: %w", f.flag, f.path, err)
}

// dirError says why no file could be created in the path's directory.
func (f *File) dirError(err error) error {
	dir := filepath.Dir(f.path)
	cause := unwrap(err)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f.errorf("no directory %s: create it, or name a file in another", dir)
	case errors.Is(err, fs.ErrPermission), errors.Is(cause, errReadOnly):
		return f.errorf("cannot create a file in %s (%v): name a file in a directory you can write to", dir, cause)
	}
	return f.errorf("cannot create a file in %s: %v", dir, cause)
}

// unwrap returns a *fs.PathError's cause, without the path.
func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// asking is who asked for the file: the user whose files may be
// replaced, and who gets the new one.
type asking struct {
	uid, gid int
	sudo     bool // running as root for the user who ran sudo
}

// asker returns who asked: under sudo (effective uid 0, with SUDO_UID
// and SUDO_GID set) the user who ran sudo, else the effective user.
func asker() asking {
	u := asking{uid: os.Geteuid(), gid: os.Getegid()}
	if u.uid != 0 {
		return u
	}
	uid, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return u
	}
	return asking{uid: uid, gid: gid, sudo: true}
}

func (u asking) String() string {
	if u.sudo {
		return who(u.uid) + ", who ran sudo"
	}
	return who(u.uid)
}

// who names a user: "root (uid 0)", or "uid 1234" when unknown.
func who(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
