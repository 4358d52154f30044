package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket/layers"
)

// Limits a FileReader enforces so that a damaged or hostile file cannot
// make it use unbounded memory. Packets themselves are not limited in
// number: the reader keeps none of them.
const (
	// MaxInterfaces is the most pcapng interfaces a file may describe,
	// over all its sections.
	MaxInterfaces = 1 << 16
	// maxMetaBytes is the most bytes of names and comments of sections
	// and interfaces a FileReader keeps; beyond it they are dropped.
	maxMetaBytes = 1 << 20
	// readBufSize is the FileReader's buffer: a block that fits is
	// parsed in place, without a copy.
	readBufSize = 256 << 10
)

// FileReader reads a pcap or pcapng file one packet at a time, in memory
// that does not grow with the file (OpenFile). A FileReader is not safe
// for concurrent use.
type FileReader struct {
	name   string
	closer io.Closer // the file OpenFile opened; nil for standard input
	gz     *gzip.Reader
	br     *bufio.Reader
	off    int64 // bytes of the (decompressed) file consumed
	n      int   // packets returned
	err    error // sticky
	format string
	gzip   bool

	// pcap
	order binary.ByteOrder
	nano  bool
	lt    layers.LinkType

	// pcapng
	bigEndian bool
	section   int   // sections begun, 1 after the first header
	secIfaces []int // the current section's interfaces, as indexes into ifaces
	blk       []byte
	ifaces    []Interface
	conv      []tsConv // per interface in ifaces
	comments  []string
	meta      int // bytes of names and comments kept
}

// Interface describes an interface of a capture file: a pcap file has
// one; a pcapng file has one per Interface Description Block, numbered
// from 0 across all its sections in the order they are read (so a
// Packet's Info.InterfaceIndex indexes FileReader.Interfaces).
type Interface struct {
	// Name is the if_name option ("eth0"), "" if the file names none.
	Name string
	// Description is the if_description option, "" if none.
	Description string
	// Comments are the interface's opt_comment options.
	Comments []string
	// LinkType says how the interface's packets are framed, as
	// Packet.LinkType (LinkTypeLinuxSLL2 for the file's 276).
	LinkType layers.LinkType
	// Snaplen is the most bytes captured of each packet; 0 if unlimited.
	Snaplen int
	// Section is the pcapng section the interface belongs to, from 0;
	// always 0 in a pcap file.
	Section int

	label string // Packet.Interface where the section has several
}

// OpenFile opens a capture file for reading with Next: pcap (micro- or
// nanosecond timestamps, either byte order) or pcapng (any number of
// sections and interfaces), told apart by the magic number. A file
// compressed with gzip (its magic, whatever its name) is decompressed on
// the fly. The path "-" reads standard input. OpenFile reads the file
// header (and a pcapng file's first section header) and fails if it is
// not a capture file, naming what it found.
func OpenFile(path string) (*FileReader, error) {
	var in io.Reader
	var closer io.Closer
	name := path
	if path == "-" {
		in, name = os.Stdin, "standard input"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("capture: read %s: %w", path, err)
		}
		in, closer = f, f
	}
	r, err := newFileReader(in, name)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		return nil, fmt.Errorf("capture: read %s: %w", name, err)
	}
	r.closer = closer
	return r, nil
}

// newFileReader reads the headers of a capture file from in. Its errors
// do not name the file.
func newFileReader(in io.Reader, name string) (*FileReader, error) {
	r := &FileReader{name: name, br: bufio.NewReaderSize(in, readBufSize)}
	head, err := r.br.Peek(4)
	if err == nil && head[0] == 0x1f && head[1] == 0x8b {
		r.gz, err = gzip.NewReader(r.br)
		if err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				err = ErrTruncated
			}
			return nil, fmt.Errorf("gzip-compressed file: %w", err)
		}
		r.gzip = true
		r.br = bufio.NewReaderSize(r.gz, readBufSize)
		head, err = r.br.Peek(4)
	}
	if err != nil {
		switch {
		case err == io.EOF && len(head) == 0:
			return nil, errors.New("empty file, not a pcap or pcapng file")
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("too short for a capture file: %w", ErrTruncated)
		}
		return nil, err // e.g. "is a directory"
	}
	switch le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head); {
	case le == magicPcapng:
		r.format = "pcapng"
		if err := r.ngFirstSection(); err != nil {
			return nil, err
		}
	case le == magicPcapUsec, le == magicPcapNsec, be == magicPcapUsec, be == magicPcapNsec:
		r.format = "pcap"
		if err := r.pcapHeader(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("not a pcap or pcapng file (starts with % x)", head)
	}
	return r, nil
}

