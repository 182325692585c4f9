package tap

import "encoding/binary"

const (
	// Besides TCP, the IP protocols whose first four bytes are ports.
	protoUDP     = 17
	protoSCTP    = 132
	protoUDPLite = 136
	// etherTypeQinQ is an 802.1ad service tag.
	etherTypeQinQ = 0x88a8
)

// flowHash hashes the flow an Ethernet frame belongs to: its IP addresses,
// IP protocol and, for TCP, UDP, UDP-Lite and SCTP, its ports. IPv4
// fragments hash without ports, as only the first carries them, so every
// fragment of a datagram hashes alike; so do IPv6 packets with extension
// headers (a fragment header among them), whose next header is not the
// transport's. VLAN tags are skipped. The hash is the same for both directions of a
// flow. Frames that are not IP (ARP, for one) hash to 0. It allocates
// nothing.
func flowHash(f []byte) uint32 {
	if len(f) < ethHeaderLen {
		return 0
	}
	off := 12
	etype := binary.BigEndian.Uint16(f[off:])
	for (etype == etherTypeVLAN || etype == etherTypeQinQ) && len(f) >= off+6 {
		off += 4
		etype = binary.BigEndian.Uint16(f[off:])
	}
	ip := f[off+2:]
	var src, dst []byte
	var proto uint8
	var l4 []byte // nil when the ports do not count
	switch etype {
	case etherTypeIPv4:
		if len(ip) < ipv4MinHeaderLen || ip[0]>>4 != 4 {
			return 0
		}
		src, dst, proto = ip[12:16], ip[16:20], ip[9]
		ihl := int(ip[0]&0x0f) * 4
		if binary.BigEndian.Uint16(ip[6:8])&0x3fff == 0 && ihl >= ipv4MinHeaderLen && len(ip) >= ihl+4 {
			l4 = ip[ihl:]
		}
	case etherTypeIPv6:
		if len(ip) < ipv6HeaderLen || ip[0]>>4 != 6 {
			return 0
		}
		src, dst, proto = ip[8:24], ip[24:40], ip[6]
		if len(ip) >= ipv6HeaderLen+4 {
			l4 = ip[ipv6HeaderLen:]
		}
	default:
		return 0
	}
	var sport, dport []byte
	switch proto {
	case protoTCP, protoUDP, protoUDPLite, protoSCTP:
		if l4 != nil {
			sport, dport = l4[0:2], l4[2:4]
		}
	}
	// Each endpoint hashes on its own and the two are added, which does
	// not depend on their order.
	return mix32(endpointHash(src, sport) + endpointHash(dst, dport) + uint32(proto))
}

// endpointHash is FNV-1a over an address and a port (nil for none).
func endpointHash(addr, port []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range addr {
		h = (h ^ uint32(b)) * 16777619
	}
	for _, b := range port {
		h = (h ^ uint32(b)) * 16777619
	}
	return h
}

// mix32 is MurmurHash3's finaliser: every input bit affects every output
// bit, so the top bits pick queues evenly.
func mix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// queueIndex maps a flow hash onto n queues.
func queueIndex(h uint32, n int) int { return int(uint64(h) * uint64(n) >> 32) }
