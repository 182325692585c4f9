package fdb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrInvalidMAC is returned, wrapped with the offending text, by ParseMAC
// and MAC.UnmarshalText for input that is not a 48-bit MAC address.
var ErrInvalidMAC = errors.New("fdb: invalid MAC address")

// MAC is an IEEE 802 48-bit MAC address. It is an array, not a slice, so it
// can key maps and be copied without allocating.
type MAC [6]byte

var broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseMAC parses a 48-bit MAC address written as six hex octets separated by
// colons or hyphens ("02:00:0a:00:01:02", "02-00-0A-00-01-02") or as three
// dot-separated groups of four hex digits ("0200.0a00.0102"). Letter case does
// not matter; every octet must have both digits.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	ok := false
	switch {
	case len(s) == 17 && (s[2] == ':' || s[2] == '-'):
		ok = parseSeparated(&m, s, s[2])
	case len(s) == 14 && s[4] == '.' && s[9] == '.':
		ok = parseDotted(&m, s)
	}
	if !ok {
		return MAC{}, fmt.Errorf("%w %q", ErrInvalidMAC, s)
	}
	return m, nil
}

// parseSeparated parses "xx?xx?xx?xx?xx?xx" where every ? is sep.
func parseSeparated(m *MAC, s string, sep byte) bool {
	for i := range m {
		p := i * 3
		if i > 0 && s[p-1] != sep {
			return false
		}
		b, ok := hexByte(s[p], s[p+1])
		if !ok {
			return false
		}
		m[i] = b
	}
	return true
}

// parseDotted parses "xxxx.xxxx.xxxx"; the caller has checked length and dots.
func parseDotted(m *MAC, s string) bool {
	for i := range m {
		p := i/2*5 + i%2*2
		b, ok := hexByte(s[p], s[p+1])
		if !ok {
			return false
		}
		m[i] = b
	}
	return true
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the lower-case colon form, "02:00:0a:00:01:02".
func (m MAC) String() string {
	b := m.appendText(make([]byte, 0, 17))
	return string(b)
}

func (m MAC) appendText(b []byte) []byte {
	const digits = "0123456789abcdef"
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (m MAC) MarshalText() ([]byte, error) {
	return m.appendText(make([]byte, 0, 17)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseMAC, so a MAC
// can be a field in a configuration file.
func (m *MAC) UnmarshalText(text []byte) error {
	v, err := ParseMAC(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// IsMulticast reports whether the I/G bit is set (IEEE 802-2014 8.2.2); this
// includes the broadcast address.
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == broadcast }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// learnable reports whether m may be learned as a station address: a frame's
// source is never a group address, and the zero address names no station.
func (m MAC) learnable() bool { return !m.IsMulticast() && !m.IsZero() }

// key widens m into a uint64, which hashes faster than a [6]byte key.
func (m MAC) key() uint64 {
	return uint64(binary.BigEndian.Uint32(m[:4]))<<16 | uint64(binary.BigEndian.Uint16(m[4:]))
}

// macFromKey is the inverse of MAC.key.
func macFromKey(k uint64) MAC {
	return MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}
