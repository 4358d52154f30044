package main

import (
	"context"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher tells when a Go file in a folder is saved (written and
// closed, or renamed into place, as editors save). On Linux it asks
// inotify, so it notices a save at once, and a save made while a check
// runs is not missed.
type watcher struct {
	f   *os.File
	buf []byte
}

func newWatcher(dir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	// A non-blocking descriptor in an os.File waits in Go's poller,
	// so that a deadline ends a Read.
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		w.f.Close()
		return nil, err
	}
	return w, nil
}

// next waits for a save and returns the file's name.
func (w *watcher) next(ctx context.Context) (string, error) {
	stop := context.AfterFunc(ctx, func() { w.f.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		n, err := w.f.Read(w.buf)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", err
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
			name := strings.TrimRight(string(w.buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if strings.HasSuffix(name, ".go") && !strings.HasPrefix(name, ".") {
				return name, nil
			}
		}
	}
}

func (w *watcher) close() error { return w.f.Close() }
