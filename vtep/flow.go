package vtep

import "encoding/binary"

// PortRange is the range the outer UDP source port is chosen from.
// RFC 7348 §5: "it is recommended that the UDP source port number be
// calculated using a hash of fields from the inner packet", in the dynamic
// range 49152–65535.
type PortRange struct{ Min, Max uint16 }

// DefaultPortRange is RFC 7348's recommended dynamic/private range.
var DefaultPortRange = PortRange{Min: 49152, Max: 65535}

// Port maps a flow hash into the range. Like the kernel it scales the hash
// instead of taking a modulo, so every port is equally likely.
func (r PortRange) Port(hash uint32) uint16 {
	if r.Max <= r.Min {
		return r.Min
	}
	span := uint64(r.Max-r.Min) + 1
	return r.Min + uint16((uint64(hash)*span)>>32)
}

// Ethertypes the flow hash looks into.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
)

// FlowHash hashes the flow an Ethernet frame belongs to: its MAC addresses
// and, for IPv4 and IPv6, its addresses, protocol and (for unfragmented TCP,
// UDP, SCTP and UDP-Lite) its ports. Every frame of one flow hashes alike, so
// a flow keeps one outer source port and is never reordered by ECMP; different
// flows spread. It reads fixed offsets and allocates nothing. Short or
// malformed frames hash whatever bytes they have.
func FlowHash(frame []byte) uint32 {
	if len(frame) < 14 {
		return mix(hashBytes(0x9e3779b9, frame))
	}
	h := hashBytes(0x9e3779b9, frame[:12])
	typ := binary.BigEndian.Uint16(frame[12:14])
	l3 := frame[14:]
	for (typ == etherTypeVLAN || typ == etherTypeQinQ) && len(l3) >= 4 {
		typ = binary.BigEndian.Uint16(l3[2:4])
		l3 = l3[4:]
	}
	h = step(h, uint32(typ))
	switch typ {
	case etherTypeIPv4:
		if len(l3) < 20 || l3[0]>>4 != 4 {
			break
		}
		ihl := int(l3[0]&0x0f) * 4 // IHL counts 32-bit words
		proto := l3[9]
		h = step(h, uint32(proto))
		h = hashBytes(h, l3[12:20])
		fragmented := binary.BigEndian.Uint16(l3[6:8])&0x3fff != 0 // MF or offset
		if !fragmented && ihl >= 20 {
			h = hashPorts(h, proto, l3, ihl)
		}
	case etherTypeIPv6:
		if len(l3) < 40 || l3[0]>>4 != 6 {
			break
		}
		proto := l3[6] // extension headers are not walked: they hash as their own flow
		h = step(h, uint32(proto))
		h = hashBytes(h, l3[8:40])
		h = hashPorts(h, proto, l3, 40)
	}
	return mix(h)
}

func hashPorts(h uint32, proto byte, l3 []byte, off int) uint32 {
	switch proto {
	case 6, 17, 132, 136: // TCP, UDP, SCTP, UDP-Lite: ports lead the header
		if len(l3) >= off+4 {
			h = step(h, binary.BigEndian.Uint32(l3[off:off+4]))
		}
	}
	return h
}

func hashBytes(h uint32, b []byte) uint32 {
	for len(b) >= 4 {
		h = step(h, binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	for _, c := range b {
		h = step(h, uint32(c))
	}
	return h
}

// step is one round of a multiply-rotate hash (as in murmur3's block step).
func step(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = k<<15 | k>>17
	k *= 0x1b873593
	h ^= k
	h = h<<13 | h>>19
	return h*5 + 0xe6546b64
}

// mix is murmur3's finaliser, so that every input bit reaches the top bits
// PortRange.Port uses.
func mix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
