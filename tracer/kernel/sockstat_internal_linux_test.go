//go:build linux

package kernel

import "testing"

func TestTimeWaits(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
		ok   bool
	}{
		{"sockets: used 9\nTCP: inuse 1 orphan 0 tw 2 alloc 1 mem 0\nUDP: inuse 0 mem 0\n", 2, true},
		{"TCP: inuse 1 orphan 0 tw 30417 alloc 1 mem 0", 30417, true},
		{"sockets: used 9\nUDP: inuse 0 tw 3\n", 0, false},
		{"TCP: inuse 1 orphan 0 tw -1 alloc 1\n", 0, false},
		{"TCP: inuse 1 orphan 0 tw\n", 0, false},
		{"", 0, false},
	} {
		n, err := timeWaits([]byte(c.text))
		if (err == nil) != c.ok || n != c.want {
			t.Errorf("%q: %d, %v; want %d (ok %v)", c.text, n, err, c.want, c.ok)
		}
	}
}
