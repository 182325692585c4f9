package tap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// udpFlow describes the datagrams udpDatagrams builds: one flow, IPv4 IDs
// counting up from id.
type udpFlow struct {
	v6    bool
	sport uint16
	id    uint16
}

// udpDatagrams builds one datagram per payload size, each with valid
// checksums and its own payload bytes, as a sending stack would.
func udpDatagrams(t *testing.T, f udpFlow, sizes ...int) [][]byte {
	t.Helper()
	var out [][]byte
	for i, size := range sizes {
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(i*7 + j*3 + 1)
		}
		out = append(out, udpFrame(t, f.v6, f.sport, f.id+uint16(i), payload))
	}
	return out
}

func udpFrame(t testing.TB, v6 bool, sport, id uint16, payload []byte) []byte {
	t.Helper()
	e := udpEnds{srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		src: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), sport), dst: netip.MustParseAddrPort("192.0.2.2:5201")}
	if v6 {
		e.src = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), sport)
		e.dst = netip.MustParseAddrPort("[2001:db8::2]:5201")
	}
	return udpFrameOf(t, e, id, payload)
}

// udpEnds are the Ethernet and UDP endpoints of a datagram.
type udpEnds struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.AddrPort
}

// udpFrameOf builds the datagram from e.src to e.dst with valid checksums:
// over IPv4 with ID id and DF set, as a connected socket sends.
func udpFrameOf(t testing.TB, e udpEnds, id uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: e.srcMAC, DstMAC: e.dstMAC}
	udp := &layers.UDP{SrcPort: layers.UDPPort(e.src.Port()), DstPort: layers.UDPPort(e.dst.Port())}
	var ip gopacket.SerializableLayer
	if e.dst.Addr().Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: e.src.Addr().AsSlice(), DstIP: e.dst.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocolUDP, SrcIP: e.src.Addr().AsSlice(), DstIP: e.dst.Addr().AsSlice()}
		udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// resegmentUDP cuts a frame WriteCoalesce would write (virtio header
// first) the way the kernel would, with segmentUDP.
func resegmentUDP(t testing.TB, written []byte) [][]byte {
	t.Helper()
	h := decodeVnetHdr(written)
	out := make([][]byte, 128)
	for i := range out {
		out[i] = make([]byte, 2000)
	}
	sizes := make([]int, len(out))
	n, err := segmentUDP(written[vnetHdrLen:], h, out, sizes, 0)
	if err != nil {
		t.Fatalf("segmentUDP: %v", err)
	}
	segs := make([][]byte, n)
	for i := range segs {
		segs[i] = out[i][:sizes[i]]
	}
	return segs
}

// TestUSOMergesAndResegmentsExactly: datagrams of one flow merge into one
// UDP GSO write, and cutting it as the kernel does gives back every
// datagram byte for byte, IPv4 IDs and checksums included.
func TestUSOMergesAndResegmentsExactly(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, sizes := range [][]int{
			{64, 64},
			{64, 64, 64, 64, 64, 64, 64, 64, 64, 20},
			{1400, 1400, 1400, 18}, // shorter would be padded to 60 bytes, and left alone
			{1000, 1000, 1000, 1000},
		} {
			name := fmt.Sprintf("v6=%v sizes=%v", v6, sizes)
			dgrams := udpDatagrams(t, udpFlow{v6: v6, sport: 40000, id: 0xfffe}, sizes...) // IDs wrap
			written := feed(dgrams)
			if len(written) != 1 {
				t.Fatalf("%s: %d writes, want 1", name, len(written))
			}
			h := decodeVnetHdr(written[0])
			l4 := 14 + 20
			if v6 {
				l4 = 14 + 40
			}
			want := vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOUDPL4, hdrLen: uint16(l4 + 8),
				gsoSize: uint16(sizes[0]), csumStart: uint16(l4), csumOffset: 6}
			if h != want {
				t.Fatalf("%s: virtio header %+v, want %+v", name, h, want)
			}
			segs := resegmentUDP(t, written[0])
			if len(segs) != len(dgrams) {
				t.Fatalf("%s: resegmented into %d, want %d", name, len(segs), len(dgrams))
			}
			for i := range segs {
				if !bytes.Equal(segs[i], dgrams[i]) {
					t.Fatalf("%s: datagram %d differs after merge and resegment:\n got %x\nwant %x", name, i, segs[i], dgrams[i])
				}
			}
		}
	}
}

