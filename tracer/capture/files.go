package capture

import (
	"bufio"
	"encoding/binary"
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
// tcpdump read. After each Write returns, the file on disk is complete and
// readable (every block is written out, not buffered), so a program stopped
// by Ctrl-C right after a Write leaves a valid file. Its methods are safe
// for concurrent use.
type FileWriter struct {
	mu     sync.Mutex
	path   string
	f      io.Closer // the file NewFileWriter opened; nil for NewWriter's
	w      *pcapgo.NgWriter
	ifaces map[ifaceKey]int // pcapng interface index per interface and link type
	closed bool
}

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
// complete); name names it in errors. Each Write writes its packet out
// to out at once. Close flushes, and leaves out open.
func NewWriter(out io.Writer, name string, linkType layers.LinkType) (*FileWriter, error) {
	if linkType == LinkTypeLinuxSLL2 {
		return nil, fmt.Errorf("capture: create %s: cannot write Linux SLL2 packets (gopacket v1.1.19 writes link types as 8 bits)", name)
	}
	w, err := pcapgo.NewNgWriterInterface(out, ngInterface(linkType), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "tcptour"},
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("capture: create %s: %w", name, err)
	}
	return &FileWriter{path: name, w: w, ifaces: map[ifaceKey]int{{"", linkType}: 0}}, nil
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

// Write appends p to the file and writes it out before returning. The
// packet's timestamp is p.Time (or p.Info.Timestamp if Time is zero).
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
	if err := w.w.WritePacket(ci, p.Data); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.path, err)
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

// ReadFile reads a pcap or pcapng file (told apart by the magic number).
// On error it returns the packets read before the problem with an error
// saying what and where: a file cut short matches ErrTruncated and names
// the packet that is incomplete. It refuses packets longer than
// MaxRecordLen, pcapng blocks with impossible lengths, and files with more
// than MaxFilePackets packets or MaxFileBytes bytes of packets.
func ReadFile(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: read %s: %w", path, err)
	}
	defer f.Close()
	pkts, err := readCapture(f)
	if err != nil {
		return pkts, fmt.Errorf("capture: read %s: %w", path, err)
	}
	return pkts, nil
}

// readCapture is ReadFile on an io.Reader.
func readCapture(r io.Reader) ([]Packet, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil {
		switch {
		case err == io.EOF && len(head) == 0:
			return nil, errors.New("empty file, not a pcap or pcapng file")
		case err == io.EOF:
			return nil, fmt.Errorf("too short for a capture file: %w", ErrTruncated)
		}
		return nil, err // e.g. "is a directory"
	}
	switch le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head); {
	case le == magicPcapng:
		return readPcapng(br)
	case le == magicPcapUsec, le == magicPcapNsec, be == magicPcapUsec, be == magicPcapNsec:
		return readPcap(br)
	case head[0] == 0x1f && head[1] == 0x8b:
		return nil, errors.New("gzip-compressed file; decompress it first")
	}
	return nil, fmt.Errorf("not a pcap or pcapng file (starts with % x)", head)
}

// collector applies ReadFile's limits and shapes its errors.
type collector struct {
	pkts  []Packet
	bytes int
}

// add appends one packet, or returns why it cannot.
func (c *collector) add(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) error {
	if len(c.pkts) >= fileLimitPackets {
		return fmt.Errorf("more than %d packets; ReadFile stops there", fileLimitPackets)
	}
	if c.bytes+len(data) > fileLimitBytes {
		return fmt.Errorf("more than %d bytes of packets; ReadFile stops there", fileLimitBytes)
	}
	c.bytes += len(data)
	ci.AncillaryData = nil
	c.pkts = append(c.pkts, Packet{Time: ci.Timestamp, Data: data, Info: ci, LinkType: lt})
	return nil
}

// readErr turns a reader's error into ReadFile's: nil at a clean end.
func (c *collector) readErr(err error) error {
	n := len(c.pkts) + 1
	switch {
	case err == io.EOF:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTruncated):
		return fmt.Errorf("%w at packet %d (%d complete packets read)", ErrTruncated, n, n-1)
	}
	return fmt.Errorf("reading packet %d: %w", n, err)
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

