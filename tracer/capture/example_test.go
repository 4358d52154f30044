package capture_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/google/gopacket/layers"

	"tcptour/tracer/capture"
)

// Capture one connection on lo, wait until every packet has been read,
// print each segment and save them for tshark.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	var mu sync.Mutex
	var pkts []capture.Packet
	c, err := capture.Open(capture.Config{
		TCPPorts: []uint16{port},
		Handler: func(p capture.Packet) {
			mu.Lock()
			pkts = append(pkts, p)
			mu.Unlock()
		},
	})
	if errors.Is(err, capture.ErrPermission) {
		fmt.Println("no packets: capture needs root or CAP_NET_RAW")
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}

	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Close()
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Sync(ctx); err != nil { // every packet sent so far is in pkts
		fmt.Println(err)
	}
	stats, err := c.Close()
	if err != nil || stats.KernelDrops > 0 {
		fmt.Println("capture incomplete:", err, stats.KernelDrops)
	}

	w, err := capture.NewFileWriter("trace.pcapng", layers.LinkTypeEthernet)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range pkts {
		d, err := capture.Decode(p)
		if err == nil && d.TCP != nil {
			fmt.Println(d.Time.Format("15:04:05.000000"), d.Src, "→", d.Dst, d.TCP.Flags, "len", d.TCP.PayloadLen)
		}
		if err := w.Write(p); err != nil {
			fmt.Println(err)
		}
	}
}