// TestUSOKeepsApart: whatever the kernel could not cut back into the same
// datagrams is not merged.
func TestUSOKeepsApart(t *testing.T) {
	flow := udpFlow{sport: 40000, id: 100}
	cases := []struct {
		name   string
		frames func() [][]byte
		writes int
	}{
		{"IPv4 ID gap", func() [][]byte {
			a := udpDatagrams(t, flow, 64, 64)
			b := udpDatagrams(t, udpFlow{sport: 40000, id: 103}, 64)
			return append(a, b...)
		}, 2},
		{"other port", func() [][]byte {
			a := udpDatagrams(t, flow, 64, 64)
			b := udpDatagrams(t, udpFlow{sport: 40001, id: 102}, 64)
			return append(a, b...)
		}, 2},
		{"larger than the first", func() [][]byte { return udpDatagrams(t, flow, 64, 65) }, 2},
		{"after a shorter one", func() [][]byte { return udpDatagrams(t, flow, 64, 20, 20) }, 2},
		{"IPv4 without checksum", func() [][]byte {
			d := udpDatagrams(t, flow, 64, 64, 64)
			binary.BigEndian.PutUint16(d[1][14+20+6:], 0)
			return d
		}, 3},
		{"bad IPv4 header checksum", func() [][]byte {
			d := udpDatagrams(t, flow, 64, 64, 64)
			d[1][14+10] ^= 0x5a
			return d
		}, 3},
		{"bad checksum", func() [][]byte {
			d := udpDatagrams(t, flow, 64, 64, 64)
			d[1][len(d[1])-1] ^= 0xff
			return d
		}, 3},
		{"other TTL", func() [][]byte {
			d := udpDatagrams(t, flow, 64, 64)
			d[1][14+8]--
			binary.BigEndian.PutUint16(d[1][14+10:], 0)
			binary.BigEndian.PutUint16(d[1][14+10:], ^foldSum(d[1][14:14+20]))
			return d
		}, 2},
		{"more than groMaxUDP", func() [][]byte {
			sizes := make([]int, groMaxUDP+1)
			for i := range sizes {
				sizes[i] = 64
			}
			return udpDatagrams(t, flow, sizes...)
		}, 2},
		{"no payload", func() [][]byte { return udpDatagrams(t, flow, 0, 0) }, 2},
	}
	for _, c := range cases {
		if got := len(feed(c.frames())); got != c.writes {
			t.Errorf("%s: %d writes, want %d", c.name, got, c.writes)
		}
	}
	// Without UDP segmentation offload nothing UDP merges.
	if got := len(feedUSO(udpDatagrams(t, flow, 64, 64, 64), false)); got != 3 {
		t.Errorf("without USO: %d writes for 3 datagrams, want 3", got)
	}
}