// Format returns "pcap" or "pcapng".
func (r *FileReader) Format() string { return r.format }

// Compressed reports whether the file is gzip-compressed.
func (r *FileReader) Compressed() bool { return r.gzip }

// Interfaces returns the interfaces of the file read so far: a pcap
// file's one, or each pcapng Interface Description Block before the
// last packet Next returned (a pcapng file may describe an interface
// after packets of others). After Next returns io.EOF the list is
// complete. The caller must not modify it.
func (r *FileReader) Interfaces() []Interface { return r.ifaces }

// Comments returns the opt_comment options of the pcapng section
// headers read so far, in file order (nil for pcap). Interfaces'
// comments are in Interface.Comments and packets' in Packet.Comment.
// Names and comments beyond 1 MiB in all are dropped.
func (r *FileReader) Comments() []string { return r.comments }

// Packets returns how many packets Next has returned.
func (r *FileReader) Packets() int { return r.n }

// Close closes the file (standard input is left open). The FileReader
// must not be used after.
func (r *FileReader) Close() error {
	if r.gz != nil {
		r.gz.Close()
	}
	if r.closer != nil {
		if err := r.closer.Close(); err != nil {
			return fmt.Errorf("capture: close %s: %w", r.name, err)
		}
	}
	return nil
}

// Next returns the next packet; its Data is its own (a new slice for
// each packet). At the end of the file it returns io.EOF. If the file is
// damaged it returns, after the packets before the damage, an error
// saying what and where (the packet's number, from 1, and its byte
// offset in the file, or in the decompressed stream of a gzip file): a
// file cut short matches ErrTruncated. It refuses packets longer than
// MaxRecordLen and pcapng blocks whose lengths do not add up, rather
// than allocating what they claim. After an error Next returns the same
// error again.
func (r *FileReader) Next() (Packet, error) {
	if r.err != nil {
		return Packet{}, r.err
	}
	start := r.off
	var p Packet
	var err error
	if r.format == "pcap" {
		p, err = r.pcapNext()
	} else {
		p, err = r.ngNext()
	}
	if err != nil {
		r.err = r.wrapErr(err, start)
		return Packet{}, r.err
	}
	r.n++
	return p, nil
}

// wrapErr turns a read error into Next's.
func (r *FileReader) wrapErr(err error, start int64) error {
	n := r.n + 1
	switch {
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTruncated):
		return fmt.Errorf("capture: read %s: %w at packet %d, byte %d (%d complete packets read)", r.name, ErrTruncated, n, start, n-1)
	}
	return fmt.Errorf("capture: read %s: reading packet %d: %w (at byte %d)", r.name, n, err, start)
}

// peek returns the next n bytes of the file without consuming them. At
// the end of the file it returns io.EOF if no byte is left and
// ErrTruncated if some are.
func (r *FileReader) peek(n int) ([]byte, error) {
	b, err := r.br.Peek(n)
	switch {
	case err == nil:
		return b, nil
	case err == io.EOF && len(b) == 0:
		return nil, io.EOF
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, ErrTruncated
	}
	return nil, err
}

func (r *FileReader) discard(n int) {
	m, _ := r.br.Discard(n) // n bytes were peeked already
	r.off += int64(m)
}

