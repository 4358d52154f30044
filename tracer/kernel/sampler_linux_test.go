//go:build linux

package kernel_test

import (
	"io"
	"net"
	"testing"
	"time"

	"tcptour/tracer"
	"tcptour/tracer/kernel"
)

// A sampler follows the sender's TCP_INFO through a transfer of a few
// MB: from nothing acknowledged but the SYN to everything.
func TestSampler(t *testing.T) {
	const size = 4 << 20
	for _, interval := range []time.Duration{0, time.Millisecond} {
		client, server := pair(t, "tcp4", "127.0.0.1:0")
		// Through the tracer's wrapper, as a lesson holds it.
		s, err := kernel.StartSampler(tracer.WrapConn(client, nil), interval)
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan error, 1)
		go func() {
			_, err := io.CopyN(io.Discard, server, size)
			read <- err
		}()
		_, werr := client.Write(make([]byte, size))
		rerr := <-read
		if werr != nil || rerr != nil {
			s.Stop()
			t.Fatal(werr, rerr)
		}
		if _, err := kernel.Wait(wait(t), tuple(client), "all acknowledged", func(s kernel.Socket) bool { return s.SendQ == 0 }); err != nil {
			s.Stop()
			t.Fatal(err)
		}
		samples, err := s.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if len(samples) < 2 {
			t.Fatalf("interval %s: %d samples, want the first and the last at least", interval, len(samples))
		}
		first, last := samples[0].Info, samples[len(samples)-1].Info
		if first.BytesAcked != 1 || last.BytesAcked != size+1 {
			t.Errorf("interval %s: acknowledged %d bytes at first, %d at last; want 1 (the SYN) and %d", interval, first.BytesAcked, last.BytesAcked, size+1)
		}
		for k := 1; k < len(samples); k++ {
			a, b := samples[k-1], samples[k]
			if !b.Time.After(a.Time) {
				t.Errorf("interval %s: sample %d at %s, not after sample %d at %s", interval, k, b.Time, k-1, a.Time)
			}
			if b.Info.BytesAcked < a.Info.BytesAcked || b.Info.SegsOut < a.Info.SegsOut {
				t.Errorf("interval %s: sample %d went back: acked %d→%d, segments out %d→%d", interval, k,
					a.Info.BytesAcked, b.Info.BytesAcked, a.Info.SegsOut, b.Info.SegsOut)
			}
			if b.Info.State != kernel.Established {
				t.Errorf("interval %s: sample %d in %s", interval, k, b.Info.State)
			}
		}
		t.Logf("interval %s: %d samples over %s", interval, len(samples), samples[len(samples)-1].Time.Sub(samples[0].Time))
		// Stop again: the same.
		again, err := s.Stop()
		if err != nil || len(again) != len(samples) {
			t.Errorf("Stop again: %d samples, %v; want %d", len(again), err, len(samples))
		}
	}
}

// A connection closed before Stop ends the sampling, without an error.
func TestSamplerClosed(t *testing.T) {
	client, _ := pair(t, "tcp4", "127.0.0.1:0")
	s, err := kernel.StartSampler(client, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	samples, err := s.Stop()
	if err != nil || len(samples) == 0 || samples[0].Info.State != kernel.Established {
		t.Errorf("Stop after Close: %d samples, %v; want the first, no error", len(samples), err)
	}
}

func TestSamplerErrors(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := kernel.StartSampler(a, 0); err == nil {
		t.Error("StartSampler(net.Pipe) succeeded; a pipe has no socket")
	}
	client, _ := pair(t, "tcp4", "127.0.0.1:0")
	client.Close()
	if _, err := kernel.StartSampler(client, 0); err == nil {
		t.Error("StartSampler on a closed connection succeeded")
	}
}
