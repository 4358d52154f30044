// Package outfile writes the files a user names on a command line
// (a lesson's --pcap and --mermaid, the server's and the client's) so
// that nothing already there is destroyed or taken over.
//
// [Create] checks the path before the program starts its work, and
// refuses, with one line naming the flag and the path:
//
//   - a directory that does not exist, or that this user cannot write to;
//   - a symbolic link at the final component (never followed, whatever it
//     points at);
//   - anything but a regular file (a directory, a device, a pipe);
//   - a file that belongs to another user than the one who asked: under
//     sudo the user who ran sudo (SUDO_UID), so root's own files are
//     refused too.
//
// It then creates a temporary file beside the path, in the same
// directory (O_EXCL, hidden: ".NAME.tcptour-NNNNNN"), and the program
// writes there. The path itself is not touched until [File.Commit], at
// the end of a run that succeeded or was stopped by Ctrl-C: the
// complete file is then linked (a new path, so that a file created
// meanwhile by someone else is never replaced) or renamed (an existing
// file of the user's own, checked to be the same one) into place. A run
// that fails calls [File.Discard], which removes the temporary file and
// leaves the path as it was.
//
// The new file's mode is the one asked for (0600 for a capture, which
// can hold private data), less the umask, and never more than the file
// it replaces had. Under sudo (euid 0 with SUDO_UID and SUDO_GID set),
// the new file is given to the user who ran sudo; the owner of a file
// that was there before is never changed, since that file is never
// written.
//
//	f, err := outfile.Create("mermaid", path, 0o644) // before the work
//	if err != nil {
//		return err // "-mermaid /tmp/x.md: is a symbolic link (to …) …"
//	}
//	defer f.Discard() // a failed run leaves what was there
//	// … the work …
//	if _, err := io.WriteString(f, diagram); err != nil {
//		return err
//	}
//	return f.Commit()
package outfile
