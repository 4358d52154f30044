package tracer

import (
	"encoding/hex"
	"strconv"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// The longest previews, in bytes of the data shown.
const (
	maxTextPreview = 64
	maxHexPreview  = 24
)

// Preview returns a short, printable rendering of data: Go-quoted text
// when data is text (`"I am Chuck Norris!"`, newlines as \n), else hex
// (`hex 00ff10`). Longer data is cut and the rest counted:
// `"aaaa…" (+936 bytes)`.
func Preview(data []byte) string {
	return string(appendPreview(nil, data[:min(len(data), previewPrefix)], len(data)))
}

// PreviewOf is [Preview] of total bytes of which only the first were
// kept, captured (a capture's snapshot length cuts packets): the bytes
// not shown, kept or not, are counted, `"GET / HTTP/1.1\r\n…" (+60
// bytes)`.
func PreviewOf(captured []byte, total int) string {
	captured = captured[:min(len(captured), previewPrefix, max(total, 0))]
	return string(appendPreview(nil, captured, max(total, len(captured))))
}

// previewPrefix is how much of the data a preview looks at: the text it
// shows, and the prefix it judges text by.
const previewPrefix = 4 * maxTextPreview

// keepPreview copies what a preview of data needs: its first
// previewPrefix bytes. A non-nil slice, empty for no data.
func keepPreview(data []byte) []byte {
	return append(make([]byte, 0, min(len(data), previewPrefix)), data[:min(len(data), previewPrefix)]...)
}

// appendPreview appends Preview of data whose first bytes, up to
// previewPrefix of them, are p, and whose length is total.
func appendPreview(b, p []byte, total int) []byte {
	if total == len(p) && plainASCII(p) {
		// What strconv.Quote gives for it.
		return append(append(append(b, '"'), p...), '"')
	}
	if isText(p) {
		shown := p
		if len(shown) > maxTextPreview {
			shown = shown[:maxTextPreview]
			// Cut at a rune boundary.
			for len(shown) > 0 && !utf8.Valid(shown) {
				shown = shown[:len(shown)-1]
			}
		}
		b = strconv.AppendQuote(b, unsafe.String(unsafe.SliceData(shown), len(shown)))
		if rest := total - len(shown); rest > 0 {
			b = append(b[:len(b)-1], `…" (+`...)
			b = append(strconv.AppendInt(b, int64(rest), 10), " bytes)"...)
		}
		return b
	}
	shown := p
	if len(shown) > maxHexPreview {
		shown = shown[:maxHexPreview]
	}
	b = hex.AppendEncode(append(b, "hex "...), shown)
	if rest := total - len(shown); rest > 0 {
		b = append(b, "… (+"...)
		b = append(strconv.AppendInt(b, int64(rest), 10), " bytes)"...)
	}
	return b
}

// plainASCII reports whether data is short enough to show whole and only
// printable ASCII that strconv.Quote leaves as it is (no " or \): the
// common case, previewed without strconv.
func plainASCII(data []byte) bool {
	if len(data) > maxTextPreview {
		return false
	}
	for _, c := range data {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isText reports whether data is UTF-8 without control characters other
// than tab, newline and carriage return.
func isText(data []byte) bool {
	// Judge by a prefix: a long message cut mid-rune is still text.
	if len(data) > 4*maxTextPreview {
		data = data[:4*maxTextPreview]
		for i := 0; i < utf8.UTFMax && len(data) > 0 && !utf8.Valid(data); i++ {
			data = data[:len(data)-1]
		}
	}
	if !utf8.Valid(data) {
		return false
	}
	for _, r := range string(data) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// IsText reports whether all of data is UTF-8 without control
// characters other than tab, newline and carriage return: safe to print
// on a terminal as it is.
func IsText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for _, r := range string(data) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}
