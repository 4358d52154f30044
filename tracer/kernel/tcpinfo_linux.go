//go:build linux

package kernel

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TCPInfo reads the TCP_INFO of c's socket with getsockopt, as `ss -ti`
// shows it. c is a *net.TCPConn or a connection that wraps one and has
// a NetConn method returning it, as the tracer's connections do. It
// works until c is closed: a socket the program has let go of can still
// be read with [Lookup], whose answer holds its TCP_INFO.
func TCPInfo(c net.Conn) (*Info, error) {
	sc, err := syscallConn(c)
	if err != nil {
		return nil, err
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("kernel: TCP_INFO: %w", err)
	}
	var ti *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) {
		ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return nil, fmt.Errorf("kernel: TCP_INFO: %w", err)
	}
	if serr != nil {
		return nil, fmt.Errorf("kernel: TCP_INFO: %w", serr)
	}
	return newInfo(ti), nil
}

// TCPInfoFD reads the TCP_INFO of the socket fd into i, without
// allocating: for a program that already holds the descriptor, inside
// syscall.RawConn's Control, as the tracer's connections do at each of
// their events.
func TCPInfoFD(fd uintptr, i *Info) error {
	// A kernel whose struct tcp_info is shorter than unix.TCPInfo
	// writes fewer than n bytes: the fields it lacks (TotalRTO before
	// Linux 6.7) stay 0.
	var ti unix.TCPInfo
	n := uint32(unsafe.Sizeof(ti))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return fmt.Errorf("kernel: TCP_INFO: %w", errno)
	}
	fill(i, &ti)
	return nil
}

// parseTCPInfo reads a struct tcp_info as the kernel wrote it, in the
// machine's own layout (padding included), as getsockopt would have
// filled it. An older kernel writes a shorter struct: the fields it
// lacks stay 0; a newer one a longer struct, cut here.
func parseTCPInfo(b []byte) *Info {
	var ti unix.TCPInfo
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti)), b)
	return newInfo(&ti)
}

func newInfo(ti *unix.TCPInfo) *Info {
	i := new(Info)
	fill(i, ti)
	return i
}

// fill sets i from the kernel's struct tcp_info.
func fill(i *Info, ti *unix.TCPInfo) {
	us := func(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }
	*i = Info{
		State:         State(ti.State),
		RTT:           us(ti.Rtt),
		RTTVar:        us(ti.Rttvar),
		RTO:           us(ti.Rto),
		SndCwnd:       ti.Snd_cwnd,
		SndMSS:        ti.Snd_mss,
		RcvMSS:        ti.Rcv_mss,
		Unacked:       ti.Unacked,
		Retransmits:   ti.Retransmits,
		Retrans:       ti.Retrans,
		TotalRetrans:  ti.Total_retrans,
		SndWnd:        ti.Snd_wnd,
		Probes:        ti.Probes,
		Backoff:       ti.Backoff,
		BytesAcked:    ti.Bytes_acked,
		BytesReceived: ti.Bytes_received,

		CAState:            CAState(ti.Ca_state),
		SndSsthresh:        ti.Snd_ssthresh,
		TotalRTO:           ti.Total_rto,
		TotalRTORecoveries: ti.Total_rto_recoveries,
		TotalRTOTime:       time.Duration(ti.Total_rto_time) * time.Millisecond,
		Lost:               ti.Lost,
		Sacked:             ti.Sacked,
		ReordSeen:          ti.Reord_seen,
		DSACKDups:          ti.Dsack_dups,
		RcvOOOPack:         ti.Rcv_ooopack,
		SegsOut:            ti.Segs_out,
		SegsIn:             ti.Segs_in,
		DataSegsOut:        ti.Data_segs_out,
		DataSegsIn:         ti.Data_segs_in,
		BytesSent:          ti.Bytes_sent,
		BytesRetrans:       ti.Bytes_retrans,
		NotsentBytes:       ti.Notsent_bytes,
		RcvWnd:             ti.Rcv_wnd,
		MinRTT:             us(ti.Min_rtt),
		DeliveryRate:       ti.Delivery_rate,
	}
}
