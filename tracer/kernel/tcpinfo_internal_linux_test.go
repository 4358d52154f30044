//go:build linux

package kernel

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A kernel older than 6.7 writes a struct tcp_info that ends before
// tcpi_total_rto: what it lacks reads as 0, whatever lies beyond in the
// buffer.
func TestParseTCPInfoShort(t *testing.T) {
	var ti unix.TCPInfo
	ti.Snd_cwnd, ti.Snd_ssthresh, ti.Total_rto, ti.Total_rto_recoveries, ti.Total_rto_time = 10, 7, 3, 2, 400
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti))
	if i := parseTCPInfo(b); i.SndCwnd != 10 || i.SndSsthresh != 7 || i.TotalRTO != 3 || i.TotalRTORecoveries != 2 || i.TotalRTOTime.Milliseconds() != 400 {
		t.Errorf("full struct: %+v", i)
	}
	i := parseTCPInfo(b[:unsafe.Offsetof(ti.Total_rto)])
	if i.SndCwnd != 10 || i.SndSsthresh != 7 || i.TotalRTO != 0 || i.TotalRTORecoveries != 0 || i.TotalRTOTime != 0 {
		t.Errorf("struct cut before tcpi_total_rto: %+v, want cwnd 10, ssthresh 7 and no timeouts", i)
	}
}
