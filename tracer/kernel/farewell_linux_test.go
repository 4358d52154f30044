package kernel_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"tcptour/tracer/kernel"
)

// The kernel reports a socket it destroys, with its last TCP_INFO: here
// the server's end of a connection the client closed first, released at
// the ACK of the server's FIN, having received the client's 5 bytes and
// its FIN.
func TestFarewells(t *testing.T) {
	f, err := kernel.ListenFarewells()
	if errors.Is(err, kernel.ErrPermission) {
		t.Skipf("the kernel's reports of destroyed sockets need CAP_NET_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	client, server := pair(t, "tcp4", "127.0.0.1:0")
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	ft := kernel.FiveTuple{Proto: "tcp", Local: server.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: server.RemoteAddr().(*net.TCPAddr).AddrPort()}
	client.Close()
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server's Read after the client's FIN: no io.EOF")
	}
	server.Close()
	s, err := f.Wait(ft, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Local != ft.Local || s.Remote != ft.Remote || s.Info == nil || s.Info.BytesReceived != 6 {
		t.Errorf("reported %v with TCP_INFO %v, want %s having received 5 bytes and a FIN", s, s.Info, ft)
	}
	if _, err := f.Wait(kernel.FiveTuple{Proto: "tcp", Local: ft.Remote, Remote: ft.Local}, 10*time.Millisecond); err == nil {
		t.Error("the client's socket, in TIME_WAIT, was reported destroyed")
	}
}
