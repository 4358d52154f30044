//go:build !unix

package outfile

import (
	"errors"
	"io/fs"
)

// errReadOnly is the error of a write to a read-only file system.
var errReadOnly = errors.New("read-only file system")

// ownerOf reports that files have no uid here.
func ownerOf(fs.FileInfo) (uid int, ok bool) { return 0, false }
