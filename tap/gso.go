package tap

import (
	"encoding/binary"
	"errors"
	"github.com/vxswitch/vxswitch/internal/csum"
)

// virtio-net header, as a TAP opened with IFF_VNET_HDR prefixes every frame
// (struct virtio_net_hdr in <linux/virtio_net.h>; native byte order, which
// is little-endian on every platform vxswitch runs on).
const (
	vnetHdrLen        = 10
	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetGSONone       = 0
	vnetGSOTCPv4      = 1
	vnetGSOTCPv6      = 4
	vnetGSOUDPL4      = 5 // VIRTIO_NET_HDR_GSO_UDP_L4: UDP segmentation, IPv4 or IPv6
	vnetGSOECN        = 0x80
	etherTypeIPv4     = 0x0800
	etherTypeIPv6     = 0x86dd
	etherTypeVLAN     = 0x8100
	ethHeaderLen      = 14
	ipv4MinHeaderLen  = 20
	ipv6HeaderLen     = 40
	tcpMinHeaderLen   = 20
	udpHeaderLen      = 8
	protoTCP          = 6
	tcpFlagFIN        = 0x01
	tcpFlagPSH        = 0x08
	tcpFlagCWR        = 0x80
)

// vnetHdr is a decoded virtio-net header.
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func decodeVnetHdr(b []byte) vnetHdr {
	return vnetHdr{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     binary.LittleEndian.Uint16(b[2:4]),
		gsoSize:    binary.LittleEndian.Uint16(b[4:6]),
		csumStart:  binary.LittleEndian.Uint16(b[6:8]),
		csumOffset: binary.LittleEndian.Uint16(b[8:10]),
	}
}

// errBadGSO marks a frame whose offload metadata does not match its bytes;
// the frame is dropped, never forwarded half-processed.
var errBadGSO = errors.New("tap: inconsistent offload header")

// errNoRoom: a super-frame has more segments than buffers were given.
var errNoRoom = errors.New("tap: more segments than buffers")

