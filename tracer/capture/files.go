package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Limits ReadFile enforces so that a damaged or hostile file cannot make it
// use unbounded memory.
const (
	// MaxFilePackets is the most packets ReadFile returns.
	MaxFilePackets = 1_000_000
	// MaxFileBytes is the most packet bytes (sum of captured lengths)
	// ReadFile returns.
	MaxFileBytes = 1 << 30
	// MaxRecordLen is the largest captured length of one packet ReadFile
	// accepts (libpcap's own limit).
	MaxRecordLen = DefaultSnaplen
	// maxBlockLen is the largest pcapng block accepted: a packet of
	// MaxRecordLen plus room for options.
	maxBlockLen = MaxRecordLen + 1<<20
)

// The limits in force; tests lower them.
var (
	fileLimitPackets = MaxFilePackets
	fileLimitBytes   = MaxFileBytes
)

// ErrTruncated is matched by ReadFile's error when the file ends in the
// middle of a packet or block (cut short by a copy, or written by a program
// killed in the middle of a write).
var ErrTruncated = errors.New("file truncated")

// FileWriter writes packets to a pcapng file that tshark, Wireshark and
// tcpdump read. Write buffers the packets, as tcpdump -w does, and
// writes them out whole, 64 KiB or so at a time (the buffer has room for
// the largest packet besides): the file on disk always ends with a whole
// packet. Flush writes out what is buffered. After
// Flush or Close returns, the file on disk holds every packet written
// so far. A capture calls Flush
// after each batch of packets it hands over, and before a Sync returns,
// when given it as Config.Flush: the file then lags the capture by one
// batch at most (a few milliseconds of packets), instead of
// costing a write system call per packet. Its methods are safe for
// concurrent use.
type FileWriter struct {
	mu     sync.Mutex
	path   string
	f      io.Closer // the file NewFileWriter opened; nil for NewWriter's
	w      *pcapgo.NgWriter
	buf    *bufio.Writer    // w's buffer
	ifaces map[ifaceKey]int // pcapng interface index per interface and link type
	closed bool
}

// A FileWriter writes out what it buffered once a block would take it
// past writeOut bytes; its buffer, writeBuffer bytes, has room for the
// largest block (an enhanced packet block of MaxRecordLen bytes of data)
// besides, so that no block ever goes out in two pieces.
const (
	writeOut    = 64 << 10
	writeBuffer = writeOut + 32 + MaxRecordLen + 3
)

// NewFileWriter creates (or truncates) the file at path with mode 0600 and
// writes the pcapng section header and an interface description for
// linkType (layers.LinkTypeEthernet for captures on lo). Packets of another
// link type get their own interface description when first written.
// A program writing a file its user named uses NewWriter on a
// tracer/outfile.File instead, which never truncates what is there.
func NewFileWriter(path string, linkType layers.LinkType) (*FileWriter, error) {
	if linkType == LinkTypeLinuxSLL2 {
		return nil, fmt.Errorf("capture: create %s: cannot write Linux SLL2 packets (gopacket v1.1.19 writes link types as 8 bits)", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("capture: create %s: %w", path, err)
	}
	// The mode given to OpenFile applies only to a new file.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: create %s: %w", path, err)
	}
	w, err := NewWriter(f, path, linkType)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.f = f
	return w, nil
}

// NewWriter is NewFileWriter writing to out, a file the caller opened
// (such as a tracer/outfile.File, which puts the file in place once
// complete); name names it in errors. The file's header is written out
// at once, the packets by Flush (see [FileWriter]). Close flushes, and
// leaves out open.
func NewWriter(out io.Writer, name string, linkType layers.LinkType) (*FileWriter, error) {
	if linkType == LinkTypeLinuxSLL2 {
		return nil, fmt.Errorf("capture: create %s: cannot write Linux SLL2 packets (gopacket v1.1.19 writes link types as 8 bits)", name)
	}
	// The NgWriter buffers in a bufio.Writer of its own, of 4 KiB; given
	// one at least that large, it uses it instead.
	buf := bufio.NewWriterSize(out, writeBuffer)
	w, err := pcapgo.NewNgWriterInterface(buf, ngInterface(linkType), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "tcptour"},
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("capture: create %s: %w", name, err)
	}
	return &FileWriter{path: name, w: w, buf: buf, ifaces: map[ifaceKey]int{{"", linkType}: 0}}, nil
}

// ifaceKey names an interface of the file: Packet.Interface, and the
// link type.
type ifaceKey struct {
	name string
	lt   layers.LinkType
}

func ngInterface(lt layers.LinkType) pcapgo.NgInterface { return ngNamed("tcptour", lt) }

func ngNamed(name string, lt layers.LinkType) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                name,
		LinkType:            lt,
		SnapLength:          DefaultSnaplen,
		TimestampResolution: 9,
	}
}

