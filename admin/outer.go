package admin

import (
	"encoding/binary"
	"github.com/vxswitch/vxswitch/internal/csum"
	"net/netip"
)

// Outer headers for underlay captures. The switch sees VXLAN datagrams as
// UDP payloads; a capture wraps each in the Ethernet, IP and UDP headers it
// had on the wire, built from the real addresses and ports, so that
// dissectors decode VXLAN (UDP port 4789) and the inner frame. The MACs are
// zero: the switch never learns them.
const (
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	outerTTL      = 64
	protoUDP      = 17
)

// appendUnderlayFrame appends to b an Ethernet frame holding payload as a
// UDP datagram from src to dst. IPv4 gets its header checksum and UDP
// checksum 0 (RFC 768: none); IPv6 gets the UDP checksum it requires (RFC
// 8200 §8.1). If only one address is IPv4, both are written as IPv6.
func appendUnderlayFrame(b []byte, src, dst netip.AddrPort, payload []byte) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.IsValid() {
		sa = netip.IPv4Unspecified()
	}
	if !da.IsValid() {
		da = netip.IPv4Unspecified()
	}
	v4 := sa.Is4() && da.Is4()
	if !v4 {
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	// The length fields have 16 bits; the underlay never receives more, but
	// a capture must not write a header that lies.
	limit := 0xffff - udpHeaderLen
	if v4 {
		limit -= ipv4HeaderLen
	}
	if len(payload) > limit {
		payload = payload[:limit]
	}
	udpLen := udpHeaderLen + len(payload)

	var eth [ethHeaderLen]byte // both MACs zero
	if v4 {
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
	} else {
		binary.BigEndian.PutUint16(eth[12:], 0x86dd)
	}
	b = append(b, eth[:]...)

	if v4 {
		var ip [ipv4HeaderLen]byte
		ip[0] = 4<<4 | ipv4HeaderLen/4 // version, IHL in 32-bit words
		binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+udpLen))
		ip[8] = outerTTL
		ip[9] = protoUDP
		s4, d4 := sa.As4(), da.As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^csum.Fold(csum.Sum(ip[:], 0)))
		b = append(b, ip[:]...)
	} else {
		var ip [ipv6HeaderLen]byte
		ip[0] = 6 << 4
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6] = protoUDP
		ip[7] = outerTTL
		s16, d16 := sa.As16(), da.As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		b = append(b, ip[:]...)
	}

	var udp [udpHeaderLen]byte
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	if !v4 {
		// Pseudo-header (RFC 8200 §8.1): addresses, upper-layer length,
		// next header; then the UDP header and payload.
		s16, d16 := sa.As16(), da.As16()
		acc := csum.Sum(s16[:], uint32(udpLen)+protoUDP)
		acc = csum.Sum(d16[:], acc)
		acc = csum.Sum(udp[:], acc)
		acc = csum.Sum(payload, acc)
		c := ^csum.Fold(acc)
		if c == 0 {
			c = 0xffff // RFC 768: a computed 0 is sent as all ones
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}
	b = append(b, udp[:]...)
	return append(b, payload...)
}
