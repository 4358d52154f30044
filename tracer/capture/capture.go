package capture

import (
	"errors"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// DefaultInterface is the interface captured when Config.Interface is empty.
const DefaultInterface = "lo"

// DefaultSnaplen is the snapshot length used when Config.Snaplen is 0. It is
// libpcap's maximum (MAXIMUM_SNAPLEN), enough for a whole 64 KiB loopback
// segment.
const DefaultSnaplen = 262144

// MaxPorts is the largest number of ports accepted in each of
// Config.TCPPorts and Config.UDPPorts. It keeps the kernel filter small.
const MaxPorts = 64

// ErrPermission is matched (with errors.Is) by the error Open returns when
// the process may not open a packet socket: it needs root or CAP_NET_RAW.
var ErrPermission = errors.New("capture needs root or CAP_NET_RAW")

// ErrUnsupported is matched by the error Open returns on systems other than
// Linux, and by the error Sync returns on interfaces other than loopback.
var ErrUnsupported = errors.New("not supported")

// ErrClosed is returned by methods called after Close, and by a Sync that
// was waiting when Close was called.
var ErrClosed = errors.New("capture: closed")

// Config says what to capture. The zero value captures nothing but is valid
// (Interface "lo", no ports); use SetPorts to choose ports later.
type Config struct {
	// Interface is the name of the interface to capture on; "" means "lo".
	// Only interfaces with Ethernet framing (loopback and Ethernet) are
	// supported.
	Interface string

	// MarkerTo is, on an Ethernet interface, where Sync sends its
	// markers: an IPv4 address routed out through the interface, with
	// a permanent neighbour entry (so no ARP), whose frames nobody
	// takes in (a tracer/link drops them). Without it Sync works on
	// loopback only. On an Ethernet interface the capture keeps the
	// frames the interface sends as well as those it receives.
	MarkerTo netip.Addr

	// TCPPorts keeps TCP segments (IPv4 or IPv6) whose source or
	// destination port is in this set.
	TCPPorts []uint16

	// UDPPorts keeps UDP datagrams (IPv4 or IPv6) whose source or
	// destination port is in this set, for example the lab DNS server.
	UDPPorts []uint16

	// Snaplen is the most bytes kept of each frame; 0 means DefaultSnaplen.
	// Longer frames are truncated and counted in Stats.Truncated.
	Snaplen int

	// Handler is called for each captured packet, from the capture's own
	// goroutine, one at a time, in the order the packets were read. It may
	// keep Packet.Data. While it runs no other packet is read, so a slow
	// Handler makes the kernel's ring fill (and eventually drop, counted in
	// Stats.KernelDrops). It must not call Sync or Close (they wait for
	// the goroutine it runs on). A nil Handler discards packets (they are
	// still counted).
	Handler func(Packet)

	// Flush, when set, is called from the capture's goroutine, as
	// Handler is, each time the Handler has been given the packets of
	// a batch (the frames the capture reads at once: those the kernel
	// handed over since it last read, a few milliseconds' worth under
	// load), and before a Sync returns. A Handler that
	// buffers what it writes writes it out there, as a FileWriter's
	// Flush does: its file then lags the capture by one batch at most,
	// holds every packet once Sync returns, and costs one write system
	// call per batch rather than per packet. It must not call Sync or
	// Close either.
	Flush func()
}

// Packet is one captured frame.
type Packet struct {
	// Time is the kernel's receive timestamp for the frame, from the
	// capture's ring (TPACKET_V3): the time the frame arrived, or the
	// time the kernel wrote it to the ring on its receive path, a few µs
	// later. It is not the time the capture read it, so it sorts
	// correctly against time.Now() values taken by the program that
	// caused the packet. (If the kernel gave no timestamp, which
	// Stats.Unstamped counts, it is the time the frame was read.)
	Time time.Time

	// Data is the frame as captured, starting with its link-layer header
	// (Ethernet on lo). It is owned by the receiver.
	Data []byte

	// Info is the capture metadata in the form gopacket's writers expect:
	// Timestamp equals Time, CaptureLength is len(Data), Length is the
	// frame's length on the wire (larger than CaptureLength if truncated).
	Info gopacket.CaptureInfo

	// LinkType says how to decode Data (layers.LinkTypeEthernet for live
	// captures on lo).
	LinkType layers.LinkType

	// Interface names, in a file with more than one, the interface the
	// packet was captured on (as a FileWriter writes it, and as the
	// pcapng file names it, or "interface N" if it names none); "" for
	// a capture's only one. A FileReader sets it once the file has
	// described a second interface (in practice, from the first packet:
	// dumpcap describes all interfaces first). In a file read with
	// OpenFile, Info.InterfaceIndex indexes FileReader.Interfaces.
	Interface string

	// Comment is the packet's comment in a pcapng file (its opt_comment
	// options, joined by newlines), "" if none.
	Comment string
}

// Stats are a capture's counters, cumulative since Open.
type Stats struct {
	// Packets is the kernel's count of frames that passed the filter
	// (PACKET_STATISTICS tp_packets). It includes frames the kernel then
	// dropped and the capture's own Sync markers.
	Packets uint64

	// KernelDrops is the kernel's count of frames that passed the filter
	// but were dropped because the capture's ring was full
	// (PACKET_STATISTICS tp_drops). Non-zero means the capture is missing
	// packets.
	KernelDrops uint64

	// Delivered is the number of packets passed to Handler.
	Delivered uint64

	// Markers is the number of Sync marker datagrams read and consumed
	// (never passed to Handler), including those Open sends to check that
	// the kernel stamps frames as they arrive.
	Markers uint64

	// Truncated is the number of delivered packets whose Data is shorter
	// than the frame on the wire (longer than Snaplen, or than a block of
	// the capture's ring, 128 KiB).
	Truncated uint64

	// Unstamped is the number of delivered packets the kernel gave no
	// receive timestamp; their Time is when they were read. It should be
	// zero: the kernel stamps every frame it writes to the ring.
	Unstamped uint64
}

// Add adds the counts of o to s: the stats of two captures together.
func (s *Stats) Add(o Stats) {
	s.Packets += o.Packets
	s.KernelDrops += o.KernelDrops
	s.Delivered += o.Delivered
	s.Markers += o.Markers
	s.Truncated += o.Truncated
	s.Unstamped += o.Unstamped
}
