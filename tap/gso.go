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
	vnetGSOECN        = 0x80
	etherTypeIPv4     = 0x0800
	etherTypeIPv6     = 0x86dd
	etherTypeVLAN     = 0x8100
	ethHeaderLen      = 14
	ipv4MinHeaderLen  = 20
	ipv6HeaderLen     = 40
	tcpMinHeaderLen   = 20
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

// l3End is where the IP packet in frame ends, by its own length field, so
// that Ethernet padding never enters a checksum; len(frame) for other
// protocols or inconsistent lengths.
func l3End(frame []byte) int {
	ipOff := ethHeaderLen
	etype := binary.BigEndian.Uint16(frame[12:14])
	if etype == etherTypeVLAN && len(frame) >= ethHeaderLen+4 {
		ipOff += 4
		etype = binary.BigEndian.Uint16(frame[16:18])
	}
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
	ipOff := ethHeaderLen
	etype := binary.BigEndian.Uint16(frame[12:14])
	if etype == etherTypeVLAN && len(frame) >= ethHeaderLen+4 {
		ipOff += 4
		etype = binary.BigEndian.Uint16(frame[16:18])
	}
	l4 := int(h.csumStart)
	if l4+tcpMinHeaderLen > len(frame) || l4 <= ipOff {
		return 0, errBadGSO
	}
	v4 := h.gsoType&^vnetGSOECN == vnetGSOTCPv4
	if v4 && (etype != etherTypeIPv4 || frame[ipOff]>>4 != 4 || frame[ipOff+9] != protoTCP) {
		return 0, errBadGSO
	}
	if !v4 && (etype != etherTypeIPv6 || frame[ipOff]>>4 != 6) {
		return 0, errBadGSO
	}
	hdrLen := l4 + int(frame[l4+12]>>4)*4
	mss := int(h.gsoSize)
	if hdrLen > len(frame) || mss == 0 {
		return 0, errBadGSO
	}
	payload := frame[hdrLen:]
	n := (len(payload) + mss - 1) / mss
	if n == 0 {
		n = 1
	}
	if n > len(out) {
		return 0, errNoRoom
	}
	seq := binary.BigEndian.Uint32(frame[l4+4 : l4+8])
	flags := frame[l4+13]
	var id uint16
	if v4 {
		id = binary.BigEndian.Uint16(frame[ipOff+4 : ipOff+6])
	}
	for i := 0; i < n; i++ {
		chunk := payload[min(i*mss, len(payload)):min((i+1)*mss, len(payload))]
		segLen := hdrLen + len(chunk)
		if offset+segLen > len(out[i]) {
			return 0, errBadGSO
		}
		seg := out[i][offset : offset+segLen]
		copy(seg, frame[:hdrLen])
		copy(seg[hdrLen:], chunk)
		ip, tcp := seg[ipOff:l4], seg[l4:]
		l4Len := segLen - l4
		if v4 {
			binary.BigEndian.PutUint16(ip[2:4], uint16(segLen-ipOff))
			binary.BigEndian.PutUint16(ip[4:6], id+uint16(i))
			ip[10], ip[11] = 0, 0
			ihl := int(ip[0]&0x0f) * 4
			binary.BigEndian.PutUint16(ip[10:12], ^csum.Fold(csum.Sum(ip[:ihl], 0)))
		} else {
			binary.BigEndian.PutUint16(ip[4:6], uint16(segLen-ipOff-ipv6HeaderLen))
		}
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
		var pseudo uint32
		if v4 {
			pseudo = csum.Sum(ip[12:20], uint32(protoTCP)+uint32(l4Len))
		} else {
			pseudo = csum.Sum(ip[8:40], uint32(protoTCP)+uint32(l4Len))
		}
		binary.BigEndian.PutUint16(tcp[16:18], ^csum.Fold(csum.Sum(tcp, pseudo)))
		sizes[i] = segLen
	}
	return n, nil
}