func readPcap(br *bufio.Reader) ([]Packet, error) {
	hdr, err := br.Peek(24)
	if err != nil {
		return nil, fmt.Errorf("pcap header: %w", ErrTruncated)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if m := binary.BigEndian.Uint32(hdr[0:4]); m == magicPcapUsec || m == magicPcapNsec {
		order = binary.BigEndian
	}
	// The low 16 bits are the link type; the high bits may hold FCS info.
	lt, err := checkLinkType(order.Uint32(hdr[20:24]) & 0xffff)
	if err != nil {
		return nil, err
	}
	r, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	// pcapgo allocates each packet's captured length after checking it
	// against the header's snaplen, which a damaged header can make huge.
	r.SetSnaplen(MaxRecordLen)
	var c collector
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF && (ci.CaptureLength > 0 || !ci.Timestamp.IsZero()) {
			// pcapgo reports a file that ends right after a record
			// header, before its data, as a clean io.EOF.
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return c.pkts, c.readErr(err)
		}
		if err := c.add(data, ci, lt); err != nil {
			return c.pkts, err
		}
	}
}

func readPcapng(br *bufio.Reader) ([]Packet, error) {
	v := &ngValidator{r: br}
	r, err := pcapgo.NewNgReader(v, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: false})
	if err != nil {
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			err = ErrTruncated
		}
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	var c collector
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return c.pkts, c.readErr(err)
		}
		lt, _ := ci.AncillaryData[0].(layers.LinkType)
		if err := c.add(data, ci, lt); err != nil {
			return c.pkts, err
		}
		// Where the file has two interfaces (both ends of a link, as a
		// lesson on one writes), each packet says which it came from.
		if r.NInterfaces() > 1 {
			if ni, err := r.Interface(ci.InterfaceIndex); err == nil {
				c.pkts[len(c.pkts)-1].Interface = ni.Name
			}
		}
	}
}

// ngValidator sits between the file and pcapgo's NgReader and passes on
// only whole, well-formed pcapng blocks. NgReader trusts the lengths in the
// file (a huge captured length makes it allocate that much; an option or
// block length that does not add up makes it misparse; some timestamp
// resolutions make it divide by zero), so each block is read in full,
// checked, and only then handed over. A block cut short by the end of the
// file gives ErrTruncated.
type ngValidator struct {
	r         io.Reader
	buf       []byte // the current checked block
	off       int    // how much of buf has been handed over
	err       error  // sticky
	bigEndian bool
	inSection bool
	snaplen0  uint32 // snap length of interface 0 of the current section
	nIfaces   int
}

func (v *ngValidator) Read(p []byte) (int, error) {
	if v.off == len(v.buf) {
		if v.err != nil {
			return 0, v.err
		}
		if err := v.next(); err != nil {
			v.err = err
			return 0, err
		}
	}
	n := copy(p, v.buf[v.off:])
	v.off += n
	return n, nil
}

