package tap

import (
	"encoding/binary"
	"github.com/vxswitch/vxswitch/internal/csum"
)

// grow coalesces consecutive TCP segments of one flow, written one by one,
// into one super-frame that goes to the kernel with a virtio GSO header:
// receive offload in userspace, so the container's stack handles one 64 KiB
// packet where it would otherwise handle ~45. It follows the kernel's own
// TCP GRO rules: same flow, contiguous sequence numbers, same ACK, window
// and options, only ACK (and PSH on the last segment) set, every segment but
// the last of one size, and each segment's checksum verified first, since
// the kernel will trust the merged one.
type grow struct {
	buf  []byte // virtio header + super-frame
	n    int    // bytes of super-frame in buf after the header
	segs int

	v4      bool
	ipOff   int
	l4Off   int
	hdrLen  int // up to the end of the TCP header
	mss     int // payload of the first segment
	lastLen int // payload of the last segment
	nextSeq uint32
}

// Limits of a merged frame: an IPv4 total length is 16 bits.
const groMax = 65535 - 64

const tcpFlagACK = 0x10

// segment is what grow needs of a frame: where its TCP header and payload
// are, or ok false when the frame is not a TCP segment it may merge.
type segment struct {
	v4                  bool
	ipOff, l4Off, hdrLn int
	payload             int
}

func parseSegment(f []byte) (s segment, ok bool) {
	if len(f) < ethHeaderLen+ipv4MinHeaderLen+tcpMinHeaderLen {
		return s, false
	}
	s.ipOff = ethHeaderLen
	end := 0
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherTypeIPv4:
		ip := f[s.ipOff:]
		// No IP options, not a fragment, TCP.
		if ip[0] != 0x45 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || ip[9] != protoTCP {
			return s, false
		}
		s.v4, s.l4Off = true, s.ipOff+ipv4MinHeaderLen
		end = s.ipOff + int(binary.BigEndian.Uint16(ip[2:4]))
	case etherTypeIPv6:
		if len(f) < ethHeaderLen+ipv6HeaderLen+tcpMinHeaderLen {
			return s, false
		}
		ip := f[s.ipOff:]
		if ip[0]>>4 != 6 || ip[6] != protoTCP {
			return s, false
		}
		s.l4Off = s.ipOff + ipv6HeaderLen
		end = s.l4Off + int(binary.BigEndian.Uint16(ip[4:6]))
	default:
		return s, false
	}
	if end != len(f) || s.l4Off+tcpMinHeaderLen > end {
		return s, false // padded or truncated: leave it to the kernel
	}
	s.hdrLn = s.l4Off + int(f[s.l4Off+12]>>4)*4
	if s.hdrLn < s.l4Off+tcpMinHeaderLen || s.hdrLn > end {
		return s, false
	}
	s.payload = end - s.hdrLn
	flags := f[s.l4Off+13]
	if s.payload == 0 || flags&^tcpFlagPSH != tcpFlagACK {
		return s, false
	}
	return s, true
}

// tcpChecksumOK verifies a segment's TCP checksum over the pseudo-header.
func tcpChecksumOK(f []byte, s segment) bool {
	l4 := f[s.l4Off:]
	var pseudo uint32
	if s.v4 {
		pseudo = csum.Sum(f[s.ipOff+12:s.ipOff+20], protoTCP+uint32(len(l4)))
	} else {
		pseudo = csum.Sum(f[s.ipOff+8:s.ipOff+40], protoTCP+uint32(len(l4)))
	}
	return csum.Fold(csum.Sum(l4, pseudo)) == 0xffff
}

