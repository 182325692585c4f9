package admin

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// maxFrameHex bounds what explain takes: one frame or datagram of 64 KiB.
const maxFrameHex = 65536

// DecodeHex decodes a frame or datagram written in hex, as tshark and
// tcpdump -xx print it: whitespace, colons and a leading 0x are allowed.
func DecodeHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', ':':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty: want the bytes in hex")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	if len(b) > maxFrameHex {
		return nil, fmt.Errorf("%d bytes; at most %d", len(b), maxFrameHex)
	}
	return b, nil
}

// ParseFrom parses the underlay sender of an explained datagram: ADDR or
// ADDR:PORT ([ADDR]:PORT for IPv6); the port defaults to 4789.
func ParseFrom(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR or ADDR:PORT", s)
	}
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: zones are not allowed", s)
	}
	return netip.AddrPortFrom(a, 4789), nil
}
