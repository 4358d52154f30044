package tracer

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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
	if plainASCII(data) {
		// What strconv.Quote returns for it, in one allocation.
		var b strings.Builder
		b.Grow(len(data) + 2)
		b.WriteByte('"')
		b.Write(data)
		b.WriteByte('"')
		return b.String()
	}
	if isText(data) {
		shown := data
		if len(shown) > maxTextPreview {
			shown = shown[:maxTextPreview]
			// Cut at a rune boundary.
			for len(shown) > 0 && !utf8.Valid(shown) {
				shown = shown[:len(shown)-1]
			}
		}
		s := strconv.Quote(string(shown))
		if rest := len(data) - len(shown); rest > 0 {
			s = s[:len(s)-1] + `…"` + fmt.Sprintf(" (+%d bytes)", rest)
		}
		return s
	}
	shown := data
	if len(shown) > maxHexPreview {
		shown = shown[:maxHexPreview]
	}
	s := "hex " + hex.EncodeToString(shown)
	if rest := len(data) - len(shown); rest > 0 {
		s += fmt.Sprintf("… (+%d bytes)", rest)
	}
	return s
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
