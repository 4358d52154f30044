//go:build linux

package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
)

// TestRingManyBlocks sends datagrams of many sizes, small ones and some of
// 60 KB, enough to fill the receive ring several times over: every one is
// handed over once, in order, whole, with its own Data (appending to one
// never changes the next), and with nothing dropped.
func TestRingManyBlocks(t *testing.T) {
	in, out, port := udpPair(t)
	var rec recorder
	c := openOrSkip(t, Config{UDPPorts: []uint16{port}, Handler: rec.handle})
	const n = 3000
	size := func(i int) int {
		if i%100 == 7 {
			return 60000
		}
		return 8 + i%700
	}
	buf := make([]byte, 65536)
	sent := 0
	for i := range n {
		msg := make([]byte, size(i))
		binary.BigEndian.PutUint64(msg, uint64(i))
		for j := 8; j < len(msg); j++ {
			msg[j] = byte(i + j)
		}
		if _, err := out.WriteTo(msg, in.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		sent += len(msg)
		if _, _, err := in.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
	syncCtx(t, c)
	pkts := rec.snapshot()
	if len(pkts) != n {
		t.Fatalf("%d packets handed over, want %d", len(pkts), n)
	}
	const hdr = 14 + 20 + 8 // Ethernet, IPv4, UDP
	for i, p := range pkts {
		if len(p.Data) != hdr+size(i) || p.Info.CaptureLength != len(p.Data) || p.Info.Length != len(p.Data) {
			t.Fatalf("packet %d: %d bytes (info %d/%d), want %d", i, len(p.Data), p.Info.CaptureLength, p.Info.Length, hdr+size(i))
		}
		payload := p.Data[hdr:]
		if got := binary.BigEndian.Uint64(payload); got != uint64(i) {
			t.Fatalf("packet %d carries datagram %d: out of order", i, got)
		}
		for j := 8; j < len(payload); j++ {
			if payload[j] != byte(i+j) {
				t.Fatalf("packet %d: byte %d is %d, want %d", i, j, payload[j], byte(i+j))
			}
		}
		if cap(p.Data) != len(p.Data) {
			t.Fatalf("packet %d: cap %d > len %d: an append would write over the next packet", i, cap(p.Data), len(p.Data))
		}
	}
	// The handler owns Data: changing one packet changes no other.
	next := bytes.Clone(pkts[1].Data)
	_ = append(pkts[0].Data, 0xff, 0xff)
	pkts[0].Data[len(pkts[0].Data)-1] ^= 0xff
	if !bytes.Equal(pkts[1].Data, next) {
		t.Fatal("changing packet 0 changed packet 1")
	}
	stats, err := c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if stats.KernelDrops != 0 || stats.Delivered != n || stats.Truncated != 0 || stats.Unstamped != 0 {
		t.Errorf("stats %+v after %d datagrams (%d bytes)", stats, n, sent)
	}
}

// TestCloseAfterRingFull blocks the Handler until the ring is full and the
// kernel drops, then Closes: Close hands over every frame the ring holds,
// counts the drops, and does not wait for a block the kernel never
// reopened.
func TestCloseAfterRingFull(t *testing.T) {
	in, out, port := udpPair(t)
	gate := make(chan struct{})
	var once sync.Once
	var rec recorder
	c := openOrSkip(t, Config{UDPPorts: []uint16{port}, Handler: func(p Packet) {
		once.Do(func() { <-gate })
		rec.handle(p)
	}})
	msg := make([]byte, 1000)
	sent := 0
	for deadline := time.Now().Add(10 * time.Second); ; sent++ {
		if _, err := out.WriteTo(msg, in.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if sent%200 == 0 {
			if s, _ := c.Stats(); s.KernelDrops > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no drop after %d datagrams", sent)
			}
		}
	}
	sent++
	c.testHookClosing = func() { close(gate) }
	t0 := time.Now()
	stats, err := c.Close()
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	got := len(rec.snapshot())
	t.Logf("sent %d, handed over %d, dropped %d; Close took %v", sent, got, stats.KernelDrops, took)
	if uint64(got) != stats.Delivered || stats.Delivered+stats.KernelDrops != uint64(sent) {
		t.Errorf("sent %d: %d delivered + %d dropped (handler saw %d)", sent, stats.Delivered, stats.KernelDrops, got)
	}
	// Had Close waited for a block the kernel never reopened, it would
	// have given up after ringCloseWait with an error (drain's); the
	// time it took is logged, not judged: on a loaded machine, handing
	// thousands of frames to the handler takes what it takes.
}

// TestFlushWritesTheFile captures datagrams into a FileWriter, as a
// lesson's --pcap: Config.Flush is called after the batches the capture
// hands over, and before Sync returns, so that the file then holds
// every packet sent before Sync, as the Handler was given it, without
// Close, even while more packets keep the capture busy.
func TestFlushWritesTheFile(t *testing.T) {
	in, out, port := udpPair(t)
	path := filepath.Join(t.TempDir(), "live.pcapng")
	w, err := NewFileWriter(path, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var rec recorder
	var mu sync.Mutex
	var werr error
	c := openOrSkip(t, Config{UDPPorts: []uint16{port},
		Handler: func(p Packet) {
			rec.handle(p)
			mu.Lock()
			defer mu.Unlock()
			if werr == nil {
				werr = w.Write(p)
			}
		},
		Flush: func() {
			mu.Lock()
			defer mu.Unlock()
			if werr == nil {
				werr = w.Flush()
			}
		},
	})
	// hasAll reports whether the file holds every packet handed over so
	// far whose payload begins with tag, as it was handed over.
	hasAll := func(tag string) (in, want int) {
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inFile := map[string]bool{}
		for _, p := range got {
			inFile[string(p.Data)+p.Time.String()] = true
		}
		for _, p := range rec.snapshot() {
			if bytes.HasPrefix(p.Data[14+20+8:], []byte(tag)) {
				want++
				if inFile[string(p.Data)+p.Time.String()] {
					in++
				}
			}
		}
		return in, want
	}
	for round := range 3 {
		tag := fmt.Sprintf("round %d", round)
		sendQueued(t, in, out, 200, tag)
		// More datagrams, sent while Sync waits, behind its markers.
		var busy sync.WaitGroup
		busy.Go(func() {
			for i := range 2000 {
				// NOTE: ignoring the error; the capture may see them or not.
				_, _ = out.WriteTo(fmt.Appendf(nil, "busy-%d", i), in.LocalAddr())
			}
		})
		syncCtx(t, c)
		n, want := hasAll(tag)
		busy.Wait()
		if want != 200 || n != want {
			t.Fatalf("%s: after Sync the file holds %d of the %d packets handed over (of 200 sent before Sync)", tag, n, want)
		}
		syncCtx(t, c)
		mu.Lock()
		err := werr
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Everything, in order, once the capture has caught up.
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, got, rec.snapshot())
}
