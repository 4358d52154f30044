//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// listenerPID finds the process listening on target: the inode of the
// listening socket in /proc/net/tcp (or tcp6), then the process with a
// descriptor for that socket (reading other users' /proc/PID/fd needs
// root).
func listenerPID(target netip.AddrPort) (int, error) {
	inode, err := listenInode(target)
	if err != nil {
		return 0, err
	}
	want := "socket:[" + inode + "]"
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process found with the socket listening on %s", target)
}

// listenInode returns the inode of the socket listening on target.
func listenInode(target netip.AddrPort) (string, error) {
	files := []string{"/proc/net/tcp", "/proc/net/tcp6"}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || fl[3] != "0A" { // TCP_LISTEN
				continue
			}
			ap, ok := parseProcAddr(fl[1])
			if !ok || ap.Port() != target.Port() {
				continue
			}
			a := ap.Addr().Unmap()
			if a == target.Addr() || a.IsUnspecified() {
				f.Close()
				return fl[9], nil
			}
		}
		f.Close()
	}
	return "", fmt.Errorf("nothing listens on %s", target)
}

// parseProcAddr parses /proc/net/tcp's "0100007F:1B39": the address as
// 32-bit words in host (little-endian) order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a, uint16(port)), true
}

// readMemory reads the process's resident memory (VmRSS, RssAnon), its
// descriptors and threads.
func readMemory(pid int) (memory, error) {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n << 10
		case "RssAnon":
			m.anon = n << 10
		case "Threads":
			m.threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return m, err
	}
	m.fds = len(fds)
	return m, nil
}

// waitFDs waits until the process holds at least n descriptors, at most
// limit.
func waitFDs(ctx context.Context, pid, n int, limit time.Duration) {
	for end := time.Now().Add(limit); time.Now().Before(end) && ctx.Err() == nil; {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil || len(fds) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
