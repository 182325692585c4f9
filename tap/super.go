package tap

import (
	"encoding/binary"

	"github.com/vxswitch/vxswitch/internal/csum"
)

// tcpSuper describes a TCP frame longer than the port's MTU allows: what a
// sender's kernel hands a veth as one GSO super-frame (VXLAN-encapsulated,
// unsegmented) when no NIC is on the path to segment it.
type tcpSuper struct {
	hdr vnetHdr
}

// parseTCPSuper accepts a TCP/IPv4 (no options, not a fragment) or
// TCP/IPv6 frame whose IP length matches the frame, and returns the virtio
// header that describes segmenting it at the largest MSS the MTU allows.
func parseTCPSuper(f []byte, mtu int) (tcpSuper, bool) {
	if len(f) < ethHeaderLen+ipv6HeaderLen+tcpMinHeaderLen {
		return tcpSuper{}, false
	}
	ipOff, end := ethHeaderLen, 0
	h := vnetHdr{flags: vnetFlagNeedsCsum, csumOffset: 16}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherTypeIPv4:
		ip := f[ipOff:]
		if ip[0] != 0x45 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || ip[9] != protoTCP {
			return tcpSuper{}, false
		}
		h.gsoType, h.csumStart = vnetGSOTCPv4, uint16(ipOff+ipv4MinHeaderLen)
		end = ipOff + int(binary.BigEndian.Uint16(ip[2:4]))
	case etherTypeIPv6:
		ip := f[ipOff:]
		if ip[0]>>4 != 6 || ip[6] != protoTCP {
			return tcpSuper{}, false
		}
		h.gsoType, h.csumStart = vnetGSOTCPv6, uint16(ipOff+ipv6HeaderLen)
		end = int(h.csumStart) + int(binary.BigEndian.Uint16(ip[4:6]))
	default:
		return tcpSuper{}, false
	}
	l4 := int(h.csumStart)
	if end != len(f) || l4+tcpMinHeaderLen > end {
		return tcpSuper{}, false
	}
	hdrLen := l4 + int(f[l4+12]>>4)*4
	mss := mtu - (hdrLen - ipOff)
	if hdrLen < l4+tcpMinHeaderLen || hdrLen >= end || mss <= 0 {
		return tcpSuper{}, false
	}
	h.hdrLen, h.gsoSize = uint16(hdrLen), uint16(mss)
	return tcpSuper{hdr: h}, true
}

// WriteTCPSuper writes a TCP frame too long for the port's MTU as
// MTU-sized segments, the way the sender's NIC would have cut it: with
// offloads as one GSO write the kernel segments, otherwise segmented here.
// ok is false, and nothing written, when frame is not such a TCP frame;
// the caller then drops it as oversize.
func (t *TAP) WriteTCPSuper(frame []byte) (ok bool, err error) {
	mtu := t.mtu
	if mtu == 0 {
		mtu = 1500 // the kernel's default, which Open kept
	}
	s, ok := parseTCPSuper(frame, mtu)
	if !ok {
		return false, nil
	}
	if t.vnet != nil {
		v := t.vnet
		v.wmu.Lock()
		defer t.unlockW()
		if err := t.flushLocked(); err != nil {
			return true, err
		}
		// CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
		setPartial(frame, s.hdr)
		var vh [vnetHdrLen]byte
		vh[0], vh[1] = s.hdr.flags, s.hdr.gsoType
		binary.LittleEndian.PutUint16(vh[2:4], s.hdr.hdrLen)
		binary.LittleEndian.PutUint16(vh[4:6], s.hdr.gsoSize)
		binary.LittleEndian.PutUint16(vh[6:8], s.hdr.csumStart)
		binary.LittleEndian.PutUint16(vh[8:10], s.hdr.csumOffset)
		copy(v.whdrGSO[:], vh[:])
		_, err := t.writevLocked(t.txQueue(frame), v.whdrGSO[:], frame)
		return true, err
	}
	t.superMu.Lock()
	defer t.superMu.Unlock()
	if t.superBufs == nil {
		t.superBufs = make([][]byte, 64)
		for i := range t.superBufs {
			t.superBufs[i] = make([]byte, mtu+ethHeaderLen+4)
		}
		t.superSizes = make([]int, 64)
	}
	n, err := segmentTCP(frame, s.hdr, t.superBufs, t.superSizes, 0)
	if err != nil {
		return false, nil
	}
	q := t.txQueue(frame)
	for i := 0; i < n; i++ {
		if _, err := q.writePlain(t.superBufs[i][:t.superSizes[i]]); err != nil {
			return true, t.ioError("write", err)
		}
	}
	return true, nil
}

// setPartial writes the pseudo-header sum into the TCP checksum field.
func setPartial(f []byte, h vnetHdr) {
	l4 := f[h.csumStart:]
	var pseudo uint32
	if h.gsoType == vnetGSOTCPv4 {
		pseudo = csum.Sum(f[ethHeaderLen+12:ethHeaderLen+20], protoTCP+uint32(len(l4)))
	} else {
		pseudo = csum.Sum(f[ethHeaderLen+8:ethHeaderLen+40], protoTCP+uint32(len(l4)))
	}
	binary.BigEndian.PutUint16(l4[16:18], csum.Fold(pseudo))
}