// canAppend reports whether segment f continues the pending super-frame.
func (g *grow) canAppend(f []byte, s segment) bool {
	if g.segs == 0 || s.v4 != g.v4 || s.hdrLn != g.hdrLen || g.lastLen != g.mss ||
		s.payload > g.mss || g.n+s.payload > groMax {
		return false
	}
	p := g.buf[vnetHdrLen : vnetHdrLen+g.n]
	if p[g.l4Off+13]&tcpFlagPSH != 0 { // PSH ends a merge, as in the kernel
		return false
	}
	// Same Ethernet header, same addresses.
	if string(f[:ethHeaderLen]) != string(p[:ethHeaderLen]) {
		return false
	}
	ip, pip := f[g.ipOff:g.l4Off], p[g.ipOff:g.l4Off]
	if g.v4 {
		// TOS, DF, TTL, addresses (ID, length and checksum may differ).
		if ip[1] != pip[1] || ip[6] != pip[6] || ip[8] != pip[8] || string(ip[12:20]) != string(pip[12:20]) {
			return false
		}
	} else if string(ip[0:4]) != string(pip[0:4]) || ip[7] != pip[7] || string(ip[8:40]) != string(pip[8:40]) {
		return false
	}
	tcp, ptcp := f[g.l4Off:g.hdrLen], p[g.l4Off:g.hdrLen]
	// Ports, ACK, data offset, window and options equal; flags checked.
	if string(tcp[0:4]) != string(ptcp[0:4]) || string(tcp[8:12]) != string(ptcp[8:12]) ||
		tcp[12] != ptcp[12] || string(tcp[14:16]) != string(ptcp[14:16]) || string(tcp[20:]) != string(ptcp[20:]) {
		return false
	}
	return binary.BigEndian.Uint32(tcp[4:8]) == g.nextSeq
}

// start makes f the first segment of a new super-frame.
func (g *grow) start(f []byte, s segment) {
	g.n = copy(g.buf[vnetHdrLen:], f)
	g.segs = 1
	g.v4, g.ipOff, g.l4Off, g.hdrLen = s.v4, s.ipOff, s.l4Off, s.hdrLn
	g.mss, g.lastLen = s.payload, s.payload
	g.nextSeq = binary.BigEndian.Uint32(f[s.l4Off+4:]) + uint32(s.payload)
}

// add appends f's payload.
func (g *grow) add(f []byte, s segment) {
	g.n += copy(g.buf[vnetHdrLen+g.n:], f[s.hdrLn:])
	g.segs++
	g.lastLen = s.payload
	g.nextSeq += uint32(s.payload)
	if f[s.l4Off+13]&tcpFlagPSH != 0 {
		g.buf[vnetHdrLen+g.l4Off+13] |= tcpFlagPSH
	}
}

// finish fixes the merged frame's headers and writes the virtio header; it
// returns header and frame, ready for one write. A single segment goes out
// unchanged, without GSO.
func (g *grow) finish() []byte {
	h, p := g.buf[:vnetHdrLen], g.buf[vnetHdrLen:vnetHdrLen+g.n]
	clear(h)
	if g.segs > 1 {
		ip, tcp := p[g.ipOff:g.l4Off], p[g.l4Off:]
		var pseudo uint32
		if g.v4 {
			binary.BigEndian.PutUint16(ip[2:4], uint16(g.n-g.ipOff))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:12], ^csum.Fold(csum.Sum(ip[:ipv4MinHeaderLen], 0)))
			pseudo = csum.Sum(ip[12:20], protoTCP+uint32(len(tcp)))
			h[1] = vnetGSOTCPv4
		} else {
			binary.BigEndian.PutUint16(ip[4:6], uint16(g.n-g.l4Off))
			pseudo = csum.Sum(ip[8:40], protoTCP+uint32(len(tcp)))
			h[1] = vnetGSOTCPv6
		}
		// CHECKSUM_PARTIAL: the field holds the pseudo-header sum and
		// the kernel finishes it (and trusts it: segments were verified).
		binary.BigEndian.PutUint16(tcp[16:18], csum.Fold(pseudo))
		h[0] = vnetFlagNeedsCsum
		binary.LittleEndian.PutUint16(h[2:4], uint16(g.hdrLen))
		binary.LittleEndian.PutUint16(h[4:6], uint16(g.mss))
		binary.LittleEndian.PutUint16(h[6:8], uint16(g.l4Off))
		binary.LittleEndian.PutUint16(h[8:10], 16)
	}
	g.segs = 0
	return g.buf[:vnetHdrLen+g.n]
}
