package tap

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeVnet hands decodeVnet whatever a TAP read could return: any
// virtio header over any frame. It must never panic, and every datagram it
// cuts from a UDP super-frame must carry valid checksums.
func FuzzDecodeVnet(f *testing.F) {
	udp := udpFrame(f, false, 40000, 1, make([]byte, 500))
	f.Add(append(encodeVnetHdr(vnetHdr{flags: 1, gsoType: vnetGSOUDPL4, hdrLen: 42, gsoSize: 100, csumStart: 34, csumOffset: 6}), udp...))
	udp6 := udpFrame(f, true, 40000, 1, make([]byte, 500))
	f.Add(append(encodeVnetHdr(vnetHdr{flags: 1, gsoType: vnetGSOUDPL4, hdrLen: 62, gsoSize: 64, csumStart: 54, csumOffset: 6}), udp6...))
	tcp, h := tcpSuperFrame(f, false, make([]byte, 3000), 1000, "P")
	f.Add(append(encodeVnetHdr(h), tcp...))
	f.Add(append(encodeVnetHdr(vnetHdr{flags: 1, csumStart: 34, csumOffset: 6}), udp...))
	q := &queue{t: &TAP{vnet: &vnetState{uso: true}}}
	bufs, sizes := bufsOf(64)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := q.decodeVnet(b, bufs, sizes, 0)
		if err != nil {
			return
		}
		if len(b) < vnetHdrLen || decodeVnetHdr(b).gsoType != vnetGSOUDPL4 {
			return
		}
		v6 := binary.BigEndian.Uint16(b[vnetHdrLen+12:]) == etherTypeIPv6
		for i := range n {
			if !udpChecksumOK(bufs[i][:sizes[i]], v6) {
				t.Fatalf("datagram %d of %d cut from a UDP super-frame has a bad checksum", i, n)
			}
		}
	})
}

// FuzzCoalesceUDP feeds WriteCoalesce's merging a run of datagrams of one
// flow, each possibly changed by the fuzzer (a byte overwritten, the
// checksum then fixed or not), and checks the kernel's side of the
// contract: cutting every merged write as the kernel does gives back
// exactly the datagrams fed, in order; a write without GSO is a datagram as
// fed.
func FuzzCoalesceUDP(f *testing.F) {
	f.Add(false, uint8(10), uint16(64), []byte{})
	f.Add(true, uint8(70), uint16(100), []byte{3, 20, 0xff, 1})
	f.Add(false, uint8(5), uint16(1000), []byte{4, 18, 7, 0, 2, 50, 1, 1})
	f.Add(false, uint8(3), uint16(64), []byte{0, 1, 24, 0x5a, 0}) // an IPv4 header checksum broken
	f.Fuzz(func(t *testing.T, v6 bool, count uint8, size uint16, edits []byte) {
		n := int(count)%80 + 1
		sz := int(size)%1400 + 18 // at least 60 bytes: unpadded
		frames := make([][]byte, n)
		for i := range frames {
			p := payloadN(i, sz)
			if i == n-1 && len(edits) > 0 {
				p = p[:max(18, sz-int(edits[0]))] // the last one shorter
			}
			frames[i] = udpFrame(t, v6, 40000, uint16(7+i), p)
		}
		// Edits: (datagram, offset, value, fix checksum) quadruples.
		for e := edits; len(e) >= 4; e = e[4:] {
			fr := frames[int(e[0])%n]
			fr[int(e[1])%len(fr)] = e[2]
			if e[3]&1 != 0 {
				fixUDPChecksums(fr, v6)
			}
		}
		in := make([][]byte, n)
		for i := range frames {
			in[i] = append([]byte(nil), frames[i]...)
		}
		var out [][]byte
		for _, w := range feed(frames) {
			h := decodeVnetHdr(w)
			if h.gsoType == vnetGSONone {
				out = append(out, w[vnetHdrLen:])
				continue
			}
			if h.gsoType != vnetGSOUDPL4 {
				t.Fatalf("merged UDP datagrams under GSO type %d", h.gsoType)
			}
			out = append(out, resegmentUDP(t, w)...)
		}
		if len(out) != n {
			t.Fatalf("%d datagrams in, %d out", n, len(out))
		}
		for i := range in {
			if !bytes.Equal(out[i], in[i]) {
				t.Fatalf("datagram %d changed:\n got %x\nwant %x", i, out[i], in[i])
			}
		}
	})
}

// fixUDPChecksums recomputes an IPv4 header checksum and the UDP checksum
// of an unpadded datagram whose header fields still parse; otherwise it
// leaves the frame alone.
func fixUDPChecksums(f []byte, v6 bool) {
	ip := f[14:]
	l4 := 20
	if v6 {
		l4 = 40
	}
	if len(ip) < l4+8 {
		return
	}
	if !v6 {
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^foldSum(ip[:20]))
	}
	u := ip[l4:]
	u[6], u[7] = 0, 0
	var pseudo []byte
	if v6 {
		pseudo = append([]byte(nil), ip[8:40]...)
	} else {
		pseudo = append([]byte(nil), ip[12:20]...)
	}
	proto := ip[9]
	if v6 {
		proto = ip[6]
	}
	pseudo = append(pseudo, 0, proto, byte(len(u)>>8), byte(len(u)))
	c := ^foldSum(append(pseudo, u...))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
}
