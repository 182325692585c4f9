package config

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// utf8Text returns the configuration text as UTF-8. YAML files may also be
// UTF-16 with a byte-order mark (YAML 1.2 §5.2), as some Windows tools
// save them. They are converted here rather than left to the YAML decoder,
// so that every line an error names, including those found by searching
// the text, counts the lines the user sees in an editor.
func utf8Text(file string, data []byte) ([]byte, error) {
	order := utf16Order(data)
	if order == nil {
		return data, nil
	}
	body := data[2:]
	out := make([]byte, 0, len(body)+len(body)/2)
	bad := func(i int, format string, args ...any) error {
		return &Error{File: file, Line: lineAt(out, len(out)),
			Msg: fmt.Sprintf("invalid UTF-16 (%s byte-order mark) at byte %d: ", orderName(order), 2+i) + fmt.Sprintf(format, args...)}
	}
	for i := 0; i < len(body); i += 2 {
		if i+1 == len(body) {
			return nil, bad(i, "the file ends in half a character (an odd number of bytes)")
		}
		u := rune(order.Uint16(body[i:]))
		if !utf16.IsSurrogate(u) {
			out = utf8.AppendRune(out, u)
			continue
		}
		if u >= 0xdc00 {
			return nil, bad(i, "low surrogate %#04x without a high surrogate before it", u)
		}
		if i+3 >= len(body) {
			return nil, bad(i, "high surrogate %#04x at the end of the file", u)
		}
		r := utf16.DecodeRune(u, rune(order.Uint16(body[i+2:])))
		if r == utf8.RuneError {
			return nil, bad(i, "high surrogate %#04x not followed by a low surrogate", u)
		}
		out = utf8.AppendRune(out, r)
		i += 2
	}
	return out, nil
}

// utf16Order is the byte order of the UTF-16 byte-order mark data starts
// with, or nil if it starts with none.
func utf16Order(data []byte) binary.ByteOrder {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		return binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return binary.BigEndian
	}
	return nil
}

func orderName(o binary.ByteOrder) string {
	if o == binary.LittleEndian {
		return "little-endian"
	}
	return "big-endian"
}