// foldSum is the one's complement sum of b, folded: an oracle independent
// of internal/csum.
func foldSum(b []byte) uint16 {
	var s uint32
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// udpChecksumOK checks a datagram's IPv4 header and UDP checksums with
// foldSum.
func udpChecksumOK(f []byte, v6 bool) bool {
	ip := f[14:]
	var l4 []byte
	var pseudo []byte
	if v6 {
		l4, pseudo = ip[40:], append([]byte(nil), ip[8:40]...)
	} else {
		if foldSum(ip[:20]) != 0xffff {
			return false
		}
		l4, pseudo = ip[20:], append([]byte(nil), ip[12:20]...)
	}
	pseudo = append(pseudo, 0, 17, byte(len(l4)>>8), byte(len(l4)))
	return binary.BigEndian.Uint16(l4[6:]) != 0 && foldSum(append(pseudo, l4...)) == 0xffff
}

// TestSegmentUDP cuts super-frames as a container's UDP_SEGMENT send
// would hand them over: sizes, IDs, lengths and checksums of every
// datagram.
func TestSegmentUDP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tc := range []struct{ total, mss int }{{18, 100}, {100, 100}, {1000, 100}, {1001, 100}, {60000, 1400}} {
			payload := make([]byte, tc.total)
			for i := range payload {
				payload[i] = byte(i * 5)
			}
			super := udpFrame(t, v6, 40000, 7, payload)
			l4 := 14 + 20
			if v6 {
				l4 = 14 + 40
			}
			h := vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOUDPL4, hdrLen: uint16(l4 + 8),
				gsoSize: uint16(tc.mss), csumStart: uint16(l4), csumOffset: 6}
			segs := resegmentUDP(t, append(encodeVnetHdr(h), super...))
			wantN := (tc.total + tc.mss - 1) / tc.mss
			if len(segs) != wantN {
				t.Fatalf("v6=%v %d/%d: %d datagrams, want %d", v6, tc.total, tc.mss, len(segs), wantN)
			}
			var got []byte
			for i, s := range segs {
				if !udpChecksumOK(s, v6) {
					t.Errorf("v6=%v %d/%d: datagram %d: bad checksum", v6, tc.total, tc.mss, i)
				}
				if !v6 && binary.BigEndian.Uint16(s[14+4:]) != 7+uint16(i) {
					t.Errorf("datagram %d: IPv4 ID %d, want %d", i, binary.BigEndian.Uint16(s[14+4:]), 7+i)
				}
				if n := int(binary.BigEndian.Uint16(s[l4+4:])); n != len(s)-l4 {
					t.Errorf("datagram %d: UDP length %d, want %d", i, n, len(s)-l4)
				}
				got = append(got, s[l4+8:]...)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("v6=%v %d/%d: payloads do not add up to the super-frame's", v6, tc.total, tc.mss)
			}
		}
	}
}

// TestSegmentUDPRejectsInconsistentHeaders: a header that does not
// describe the frame is refused, never cut at the wrong place.
func TestSegmentUDPRejectsInconsistentHeaders(t *testing.T) {
	super := udpFrame(t, false, 40000, 7, make([]byte, 1000))
	good := vnetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOUDPL4, hdrLen: 42, gsoSize: 100, csumStart: 34, csumOffset: 6}
	out := make([][]byte, 8)
	for i := range out {
		out[i] = make([]byte, 2000)
	}
	sizes := make([]int, len(out))
	for name, h := range map[string]vnetHdr{
		"csumStart inside IP": {gsoType: vnetGSOUDPL4, gsoSize: 100, csumStart: 30},
		"csumStart past end":  {gsoType: vnetGSOUDPL4, gsoSize: 100, csumStart: 2000},
		"zero gsoSize":        {gsoType: vnetGSOUDPL4, csumStart: 34},
	} {
		if _, err := segmentUDP(super, h, out, sizes, 0); err != errBadGSO {
			t.Errorf("%s: err %v, want errBadGSO", name, err)
		}
	}
	tcp := append([]byte(nil), super...)
	tcp[14+9] = protoTCP
	if _, err := segmentUDP(tcp, good, out, sizes, 0); err != errBadGSO {
		t.Errorf("TCP under a UDP header: err %v, want errBadGSO", err)
	}
	if _, err := segmentUDP(super, good, out, sizes, 0); err != errNoRoom {
		t.Errorf("10 datagrams into 8 buffers: err %v, want errNoRoom", err)
	}
}
