//go:build unix

package outfile

import (
	"io/fs"
	"syscall"
)

// errReadOnly is the error of a write to a read-only file system.
var errReadOnly error = syscall.EROFS

// ownerOf returns the uid that owns fi.
func ownerOf(fi fs.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
