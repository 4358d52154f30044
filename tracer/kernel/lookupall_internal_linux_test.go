//go:build linux

package kernel

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// Where the receive buffer holds only a few answers, the kernel drops
// the others (ENOBUFS): LookupAll asks for those again one at a time,
// and answers every question as Lookup does.
func TestLookupAllOverflow(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	there := FiveTuple{Proto: "tcp", Local: c.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort()}
	var fts []FiveTuple
	for i := range 150 {
		ft := there
		if i%3 != 0 {
			ft.Remote = netip.AddrPortFrom(ft.Remote.Addr(), uint16(1+i)) // gone
		}
		fts = append(fts, ft)
	}
	d, err := OpenDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The smallest receive buffer the kernel allows: a few answers.
	if err := unix.SetsockoptInt(d.sock.GetFd(), unix.SOL_SOCKET, unix.SO_RCVBUF, 1); err != nil {
		t.Fatal(err)
	}
	into := make([]Answer, len(fts))
	if err := d.LookupAll(fts, into); err != nil {
		t.Fatal(err)
	}
	if d.seq <= uint32(len(fts)) {
		t.Fatalf("%d questions numbered for %d tuples: none asked again, so the buffer held every answer and this test tests nothing", d.seq, len(fts))
	}
	for i, a := range into {
		switch {
		case i%3 == 0 && (a.Err != nil || a.Socket.State != Established || a.Socket.Local != there.Local):
			t.Errorf("%d: %+v, %v; want the ESTABLISHED socket", i, a.Socket, a.Err)
		case i%3 != 0 && !errors.Is(a.Err, ErrNotFound):
			t.Errorf("%d: %+v, %v; want ErrNotFound", i, a.Socket, a.Err)
		}
	}
}