// completeChecksum finishes a CHECKSUM_PARTIAL frame: the kernel left the
// pseudo-header sum in the checksum field at csumStart+csumOffset, and the
// sum of everything from csumStart on completes it.
func completeChecksum(frame []byte, h vnetHdr) error {
	start, at, end := int(h.csumStart), int(h.csumStart)+int(h.csumOffset), l3End(frame)
	if start >= end || at+2 > end {
		return errBadGSO
	}
	sum := ^csum.Fold(csum.Sum(frame[start:end], 0))
	if sum == 0 && h.csumOffset == 6 { // UDP sends a computed zero as 0xffff
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(frame[at:], sum)
	return nil
}

// l3Start returns where frame's network header starts, after one 802.1Q
// tag if there is one, and its EtherType. frame holds at least an Ethernet
// header.
func l3Start(frame []byte) (ipOff int, etype uint16) {
	ipOff, etype = ethHeaderLen, binary.BigEndian.Uint16(frame[12:14])
	if etype == etherTypeVLAN && len(frame) >= ethHeaderLen+4 {
		ipOff, etype = ipOff+4, binary.BigEndian.Uint16(frame[16:18])
	}
	return ipOff, etype
}

// l3End is where the IP packet in frame ends, by its own length field, so
// that Ethernet padding never enters a checksum; len(frame) for other
// protocols or inconsistent lengths.
func l3End(frame []byte) int {
	ipOff, etype := l3Start(frame)
	end := len(frame)
	switch {
	case etype == etherTypeIPv4 && len(frame) >= ipOff+ipv4MinHeaderLen:
		end = ipOff + int(binary.BigEndian.Uint16(frame[ipOff+2:ipOff+4]))
	case etype == etherTypeIPv6 && len(frame) >= ipOff+ipv6HeaderLen:
		end = ipOff + ipv6HeaderLen + int(binary.BigEndian.Uint16(frame[ipOff+4:ipOff+6]))
	}
	if end > len(frame) {
		return len(frame)
	}
	return end
}

// segmentTCP splits a TCP super-frame the kernel handed over with TSO into
// frames of at most h.gsoSize payload bytes, as the NIC would: each gets
// copies of the Ethernet, IP and TCP headers with lengths, IPv4 ID, sequence
// number, flags (FIN and PSH only on the last, CWR only on the first) and
// checksums fixed. Segment i is written to out[i][offset:] and its length to
// sizes[i]. It returns the number of segments.
func segmentTCP(frame []byte, h vnetHdr, out [][]byte, sizes []int, offset int) (int, error) {
	ipOff, etype := l3Start(frame)
	l4 := int(h.csumStart)
	v4 := h.gsoType&^vnetGSOECN == vnetGSOTCPv4
	ipMin := ipv6HeaderLen
	if v4 {
		ipMin = ipv4MinHeaderLen
	}
	// The IP and TCP headers must fit where csumStart puts them: every
	// segment gets a copy of both, and a container can hand over any
	// bytes under a virtio header it made up (a packet socket with
	// PACKET_VNET_HDR).
	if l4+tcpMinHeaderLen > len(frame) || l4 < ipOff+ipMin {
		return 0, errBadGSO
	}
	if v4 && (etype != etherTypeIPv4 || frame[ipOff]>>4 != 4 || frame[ipOff+9] != protoTCP ||
		int(frame[ipOff]&0x0f)*4 > l4-ipOff || int(frame[ipOff]&0x0f)*4 < ipv4MinHeaderLen) {
		return 0, errBadGSO
	}
	if !v4 && (etype != etherTypeIPv6 || frame[ipOff]>>4 != 6) {
		return 0, errBadGSO
	}
	hdrLen := l4 + int(frame[l4+12]>>4)*4
	mss := int(h.gsoSize)
	if hdrLen < l4+tcpMinHeaderLen || hdrLen > len(frame) || mss == 0 {
		return 0, errBadGSO
	}
	n, id, err := segmentPlan(frame, ipOff, hdrLen, mss, v4, len(out))
	if err != nil {
		return 0, err
	}
	seq := binary.BigEndian.Uint32(frame[l4+4 : l4+8])
	flags := frame[l4+13]
	sums := sumsOf(frame[ipOff:l4], v4, protoTCP)
	for i := 0; i < n; i++ {
		seg, ok := cutSegment(frame, hdrLen, mss, i, out[i][offset:])
		if !ok {
			return 0, errBadGSO
		}
		segLen := len(seg)
		ip, tcp := seg[ipOff:l4], seg[l4:]
		l4Len := segLen - l4
		sums.fixIPHeader(ip, v4, segLen-ipOff, id+uint16(i))
		binary.BigEndian.PutUint32(tcp[4:8], seq+uint32(i*mss))
		f := flags
		if i != n-1 {
			f &^= tcpFlagFIN | tcpFlagPSH
		}
		if i != 0 {
			f &^= tcpFlagCWR
		}
		tcp[13] = f
		tcp[16], tcp[17] = 0, 0
		binary.BigEndian.PutUint16(tcp[16:18], ^csum.Fold(csum.Sum(tcp, sums.pseudo+uint32(l4Len))))
		sizes[i] = segLen
	}
	return n, nil
}

// segmentPlan returns how many segments of mss payload bytes a super-frame
// with hdrLen bytes of headers is cut into (one at least, for a frame with
// no payload), and for IPv4 the ID the first of them carries; errNoRoom if
// that is more than the room buffers given.
func segmentPlan(frame []byte, ipOff, hdrLen, mss int, v4 bool, room int) (n int, id uint16, err error) {
	n = max((len(frame)-hdrLen+mss-1)/mss, 1)
	if n > room {
		return 0, 0, errNoRoom
	}
	if v4 {
		id = binary.BigEndian.Uint16(frame[ipOff+4 : ipOff+6])
	}
	return n, id, nil
}

// cutSegment writes segment i of a super-frame cut at mss payload bytes
// into buf: frame's first hdrLen bytes of headers, then the segment's
// payload. ok is false if it does not fit.
func cutSegment(frame []byte, hdrLen, mss, i int, buf []byte) (seg []byte, ok bool) {
	payload := frame[hdrLen:]
	chunk := payload[min(i*mss, len(payload)):min((i+1)*mss, len(payload))]
	if hdrLen+len(chunk) > len(buf) {
		return nil, false
	}
	seg = buf[:hdrLen+len(chunk)]
	copy(seg, frame[:hdrLen])
	copy(seg[hdrLen:], chunk)
	return seg, true
}

// ipSums are the sums a super-frame's segments share, taken once: for
// IPv4 the IP header without its total length, ID and checksum fields;
// the transport pseudo-header without its length.
type ipSums struct {
	hdr    uint32 // IPv4 only
	pseudo uint32
}

// sumsOf returns the ipSums of a super-frame with IP header ip (its whole
// length, options included) and transport protocol proto.
func sumsOf(ip []byte, v4 bool, proto byte) ipSums {
	if !v4 {
		return ipSums{pseudo: csum.Sum(ip[8:40], uint32(proto))}
	}
	ihl := int(ip[0]&0x0f) * 4
	hdr := csum.Sum(ip[0:2], 0)     // version, IHL, TOS
	hdr = csum.Sum(ip[6:10], hdr)   // fragment field, TTL, protocol
	hdr = csum.Sum(ip[12:ihl], hdr) // addresses, options
	return ipSums{hdr: hdr, pseudo: csum.Sum(ip[12:20], uint32(proto))}
}

// fixIPHeader sets a segment's IP header for its length, ipLen bytes from
// the IP header on: for IPv4 the total length, ID id and header checksum,
// for IPv6 the payload length.
func (s ipSums) fixIPHeader(ip []byte, v4 bool, ipLen int, id uint16) {
	if !v4 {
		binary.BigEndian.PutUint16(ip[4:6], uint16(ipLen-ipv6HeaderLen))
		return
	}
	binary.BigEndian.PutUint16(ip[2:4], uint16(ipLen))
	binary.BigEndian.PutUint16(ip[4:6], id)
	binary.BigEndian.PutUint16(ip[10:12], ^csum.Fold(s.hdr+uint32(ipLen)+uint32(id)))
}

// segmentUDP splits a UDP super-frame the kernel handed over with UDP
// segmentation offload (a container's socket sent with UDP_SEGMENT) into
// datagrams of h.gsoSize payload bytes, the last possibly shorter, as the
// kernel's own segmentation would: each gets copies of the Ethernet, IP and
// UDP headers with lengths, IPv4 ID (counting up from the super-frame's)
// and checksums fixed. Like segmentTCP it writes segment i to
// out[i][offset:] and returns the number of segments.
func segmentUDP(frame []byte, h vnetHdr, out [][]byte, sizes []int, offset int) (int, error) {
	ipOff, etype := l3Start(frame)
	l4 := int(h.csumStart)
	hdrLen := l4 + udpHeaderLen
	mss := int(h.gsoSize)
	if hdrLen > len(frame) || l4 <= ipOff || mss == 0 {
		return 0, errBadGSO
	}
	var v4 bool
	switch {
	// The headers must be what csumStart says they are: l4 within the
	// frame (checked above) makes the IP header's bytes safe to read.
	case etype == etherTypeIPv4 && l4 >= ipOff+ipv4MinHeaderLen && frame[ipOff]>>4 == 4 &&
		l4 == ipOff+int(frame[ipOff]&0x0f)*4 && frame[ipOff+9] == protoUDP:
		v4 = true
	case etype == etherTypeIPv6 && l4 == ipOff+ipv6HeaderLen && frame[ipOff]>>4 == 6 && frame[ipOff+6] == protoUDP:
	default:
		return 0, errBadGSO
	}
	n, id, err := segmentPlan(frame, ipOff, hdrLen, mss, v4, len(out))
	if err != nil {
		return 0, err
	}
	sums := sumsOf(frame[ipOff:l4], v4, protoUDP)
	for i := 0; i < n; i++ {
		seg, ok := cutSegment(frame, hdrLen, mss, i, out[i][offset:])
		if !ok {
			return 0, errBadGSO
		}
		ip, udp := seg[ipOff:l4], seg[l4:]
		sums.fixIPHeader(ip, v4, len(seg)-ipOff, id+uint16(i))
		binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
		udp[6], udp[7] = 0, 0
		c := ^csum.Fold(csum.Sum(udp, sums.pseudo+uint32(len(udp))))
		if c == 0 {
			c = 0xffff // a computed zero goes out as all ones
		}
		binary.BigEndian.PutUint16(udp[6:8], c)
		sizes[i] = len(seg)
	}
	return n, nil
}
