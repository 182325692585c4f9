package fuzzpeer

import (
	"encoding/binary"
	"github.com/vxswitch/vxswitch/internal/csum"
	"net/netip"
)

// Identity is a station in the overlay: a MAC and an IPv4 address. Its
// IPv6 address is the EUI-64 link-local one derived from the MAC, as Linux
// configures by default.
type Identity struct {
	MAC [6]byte
	IP  netip.Addr
}

// LinkLocal is the station's EUI-64 IPv6 link-local address (RFC 4291 §2.5.1).
func (id Identity) LinkLocal() netip.Addr { return linkLocal(id.MAC) }

func linkLocal(m [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 2, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]})
}

// Offsets and constants of the frames built here.
const (
	ethLen       = 14
	ipv4Len      = 20
	ipv6Len      = 40
	icmpEchoLen  = 8
	tagLen       = 8 // "vxfz" + big-endian datagram index
	etherIPv4    = 0x0800
	etherARP     = 0x0806
	etherIPv6    = 0x86dd
	protoICMP    = 1
	protoICMPv6  = 58
	icmpEcho     = 8
	icmpEchoRe   = 0
	icmp6Echo    = 128
	icmp6EchoRe  = 129
	icmp6NS      = 135
	icmp6NA      = 136
	minFrame     = 60 // Ethernet minimum without FCS
	tagMagic     = "vxfz"
	arpBodyLen   = 28
	arpRequest   = 1
	arpReply     = 2
	ndOptSrcLL   = 1
	ndOptTgtLL   = 2
	ndHopLimit   = 255
	ndFlagSolOvr = 0x60
)

var (
	broadcastMAC   = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodes       = netip.MustParseAddr("ff02::1")
	allNodesMAC    = [6]byte{0x33, 0x33, 0, 0, 0, 1}
	limitedBcastV4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

func ethHeader(dst, src [6]byte, typ uint16) []byte {
	b := make([]byte, ethLen, 128)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], typ)
	return b
}

// padded pads a frame to the Ethernet minimum, as a NIC would.
func padded(f []byte) []byte {
	if len(f) < minFrame {
		f = append(f, make([]byte, minFrame-len(f))...)
	}
	return f
}

// arpFrame is an Ethernet/IPv4 ARP packet (RFC 826).
func arpFrame(dst [6]byte, op uint16, sender Identity, thaMAC [6]byte, tpa netip.Addr) []byte {
	f := ethHeader(dst, sender.MAC, etherARP)
	a := make([]byte, arpBodyLen)
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], etherIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sender.MAC[:])
	spa, tp := sender.IP.As4(), tpa.As4()
	copy(a[14:18], spa[:])
	copy(a[18:24], thaMAC[:])
	copy(a[24:28], tp[:])
	return padded(append(f, a...))
}

// tag is the payload of echo requests: it survives into the echo reply and
// names the datagram that caused it.
func tag(index uint32) []byte {
	b := make([]byte, tagLen)
	copy(b, tagMagic)
	binary.BigEndian.PutUint32(b[4:], index)
	return b
}

// readTag finds a tag in an echo reply's payload.
func readTag(p []byte) (uint32, bool) {
	if len(p) < tagLen || string(p[:4]) != tagMagic {
		return 0, false
	}
	return binary.BigEndian.Uint32(p[4:8]), true
}

// echo4Frame is an ICMP echo request from src to dst (at dstMAC).
func echo4Frame(dstMAC [6]byte, src Identity, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	f := ethHeader(dstMAC, src.MAC, etherIPv4)
	ip := make([]byte, ipv4Len+icmpEchoLen+len(payload))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[4:6], seq)
	ip[6] = 0x40 // DF
	ip[8], ip[9] = 64, protoICMP
	s, d := src.IP.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	icmp := ip[ipv4Len:]
	icmp[0] = icmpEcho
	binary.BigEndian.PutUint16(icmp[4:6], id)
	binary.BigEndian.PutUint16(icmp[6:8], seq)
	copy(icmp[8:], payload)
	fixIPv4(ip)
	return padded(append(f, ip...))
}

// fixIPv4 recomputes the IPv4 header checksum, and the ICMP checksum when
// the packet is ICMP and complete.
func fixIPv4(ip []byte) {
	if len(ip) < ipv4Len {
		return
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < ipv4Len || ihl > len(ip) {
		ihl = ipv4Len
	}
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:12], ^csum.Fold(csum.Sum(ip[:ihl], 0)))
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[9] == protoICMP && total <= len(ip) && total >= ihl+4 {
		icmp := ip[ihl:total]
		icmp[2], icmp[3] = 0, 0
		binary.BigEndian.PutUint16(icmp[2:4], ^csum.Fold(csum.Sum(icmp, 0)))
	}
}

// echo6Frame is an ICMPv6 echo request from src's link-local address to dst.
func echo6Frame(dstMAC [6]byte, src Identity, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	f := ethHeader(dstMAC, src.MAC, etherIPv6)
	body := make([]byte, icmpEchoLen+len(payload))
	body[0] = icmp6Echo
	binary.BigEndian.PutUint16(body[4:6], id)
	binary.BigEndian.PutUint16(body[6:8], seq)
	copy(body[8:], payload)
	return padded(append(f, ipv6Packet(src.LinkLocal(), dst, 64, body)...))
}

// nsFrame is a neighbor solicitation (RFC 4861 §4.3) for target from src.
func nsFrame(src Identity, target netip.Addr) []byte {
	t := target.As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	dst := [6]byte{0x33, 0x33, 0xff, t[13], t[14], t[15]}
	body := make([]byte, 24+8)
	body[0] = icmp6NS
	copy(body[8:24], t[:])
	body[24], body[25] = ndOptSrcLL, 1
	copy(body[26:32], src.MAC[:])
	return padded(append(ethHeader(dst, src.MAC, etherIPv6), ipv6Packet(src.LinkLocal(), group, ndHopLimit, body)...))
}

// naFrame answers a solicitation from (toMAC, toIP): target is at mac.
func naFrame(toMAC [6]byte, toIP netip.Addr, target netip.Addr, mac [6]byte) []byte {
	t := target.As16()
	body := make([]byte, 24+8)
	body[0] = icmp6NA
	body[4] = ndFlagSolOvr
	copy(body[8:24], t[:])
	body[24], body[25] = ndOptTgtLL, 1
	copy(body[26:32], mac[:])
	return padded(append(ethHeader(toMAC, mac, etherIPv6), ipv6Packet(target, toIP, ndHopLimit, body)...))
}

// ipv6Packet is an IPv6 header and an ICMPv6 message with its checksum.
func ipv6Packet(src, dst netip.Addr, hopLimit uint8, icmp []byte) []byte {
	p := make([]byte, ipv6Len, ipv6Len+len(icmp))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:6], uint16(len(icmp)))
	p[6], p[7] = protoICMPv6, hopLimit
	s, d := src.As16(), dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	p = append(p, icmp...)
	fixICMPv6(p, ipv6Len)
	return p
}

// fixICMPv6 recomputes the checksum of the ICMPv6 message at off in the
// IPv6 packet p (RFC 8200 §8.1 pseudo-header), up to the payload length.
func fixICMPv6(p []byte, off int) {
	end := min(ipv6Len+int(binary.BigEndian.Uint16(p[4:6])), len(p))
	if off+4 > end {
		return
	}
	msg := p[off:end]
	msg[2], msg[3] = 0, 0
	s := csum.Sum(p[8:40], uint32(len(msg))+protoICMPv6)
	binary.BigEndian.PutUint16(msg[2:4], ^csum.Fold(csum.Sum(msg, s)))
}