// Write appends p to the file; Flush writes it out. The packet's
// timestamp is p.Time (or p.Info.Timestamp if Time is zero).
// A packet of another link type, or of a named interface
// (p.Interface), gets its own interface description when first
// written: a capture of two interfaces is one file, as dumpcap writes.
func (w *FileWriter) Write(p Packet) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("capture: write %s: %w", w.path, os.ErrClosed)
	}
	if len(p.Data) > MaxRecordLen {
		return fmt.Errorf("capture: write %s: packet of %d bytes is longer than %d", w.path, len(p.Data), MaxRecordLen)
	}
	key := ifaceKey{p.Interface, p.LinkType}
	idx, ok := w.ifaces[key]
	if !ok {
		if p.LinkType == LinkTypeLinuxSLL2 {
			return fmt.Errorf("capture: write %s: cannot write Linux SLL2 packets", w.path)
		}
		ni := ngInterface(p.LinkType)
		if p.Interface != "" {
			ni = ngNamed(p.Interface, p.LinkType)
		}
		// An interface description: the name, and 64 bytes more.
		if err := w.room(len(ni.Name) + 64); err != nil {
			return fmt.Errorf("capture: write %s: %w", w.path, err)
		}
		var err error
		if idx, err = w.w.AddInterface(ni); err != nil {
			return fmt.Errorf("capture: write %s: %w", w.path, err)
		}
		w.ifaces[key] = idx
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      p.Time,
		CaptureLength:  len(p.Data),
		Length:         max(p.Info.Length, len(p.Data)),
		InterfaceIndex: idx,
	}
	if ci.Timestamp.IsZero() {
		ci.Timestamp = p.Info.Timestamp
	}
	// An enhanced packet block: 32 bytes, the data, padding to 4 bytes.
	if err := w.room(32 + len(p.Data) + 3); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.path, err)
	}
	if err := w.w.WritePacket(ci, p.Data); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.path, err)
	}
	return nil
}

// room writes out what is buffered if a block of n bytes would take it
// past writeOut: the file on disk always ends with a whole block, and
// the block then fits in the buffer whatever its size.
func (w *FileWriter) room(n int) error {
	if b := w.buf.Buffered(); b == 0 || b+n <= writeOut {
		return nil
	}
	return w.w.Flush()
}

// Flush writes out the packets written so far: the file on disk is then
// complete, with every one of them. A capture's Config.Flush calls it
// after each batch of packets it hands over.
func (w *FileWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("capture: write %s: %w", w.path, os.ErrClosed)
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.path, err)
	}
	return nil
}

// Close flushes and closes the file (NewWriter's is left open). Calling
// it again returns nil.
func (w *FileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.w.Flush()
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("capture: close %s: %w", w.path, err)
	}
	return nil
}

// File magic numbers.
const (
	magicPcapUsec = 0xa1b2c3d4
	magicPcapNsec = 0xa1b23c4d
	magicPcapng   = 0x0a0d0d0a // the section header block type
)

// ReadFile reads a whole pcap or pcapng file into memory, as OpenFile
// and Next would (gzip-compressed or not; "-" for standard input). On
// error it returns the packets read before the problem with Next's
// error, saying what and where: a file cut short matches ErrTruncated
// and names the packet that is incomplete. Because it keeps every
// packet, it stops with an error after MaxFilePackets packets or
// MaxFileBytes bytes of packets; use OpenFile to read a file of any
// length.
func ReadFile(path string) ([]Packet, error) {
	r, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.readAll()
}

// readCapture is ReadFile on an io.Reader, with errors that do not name
// a file.
func readCapture(in io.Reader) ([]Packet, error) {
	r, err := newFileReader(in, "input")
	if err != nil {
		return nil, err
	}
	return r.readAll()
}

// readAll reads the rest of the file within ReadFile's limits.
func (r *FileReader) readAll() ([]Packet, error) {
	var pkts []Packet
	bytes := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return pkts, err
		}
		if len(pkts) >= fileLimitPackets {
			return pkts, fmt.Errorf("capture: read %s: more than %d packets; ReadFile stops there", r.name, fileLimitPackets)
		}
		if bytes+len(p.Data) > fileLimitBytes {
			return pkts, fmt.Errorf("capture: read %s: more than %d bytes of packets; ReadFile stops there", r.name, fileLimitBytes)
		}
		bytes += len(p.Data)
		pkts = append(pkts, p)
	}
}

// checkLinkType maps a file's link type (16 bits in the file) to
// gopacket's 8-bit layers.LinkType.
func checkLinkType(lt uint32) (layers.LinkType, error) {
	switch {
	case lt == 276:
		return LinkTypeLinuxSLL2, nil
	case lt > 255:
		return 0, fmt.Errorf("link type %d not supported", lt)
	}
	return layers.LinkType(lt), nil
}

// pcapng block types.
const (
	ngInterfaceDesc  = 1
	ngPacketObsolete = 2
	ngSimplePacket   = 3
	ngInterfaceStats = 5
	ngEnhancedPacket = 6
	ngByteOrderMagic = 0x1a2b3c4d
)
