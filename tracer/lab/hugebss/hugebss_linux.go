//go:build linux

package hugebss

import (
	"syscall"
	"unsafe"
)

// anchor lies in the program's BSS (zeroed data without pointers): the
// mapping that holds it is the one advised.
var anchor byte

// MADV_HUGEPAGE and MADV_POPULATE_WRITE (Linux 5.14), which package
// syscall does not name.
const (
	madvHugepage      = 14
	madvPopulateWrite = 23
)

func init() {
	// NOTE: ignoring the error: without the advice the program starts
	// as it did, only slower.
	_ = advise()
}

// advise marks the anonymous mapping that holds the BSS for huge pages,
// so that the first write to each huge page's worth of it takes one
// page fault instead of 512. Where the Go runtime already wrote to a
// huge page's worth before this init (its own variables lie there too),
// the kernel goes on with small pages: those it fills now, in one call,
// which costs less than a fault for each.
func advise() error {
	start, end, err := mapping(uintptr(unsafe.Pointer(&anchor)))
	if err != nil {
		return err
	}
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, madvHugepage); e != 0 {
		return e
	}
	size := hugePageSize()
	if size != 2<<20 {
		// Not 512 small pages of 4 KiB (arm64 with 16 or 64 KiB
		// pages): the faults are fewer already.
		return nil
	}
	// One byte for each small page of a huge page's worth: bit 0 is
	// set where the page is there.
	var vec [512]byte
	for a := (start + size - 1) &^ (size - 1); a+size <= end; a += size {
		if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, a, size, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			continue
		}
		for _, b := range vec {
			if b&1 != 0 {
				// NOTE: ignoring the error: the pages not
				// filled now are filled as they are written.
				_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, a, size, madvPopulateWrite)
				break
			}
		}
	}
	return nil
}

// hugePageSize is the size of a huge page (2 MiB on amd64).
func hugePageSize() uintptr {
	const def = 2 << 20
	fd, err := syscall.Open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return def
	}
	defer syscall.Close(fd)
	var buf [32]byte
	n, err := syscall.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return def
	}
	var v uintptr
	for _, c := range buf[:n] {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uintptr(c-'0')
	}
	if v == 0 || v&(v-1) != 0 {
		return def
	}
	return v
}

// mapping finds, in /proc/self/maps, the bounds of the mapping that
// holds addr.
func mapping(addr uintptr) (start, end uintptr, err error) {
	fd, err := syscall.Open("/proc/self/maps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer syscall.Close(fd)
	var buf [4096]byte
	var line []byte
	for {
		n, err := syscall.Read(fd, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			return 0, 0, syscall.ENOENT
		}
		for _, c := range buf[:n] {
			if c != '\n' {
				line = append(line, c)
				continue
			}
			if s, e, ok := bounds(line); ok && s <= addr && addr < e {
				return s, e, nil
			}
			line = line[:0]
		}
	}
}

// bounds parses the start and end of a line of /proc/self/maps,
// "00f6d000-036df000 rw-p 00000000 00:00 0".
func bounds(line []byte) (start, end uintptr, ok bool) {
	i := 0
	start, i, ok = hex(line, i)
	if !ok || i >= len(line) || line[i] != '-' {
		return 0, 0, false
	}
	end, i, ok = hex(line, i+1)
	if !ok || i >= len(line) || line[i] != ' ' {
		return 0, 0, false
	}
	return start, end, true
}

// hex parses the hexadecimal number at line[i:], returning it and the
// index after it.
func hex(line []byte, i int) (uintptr, int, bool) {
	var v uintptr
	j := i
	for ; j < len(line); j++ {
		c := line[j]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uintptr(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uintptr(c-'a'+10)
		default:
			return v, j, j > i
		}
	}
	return v, j, j > i
}
