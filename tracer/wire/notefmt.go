package wire

import (
	"net/netip"
	"strconv"
	"strings"
)

// appendf appends to b what fmt.Sprintf(format, args...) returns, for
// the verbs and types that the notes use: %s of a string, a []byte, a
// netip.AddrPort, or a byteSpan, optionWords or nth (as its appendTo
// writes it), %d of an integer. It allocates nothing
// but b's growth, where fmt would box each argument and build a string:
// the notes are most of what annotating a segment costs. An argument of
// another type, or a missing one, shows as fmt shows a bad verb, %!s(?).
func appendf(b []byte, format string, args ...any) []byte {
	for {
		i := strings.IndexByte(format, '%')
		if i < 0 || i == len(format)-1 {
			return append(b, format...)
		}
		b = append(b, format[:i]...)
		verb := format[i+1]
		format = format[i+2:]
		if verb == '%' {
			b = append(b, '%')
			continue
		}
		if len(args) == 0 {
			b = append(b, "%!"...)
			b = append(b, verb)
			b = append(b, "(MISSING)"...)
			continue
		}
		arg := args[0]
		args = args[1:]
		if verb == 's' {
			switch v := arg.(type) {
			case string:
				b = append(b, v...)
				continue
			case []byte:
				b = append(b, v...)
				continue
			case byteSpan:
				b = v.appendTo(b)
				continue
			case optionWords:
				b = v.appendTo(b)
				continue
			case nth:
				b = v.appendTo(b)
				continue
			case netip.AddrPort:
				if v.IsValid() {
					b = v.AppendTo(b)
				} else {
					b = append(b, v.String()...)
				}
				continue
			}
		}
		if verb == 'd' {
			switch v := arg.(type) {
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
				continue
			case int64:
				b = strconv.AppendInt(b, v, 10)
				continue
			case uint32:
				b = strconv.AppendUint(b, uint64(v), 10)
				continue
			case uint16:
				b = strconv.AppendUint(b, uint64(v), 10)
				continue
			case uint8:
				b = strconv.AppendUint(b, uint64(v), 10)
				continue
			}
		}
		b = append(b, "%!"...)
		b = append(b, verb)
		b = append(b, "(?)"...)
	}
}

// byteSpan is the n bytes of a stream from first on, as a note names
// them: "byte 7", "bytes 7 to 12".
type byteSpan struct {
	first uint32
	n     int
}

func (s byteSpan) appendTo(b []byte) []byte {
	if s.n == 1 {
		return strconv.AppendUint(append(b, "byte "...), uint64(s.first), 10)
	}
	b = strconv.AppendUint(append(b, "bytes "...), uint64(s.first), 10)
	return strconv.AppendUint(append(b, " to "...), uint64(s.first+uint32(s.n)-1), 10)
}

// String returns the span as appendTo writes it.
func (s byteSpan) String() string { return string(s.appendTo(nil)) }
