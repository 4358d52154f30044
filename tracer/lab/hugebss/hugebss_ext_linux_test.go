//go:build linux

// These tests are in a package of their own: one that imports gopacket
// makes package hugebss, built with its tests, depend on gopacket and
// so start after it.
package hugebss_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/gopacket/layers"

	_ "tcptour/tracer/lab/hugebss"
)

// The advice comes before gopacket fills its tables: this package's
// init runs before gopacket/layers' (GODEBUG=inittrace=1 prints each
// package's init in the order they run).
func TestInitFirst(t *testing.T) {
	if os.Getenv("HUGEBSS_INITTRACE") != "" {
		return // the program TestInitFirst runs
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestInitFirst$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "HUGEBSS_INITTRACE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	order := map[string]int{}
	for i, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order[f[1]] = i + 1
		}
	}
	us, them := order["tcptour/tracer/lab/hugebss"], order["github.com/google/gopacket/layers"]
	if us == 0 || them == 0 || us > them {
		t.Errorf("inittrace: hugebss's init on line %d, gopacket/layers' on line %d: want both, hugebss's first\n%s", us, them, out)
	}
}

// gopacket's tables are in a mapping advised for huge pages.
func TestTablesAdvised(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skipf("this kernel has no transparent huge pages: %v", err)
	}
	for _, addr := range []uintptr{
		uintptr(unsafe.Pointer(&layers.EthernetTypeMetadata)),
		uintptr(unsafe.Pointer(&layers.PPPTypeMetadata)),
	} {
		m := smaps(t, addr)
		if !strings.Contains(" "+m["VmFlags"]+" ", " hg ") {
			t.Errorf("gopacket's table at %#x is in %s, VmFlags %q: want hg (MADV_HUGEPAGE)", addr, m[""], m["VmFlags"])
		}
		// What the kernel gave depends on its settings and on
		// free memory.
		t.Logf("%s: Rss %s, AnonHugePages %s", m[""], m["Rss"], m["AnonHugePages"])
	}
	enabled, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	t.Logf("transparent huge pages: %s", strings.TrimSpace(string(enabled)))
}

// smaps is the entry of /proc/self/smaps for the mapping that holds
// addr: its first line under "", then each "Key: value".
func smaps(t *testing.T, addr uintptr) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var entry map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if ok && !strings.Contains(k, " ") {
			if entry != nil {
				entry[k] = strings.TrimSpace(v)
			}
			continue
		}
		if entry != nil {
			break
		}
		var start, end uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &start, &end); err == nil && start <= addr && addr < end {
			entry = map[string]string{"": line}
		}
	}
	if entry == nil {
		t.Fatalf("no mapping holds %#x", addr)
	}
	return entry
}
