//go:build linux

package link

import (
	"encoding/binary"
	"slices"
	"testing"
)

// markerFrame is an Ethernet frame carrying a UDP datagram to
// MarkerAddr, port dport, with payload msg, after an IPv4 header of hl
// bytes.
func markerFrame(hl int, dport uint16, msg []byte) []byte {
	b := make([]byte, 14+hl+8+len(msg))
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0] = 0x40 | byte(hl/4)
	ip[9] = 17 // UDP
	copy(ip[16:20], MarkerAddr.AsSlice())
	binary.BigEndian.PutUint16(ip[hl+2:], dport)
	copy(ip[hl+8:], msg)
	return b
}

// TestSyncMarker: the link takes its own markers (its nonce, to port 9),
// with IP options too, and no other datagram to the marker address: a
// capture's marker, another program's, one cut short.
func TestSyncMarker(t *testing.T) {
	l := &Link{syncNonce: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}
	msg := func(nonce [8]byte) []byte {
		m := make([]byte, syncLen)
		copy(m, syncMagic[:])
		copy(m[8:], nonce[:])
		binary.BigEndian.PutUint64(m[16:], 42)
		binary.BigEndian.PutUint32(m[24:], 1)
		binary.BigEndian.PutUint32(m[28:], 2)
		return m
	}
	mine := msg(l.syncNonce)
	for _, hl := range []int{20, 24} {
		b := markerFrame(hl, syncPort, mine)
		if !toMarker(b) {
			t.Fatalf("header of %d bytes: not to the marker address", hl)
		}
		seq, idx, ok := l.syncMarker(b)
		if !ok || seq != 42 || idx != 1 {
			t.Errorf("header of %d bytes: %d, %d, %v; want 42, 1, true", hl, seq, idx, ok)
		}
	}
	capture := slices.Clone(mine)
	copy(capture, "tcptsync") // a capture's magic
	for name, b := range map[string][]byte{
		"a capture's marker":   markerFrame(20, syncPort, capture),
		"another link's nonce": markerFrame(20, syncPort, msg([8]byte{9})),
		"another port":         markerFrame(20, 5353, mine),
		"cut short":            markerFrame(20, syncPort, mine)[:14+20+8+syncLen-1],
		"a bad header length":  markerFrame(20, syncPort, mine)[:14+20+8+syncLen],
	} {
		if name == "a bad header length" {
			b[14] = 0x44 // 16 bytes
		}
		if _, _, ok := l.syncMarker(b); ok {
			t.Errorf("%s: taken for the link's marker", name)
		}
	}
}