func (v *ngValidator) u32(b []byte) uint32 {
	if v.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (v *ngValidator) u16(b []byte) uint16 {
	if v.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
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

// next reads and checks one block into v.buf.
func (v *ngValidator) next() error {
	var hdr [12]byte
	if n, err := io.ReadFull(v.r, hdr[:8]); err != nil {
		if n == 0 && err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("block header: %w", ErrTruncated)
	}
	typ := binary.LittleEndian.Uint32(hdr[0:4]) // SHB type reads the same both ways
	if typ == magicPcapng {
		if _, err := io.ReadFull(v.r, hdr[8:12]); err != nil {
			return fmt.Errorf("section header: %w", ErrTruncated)
		}
		switch {
		case binary.LittleEndian.Uint32(hdr[8:12]) == ngByteOrderMagic:
			v.bigEndian = false
		case binary.BigEndian.Uint32(hdr[8:12]) == ngByteOrderMagic:
			v.bigEndian = true
		default:
			return errors.New("section header: bad byte-order magic")
		}
		v.inSection, v.snaplen0, v.nIfaces = true, 0, 0
	} else if !v.inSection {
		return errors.New("pcapng file does not start with a section header")
	}
	typ = v.u32(hdr[0:4])
	length := v.u32(hdr[4:8])
	minLen := map[uint32]uint32{
		magicPcapng: 28, ngInterfaceDesc: 20, ngPacketObsolete: 32,
		ngSimplePacket: 16, ngInterfaceStats: 24, ngEnhancedPacket: 32,
	}[typ]
	if minLen == 0 {
		minLen = 12
	}
	if length%4 != 0 || length < minLen || length > maxBlockLen {
		return fmt.Errorf("block type %#x has impossible length %d", typ, length)
	}
	b := make([]byte, length)
	got := 8
	if typ == magicPcapng {
		got = 12
	}
	copy(b, hdr[:got])
	if _, err := io.ReadFull(v.r, b[got:]); err != nil {
		return fmt.Errorf("block type %#x (%d bytes): %w", typ, length, ErrTruncated)
	}
	if v.u32(b[length-4:]) != length {
		return fmt.Errorf("block type %#x: trailing length %d does not match %d", typ, v.u32(b[length-4:]), length)
	}
	body := b[:length-4]
	switch typ {
	case magicPcapng:
		if err := v.checkOptions(body[24:], nil); err != nil {
			return fmt.Errorf("section header: %w", err)
		}
	case ngInterfaceDesc:
		if _, err := checkLinkType(uint32(v.u16(body[8:10]))); err != nil {
			return fmt.Errorf("interface description: %w", err)
		}
		if v.nIfaces == 0 {
			v.snaplen0 = v.u32(body[12:16])
		}
		v.nIfaces++
		if err := v.checkOptions(body[16:], checkIfOption); err != nil {
			return fmt.Errorf("interface description: %w", err)
		}
	case ngInterfaceStats:
		if err := v.checkOptions(body[20:], nil); err != nil {
			return fmt.Errorf("interface statistics: %w", err)
		}
	case ngEnhancedPacket, ngPacketObsolete:
		capLen := v.u32(body[20:24])
		if capLen > MaxRecordLen {
			return fmt.Errorf("packet captured length %d exceeds the limit %d", capLen, MaxRecordLen)
		}
		if 28+uint64(capLen) > uint64(len(body)) {
			return fmt.Errorf("packet captured length %d does not fit its block of %d bytes", capLen, length)
		}
	case ngSimplePacket:
		capLen := v.u32(body[8:12]) // original length, cut to interface 0's snap length
		if v.snaplen0 != 0 && capLen > v.snaplen0 {
			capLen = v.snaplen0
		}
		if capLen > MaxRecordLen || 12+uint64(capLen) > uint64(len(body)) {
			return fmt.Errorf("simple packet of %d bytes does not fit its block of %d bytes", capLen, length)
		}
	}
	v.buf, v.off = b, 0
	return nil
}

// checkOptions checks that a block's options fit it exactly.
func (v *ngValidator) checkOptions(opts []byte, check func(v *ngValidator, code uint16, val []byte) error) error {
	for len(opts) > 0 {
		if len(opts) < 4 {
			return errors.New("options: trailing bytes")
		}
		code, olen := v.u16(opts[0:2]), int(v.u16(opts[2:4]))
		if code == 0 {
			return nil
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return fmt.Errorf("option %d of %d bytes does not fit its block", code, olen)
		}
		if check != nil {
			if err := check(v, code, opts[4:4+olen]); err != nil {
				return err
			}
		}
		opts = opts[4+padded:]
	}
	return nil
}

// checkIfOption checks the interface options NgReader interprets.
func checkIfOption(v *ngValidator, code uint16, val []byte) error {
	switch code {
	case 9: // if_tsresol
		if len(val) != 1 {
			return fmt.Errorf("timestamp resolution option of %d bytes", len(val))
		}
		exp := val[0] & 0x7f
		if (val[0]&0x80 != 0 && exp > 63) || (val[0]&0x80 == 0 && exp > 19) {
			return fmt.Errorf("timestamp resolution %#x not supported", val[0])
		}
	case 14: // if_tsoffset
		if len(val) != 8 {
			return fmt.Errorf("timestamp offset option of %d bytes", len(val))
		}
	}
	return nil
}
