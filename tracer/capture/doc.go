// Package capture records the packets of a lesson's connections on the
// loopback interface, in pure Go (no cgo, no libpcap), and reads, writes and
// decodes them.
//
// A capture is an AF_PACKET socket (github.com/mdlayher/packet) with a
// classic BPF program in the kernel that keeps only TCP segments and UDP
// datagrams (IPv4 or IPv6) with a port in the caller's sets, and drops the
// outgoing copy that lo hands every packet socket, so each packet appears
// once, as tcpdump -i lo shows it. (On lo it also asks the kernel not to
// hand it those copies at all, PACKET_IGNORE_OUTGOING, which spares every
// program that sends a clone of each frame; the filter still drops them
// where the kernel lacks the option.) Nothing else on the machine is recorded.
// The kernel writes the frames into a ring of memory shared with the
// process (TPACKET_V3, as libpcap does), a block of frames at a time, so
// reading costs no system call per frame. Each packet carries the kernel's
// receive timestamp from the ring, which is on the same clock as time.Now,
// so packets and application events sort together.
//
// Capture needs root or CAP_NET_RAW; without it Open returns an error that
// matches ErrPermission, and a lesson can say so in one line and go on.
// Capture works on Linux only; elsewhere Open returns an error matching
// ErrUnsupported.
//
// # Knowing the capture has caught up
//
// Packets reach the Handler a little after they are sent. Before printing a
// step, a lesson calls Sync, which returns once every packet sent before it
// was called has been handed to the Handler. On loopback Sync has a small
// UDP marker datagram sent to the capture's own port from every CPU the
// process may run on, at once, by a thread pinned to each, and waits for the
// reader to see all of them (loopback queues each packet on the sending
// CPU's backlog, in order; see Capture.Sync). Markers are never passed to
// the Handler.
//
// # Example
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	port := uint16(ln.Addr().(*net.TCPAddr).Port)
//
//	var mu sync.Mutex
//	var pkts []capture.Packet
//	c, err := capture.Open(capture.Config{
//		TCPPorts: []uint16{port},
//		Handler: func(p capture.Packet) {
//			mu.Lock()
//			pkts = append(pkts, p)
//			mu.Unlock()
//		},
//	})
//	if errors.Is(err, capture.ErrPermission) {
//		fmt.Println("no packets: capture needs root or CAP_NET_RAW (try sudo)")
//	} else if err != nil {
//		return err
//	}
//
//	// ... dial port, talk, close ...
//
//	if c != nil {
//		_ = c.Sync(ctx) // every packet of the step is now in pkts
//		stats, err := c.Close()
//		_ = stats // stats.KernelDrops > 0 means packets were lost
//		_ = err
//	}
//	w, _ := capture.NewFileWriter("trace.pcapng", layers.LinkTypeEthernet)
//	mu.Lock()
//	for _, p := range pkts {
//		d, _ := capture.Decode(p)
//		if d.TCP != nil {
//			fmt.Println(d.Src, "→", d.Dst, d.TCP.Flags, "len", d.TCP.PayloadLen)
//		}
//		_ = w.Write(p)
//	}
//	mu.Unlock()
//	_ = w.Close() // tshark -r trace.pcapng
//
// Files: FileWriter writes pcapng that tshark and Wireshark open,
// buffered: complete after Flush and Close (a capture given the
// FileWriter's Flush as Config.Flush calls it after each batch of
// packets and before a Sync returns). OpenFile reads pcap or pcapng (for example from
// tcpdump -i any -w, or dumpcap with several interfaces and comments),
// gzip-compressed or not, from a file or standard input ("-"), one packet
// at a time with Next, in memory that does not grow with the file (a
// packet costs one allocation, its Data):
//
//	r, err := capture.OpenFile("trace.pcapng")
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	for {
//		p, err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		if err != nil {
//			return err // the packets before the damage were read
//		}
//		_ = p // p.Interface, p.Comment; r.Interfaces(), r.Comments()
//	}
//
// ReadFile reads a whole file into memory, up to MaxFilePackets.
//
// Decoding: Decode summarises a packet: addresses and ports, TCP flags,
// sequence numbers, window, options, payload length, and DNS questions
// and answers (over UDP, and over TCP when a segment carries whole
// messages). It decodes what a snapshot length left (a TCP header whose
// options were cut: Decoded.Cut, TCPSegment.OptionsCut), and says in
// Decoded.Skip, a stable phrase, why a packet has no TCP or UDP to show
// ("not IP (ARP)", "link type USB_LINUX (189) not supported", "cut by
// the snapshot length within the TCP header", ...; SkipReason lists
// them), so that a tool can count what it left out per reason. A
// Decoder does the same and puts IP fragments back together (a DNS
// answer too large for the link):
//
//	dc := capture.NewDecoder()
//	skipped := map[string]int{}
//	for each packet p {
//		d, _ := dc.Decode(p)
//		if d.Skip != "" {
//			skipped[d.Skip]++ // including fragments held for reassembly
//			continue
//		}
//		// d.TCP or d.UDP, d.DNS, d.Fragments
//	}
package capture
