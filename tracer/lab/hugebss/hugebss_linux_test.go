//go:build linux

package hugebss

import "testing"

func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		line       string
		start, end uintptr
		ok         bool
	}{
		{"00f6d000-036df000 rw-p 00000000 00:00 0 ", 0xf6d000, 0x36df000, true},
		{"7ffd6c5a0000-7ffd6c5c1000 rw-p 00000000 00:00 0                          [stack]", 0x7ffd6c5a0000, 0x7ffd6c5c1000, true},
		{"", 0, 0, false},
		{"-1000 rw-p", 0, 0, false},
		{"1000-", 0, 0, false},
		{"1000-2000", 0, 0, false},
		{"Size:  40392 kB", 0, 0, false},
	} {
		start, end, ok := bounds([]byte(tc.line))
		if start != tc.start || end != tc.end || ok != tc.ok {
			t.Errorf("bounds(%q) = %#x, %#x, %v; want %#x, %#x, %v", tc.line, start, end, ok, tc.start, tc.end, tc.ok)
		}
	}
}