// readFull reads exactly len(b) bytes.
func (r *FileReader) readFull(b []byte) error {
	m, err := io.ReadFull(r.br, b)
	r.off += int64(m)
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

// pcapHeader reads a pcap file header.
func (r *FileReader) pcapHeader() error {
	hdr, err := r.peek(24)
	if err != nil {
		if err == io.EOF {
			err = ErrTruncated
		}
		return fmt.Errorf("pcap header: %w", err)
	}
	r.order = binary.LittleEndian
	m := binary.LittleEndian.Uint32(hdr[0:4])
	if b := binary.BigEndian.Uint32(hdr[0:4]); b == magicPcapUsec || b == magicPcapNsec {
		r.order, m = binary.BigEndian, b
	}
	r.nano = m == magicPcapNsec
	// The low 16 bits are the link type; the high bits may hold FCS info.
	lt, err := checkLinkType(r.order.Uint32(hdr[20:24]) & 0xffff)
	if err != nil {
		return err
	}
	r.lt = lt
	r.ifaces = []Interface{{LinkType: lt, Snaplen: int(r.order.Uint32(hdr[16:20]))}}
	r.discard(24)
	return nil
}

// pcapNext reads one pcap record.
func (r *FileReader) pcapNext() (Packet, error) {
	h, err := r.peek(16)
	if err != nil {
		return Packet{}, err
	}
	sec, frac := r.order.Uint32(h[0:4]), r.order.Uint32(h[4:8])
	capLen, origLen := r.order.Uint32(h[8:12]), r.order.Uint32(h[12:16])
	// The messages are those of gopacket's pcapgo, which ReadFile used.
	if capLen > MaxRecordLen {
		return Packet{}, fmt.Errorf("capture length exceeds snap length: %d > %d", capLen, MaxRecordLen)
	}
	if capLen > origLen {
		return Packet{}, fmt.Errorf("capture length exceeds original packet length: %d > %d", capLen, origLen)
	}
	r.discard(16)
	nsec := int64(frac)
	if !r.nano {
		nsec *= 1000
	}
	ts := time.Unix(int64(sec), nsec).UTC()
	data := make([]byte, capLen)
	if err := r.readFull(data); err != nil {
		return Packet{}, err
	}
	p := Packet{Time: ts, Data: data, LinkType: r.lt}
	p.Info.Timestamp = ts
	p.Info.CaptureLength = int(capLen)
	p.Info.Length = int(origLen)
	return p, nil
}

// tsConv turns a pcapng interface's timestamps into times.
type tsConv struct {
	binary bool
	exp    uint8  // resolution 2^-exp or 10^-exp seconds
	units  uint64 // 10^exp, for decimal resolutions
	offset int64  // if_tsoffset, seconds
}

func newTSConv(resol byte, offset int64) tsConv {
	c := tsConv{binary: resol&0x80 != 0, exp: resol & 0x7f, offset: offset}
	if !c.binary {
		c.units = 1
		for range c.exp {
			c.units *= 10
		}
	}
	return c
}

func (c tsConv) time(ts uint64) time.Time {
	var sec, nsec uint64
	if c.binary {
		sec = ts >> c.exp
		frac := ts & (1<<c.exp - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		nsec, _ = bits.Div64(hi, lo, 1<<c.exp)
	} else {
		sec, nsec = ts/c.units, ts%c.units
		if c.units <= 1e9 {
			nsec *= 1e9 / c.units
		} else {
			nsec /= c.units / 1e9
		}
	}
	return time.Unix(int64(sec)+c.offset, int64(nsec)).UTC()
}

func (r *FileReader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *FileReader) u16(b []byte) uint16 {
	if r.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

// keep returns s if the reader may still keep names and comments.
func (r *FileReader) keep(s []byte) (string, bool) {
	if r.meta+len(s) > maxMetaBytes {
		return "", false
	}
	r.meta += len(s)
	return string(s), true
}

// ngFirstSection reads the section header that starts a pcapng file.
func (r *FileReader) ngFirstSection() error {
	typ, body, err := r.ngBlock()
	if err == io.EOF {
		err = ErrTruncated
	}
	if err != nil {
		return fmt.Errorf("pcapng: %w", err)
	}
	if typ != magicPcapng {
		return errors.New("pcapng: file does not start with a section header")
	}
	return r.ngSection(body)
}

// ngBlock reads one whole block and checks its lengths. body is the
// block without its trailing length; it is valid until the next call.
func (r *FileReader) ngBlock() (typ uint32, body []byte, err error) {
	hdr, err := r.peek(8)
	if err == ErrTruncated {
		return 0, nil, fmt.Errorf("block header: %w", ErrTruncated)
	} else if err != nil {
		return 0, nil, err
	}
	if binary.LittleEndian.Uint32(hdr[0:4]) == magicPcapng { // reads the same both ways
		if hdr, err = r.peek(12); err == io.EOF || err == ErrTruncated {
			return 0, nil, fmt.Errorf("section header: %w", ErrTruncated)
		} else if err != nil {
			return 0, nil, err
		}
		switch {
		case binary.LittleEndian.Uint32(hdr[8:12]) == ngByteOrderMagic:
			r.bigEndian = false
		case binary.BigEndian.Uint32(hdr[8:12]) == ngByteOrderMagic:
			r.bigEndian = true
		default:
			return 0, nil, errors.New("section header: bad byte-order magic")
		}
	}
	typ = r.u32(hdr[0:4])
	length := r.u32(hdr[4:8])
	minLen := uint32(12)
	switch typ {
	case magicPcapng:
		minLen = 28
	case ngInterfaceDesc:
		minLen = 20
	case ngPacketObsolete, ngEnhancedPacket:
		minLen = 32
	case ngSimplePacket:
		minLen = 16
	case ngInterfaceStats:
		minLen = 24
	}
	if length%4 != 0 || length < minLen || length > maxBlockLen {
		return 0, nil, fmt.Errorf("block type %#x has impossible length %d", typ, length)
	}
	var b []byte
	if length <= readBufSize {
		if b, err = r.peek(int(length)); err != nil {
			if err == io.EOF {
				err = ErrTruncated
			}
			return 0, nil, fmt.Errorf("block type %#x (%d bytes): %w", typ, length, err)
		}
		defer r.discard(int(length))
	} else {
		if cap(r.blk) < int(length) {
			r.blk = make([]byte, length)
		}
		b = r.blk[:length]
		if err := r.readFull(b); err != nil {
			return 0, nil, fmt.Errorf("block type %#x (%d bytes): %w", typ, length, err)
		}
	}
	if r.u32(b[length-4:]) != length {
		return 0, nil, fmt.Errorf("block type %#x: trailing length %d does not match %d", typ, r.u32(b[length-4:]), length)
	}
	return typ, b[:length-4], nil
}

// ngOptions calls f for each option of a block, after checking that they
// fit it exactly.
func (r *FileReader) ngOptions(opts []byte, f func(code uint16, val []byte) error) error {
	for len(opts) > 0 {
		if len(opts) < 4 {
			return errors.New("options: trailing bytes")
		}
		code, olen := r.u16(opts[0:2]), int(r.u16(opts[2:4]))
		if code == 0 {
			return nil
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return fmt.Errorf("option %d of %d bytes does not fit its block", code, olen)
		}
		if f != nil {
			if err := f(code, opts[4:4+olen]); err != nil {
				return err
			}
		}
		opts = opts[4+padded:]
	}
	return nil
}

// ngSection starts a section.
func (r *FileReader) ngSection(body []byte) error {
	if major := r.u16(body[12:14]); major != 1 {
		return fmt.Errorf("section header: pcapng version %d.%d not supported", major, r.u16(body[14:16]))
	}
	r.section++
	r.secIfaces = r.secIfaces[:0]
	err := r.ngOptions(body[24:], func(code uint16, val []byte) error {
		if code == 1 { // opt_comment
			if s, ok := r.keep(val); ok {
				r.comments = append(r.comments, s)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("section header: %w", err)
	}
	return nil
}

// ngInterface adds an interface to the current section.
func (r *FileReader) ngInterface(body []byte) error {
	if len(r.ifaces) >= MaxInterfaces {
		return fmt.Errorf("interface description: more than %d interfaces", MaxInterfaces)
	}
	lt, err := checkLinkType(uint32(r.u16(body[8:10])))
	if err != nil {
		return fmt.Errorf("interface description: %w", err)
	}
	ifc := Interface{LinkType: lt, Snaplen: int(r.u32(body[12:16])), Section: r.section - 1}
	resol, offset := byte(6), int64(0)
	err = r.ngOptions(body[16:], func(code uint16, val []byte) error {
		switch code {
		case 1: // opt_comment
			if s, ok := r.keep(val); ok {
				ifc.Comments = append(ifc.Comments, s)
			}
		case 2: // if_name
			ifc.Name, _ = r.keep(val)
		case 3: // if_description
			ifc.Description, _ = r.keep(val)
		case 9: // if_tsresol
			if len(val) != 1 {
				return fmt.Errorf("timestamp resolution option of %d bytes", len(val))
			}
			exp := val[0] & 0x7f
			if (val[0]&0x80 != 0 && exp > 63) || (val[0]&0x80 == 0 && exp > 19) {
				return fmt.Errorf("timestamp resolution %#x not supported", val[0])
			}
			resol = val[0]
		case 14: // if_tsoffset
			if len(val) != 8 {
				return fmt.Errorf("timestamp offset option of %d bytes", len(val))
			}
			if r.bigEndian {
				offset = int64(binary.BigEndian.Uint64(val))
			} else {
				offset = int64(binary.LittleEndian.Uint64(val))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("interface description: %w", err)
	}
	idx := len(r.ifaces)
	switch {
	case ifc.Name != "":
		ifc.label = ifc.Name
	case ifc.Description != "":
		ifc.label = ifc.Description
	default:
		ifc.label = "interface " + strconv.Itoa(idx)
	}
	r.ifaces = append(r.ifaces, ifc)
	r.conv = append(r.conv, newTSConv(resol, offset))
	r.secIfaces = append(r.secIfaces, idx)
	return nil
}

// ngNext reads blocks up to the next packet.
func (r *FileReader) ngNext() (Packet, error) {
	for {
		typ, body, err := r.ngBlock()
		if err != nil {
			return Packet{}, err
		}
		switch typ {
		case magicPcapng:
			if err := r.ngSection(body); err != nil {
				return Packet{}, err
			}
		case ngInterfaceDesc:
			if err := r.ngInterface(body); err != nil {
				return Packet{}, err
			}
		case ngInterfaceStats:
			if err := r.ngOptions(body[20:], nil); err != nil {
				return Packet{}, fmt.Errorf("interface statistics: %w", err)
			}
		case ngEnhancedPacket, ngPacketObsolete:
			return r.ngPacket(typ, body)
		case ngSimplePacket:
			if len(r.secIfaces) == 0 {
				return Packet{}, errors.New("simple packet block before any interface description")
			}
			ifc := r.secIfaces[0]
			capLen := r.u32(body[8:12]) // original length, cut to the snap length
			origLen := capLen
			if sl := uint32(r.ifaces[ifc].Snaplen); sl != 0 && capLen > sl {
				capLen = sl
			}
			if capLen > MaxRecordLen || 12+uint64(capLen) > uint64(len(body)) {
				return Packet{}, fmt.Errorf("simple packet of %d bytes does not fit its block of %d bytes", capLen, len(body)+4)
			}
			p := Packet{Data: append([]byte(nil), body[12:12+capLen]...), LinkType: r.ifaces[ifc].LinkType}
			p.Info.CaptureLength = int(capLen)
			p.Info.Length = int(origLen)
			p.Info.InterfaceIndex = ifc
			r.label(&p, ifc)
			return p, nil
		}
		// Other blocks (name resolution, custom, ...) are skipped.
	}
}

// ngPacket decodes an enhanced or obsolete packet block.
func (r *FileReader) ngPacket(typ uint32, body []byte) (Packet, error) {
	var id uint32
	if typ == ngEnhancedPacket {
		id = r.u32(body[8:12])
	} else {
		id = uint32(r.u16(body[8:10]))
	}
	if id >= uint32(len(r.secIfaces)) {
		return Packet{}, fmt.Errorf("packet block for interface %d, but the section has %d interfaces", id, len(r.secIfaces))
	}
	ifc := r.secIfaces[id]
	capLen, origLen := r.u32(body[20:24]), r.u32(body[24:28])
	if capLen > MaxRecordLen {
		return Packet{}, fmt.Errorf("packet captured length %d exceeds the limit %d", capLen, MaxRecordLen)
	}
	end := 28 + uint64(capLen)
	if end > uint64(len(body)) {
		return Packet{}, fmt.Errorf("packet captured length %d does not fit its block of %d bytes", capLen, len(body)+4)
	}
	ts := uint64(r.u32(body[12:16]))<<32 | uint64(r.u32(body[16:20]))
	p := Packet{
		Time:     r.conv[ifc].time(ts),
		Data:     append([]byte(nil), body[28:end]...),
		LinkType: r.ifaces[ifc].LinkType,
	}
	p.Info.Timestamp = p.Time
	p.Info.CaptureLength = int(capLen)
	p.Info.Length = max(int(origLen), int(capLen))
	p.Info.InterfaceIndex = ifc
	r.label(&p, ifc)
	optStart := 28 + (capLen+3)&^3
	if uint64(optStart) > uint64(len(body)) {
		return Packet{}, fmt.Errorf("packet block: padding of %d bytes does not fit", capLen)
	}
	var comments []string
	err := r.ngOptions(body[optStart:], func(code uint16, val []byte) error {
		if code == 1 { // opt_comment
			comments = append(comments, string(val))
		}
		return nil
	})
	if err != nil {
		return Packet{}, fmt.Errorf("packet block: %w", err)
	}
	p.Comment = strings.Join(comments, "\n")
	return p, nil
}

// label sets p.Interface once the file has described several
// interfaces.
func (r *FileReader) label(p *Packet, ifc int) {
	if len(r.ifaces) > 1 {
		p.Interface = r.ifaces[ifc].label
	}
}
