package tap

import (
	"bytes"
	"encoding/binary"
	"github.com/vxswitch/vxswitch/internal/csum"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpSuperFrame builds an Ethernet/IPvX/TCP frame with payload as the
// kernel hands it over with TSO, and its virtio header.
func tcpSuperFrame(t testing.TB, v6 bool, payload []byte, mss int, flags string) ([]byte, vnetHdr) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5001, Seq: 0xfffff000, Ack: 77, Window: 500, DataOffset: 8,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}}
	tcp.ACK = true
	tcp.PSH = bytes.ContainsRune([]byte(flags), 'P')
	tcp.FIN = bytes.ContainsRune([]byte(flags), 'F')
	tcp.CWR = bytes.ContainsRune([]byte(flags), 'C')
	var net gopacket.SerializableLayer
	h := vnetHdr{flags: vnetFlagNeedsCsum, gsoSize: uint16(mss), csumOffset: 16}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
			SrcIP: []byte{0x20, 0x01, 0xd, 0xb8, 15: 1}, DstIP: []byte{0x20, 0x01, 0xd, 0xb8, 15: 2}}
		tcp.SetNetworkLayerForChecksum(ip)
		net, h.gsoType, h.csumStart = ip, vnetGSOTCPv6, 14+40
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0xfffe, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
			SrcIP: net4(10, 0, 1, 2), DstIP: net4(10, 0, 1, 3)}
		tcp.SetNetworkLayerForChecksum(ip)
		net, h.gsoType, h.csumStart = ip, vnetGSOTCPv4, 14+20
	}
	buf := gopacket.NewSerializeBuffer()
	// The kernel leaves a partial checksum; a full one must not be relied on.
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, net, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

func net4(a, b, c, d byte) net.IP { return net.IP{a, b, c, d} }

// verifyL4 checks an IPv4 header checksum and the TCP checksum over the
// pseudo-header, independently of the code under test's helpers.
func verifyL4(t *testing.T, seg []byte, v6 bool) {
	t.Helper()
	sum := func(b []byte, s uint32) uint32 {
		for len(b) >= 2 {
			s += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			s += uint32(b[0]) << 8
		}
		return s
	}
	fold := func(s uint32) uint16 {
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		return uint16(s)
	}
	ip := seg[14:]
	var l4 []byte
	var pseudo uint32
	if v6 {
		l4 = ip[40:]
		pseudo = sum(ip[8:40], 6+uint32(len(l4)))
	} else {
		if fold(sum(ip[:20], 0)) != 0xffff {
			t.Errorf("IPv4 header checksum wrong")
		}
		l4 = ip[20:]
		pseudo = sum(ip[12:20], 6+uint32(len(l4)))
	}
	if fold(sum(l4, pseudo)) != 0xffff {
		t.Errorf("TCP checksum wrong")
	}
}

func TestSegmentTCP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, size := range []int{1, 1448, 1449, 3000, 65000 - 80} {
			payload := make([]byte, size)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			frame, h := tcpSuperFrame(t, v6, payload, 1448, "PFC")
			out := make([][]byte, 64)
			for i := range out {
				out[i] = make([]byte, 16+2000)
			}
			sizes := make([]int, 64)
			n, err := segmentTCP(frame, h, out, sizes, 16)
			if err != nil {
				t.Fatalf("v6=%v size %d: %v", v6, size, err)
			}
			if want := (size + 1447) / 1448; n != want {
				t.Fatalf("v6=%v size %d: %d segments, want %d", v6, size, n, want)
			}
			var got []byte
			var lastID uint16
			for i := 0; i < n; i++ {
				seg := out[i][16 : 16+sizes[i]]
				verifyL4(t, seg, v6)
				p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
				tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if tcp == nil {
					t.Fatalf("segment %d does not decode as TCP", i)
				}
				if want := uint32(0xfffff000) + uint32(i*1448); tcp.Seq != want {
					t.Errorf("segment %d seq %#x, want %#x (wraps)", i, tcp.Seq, want)
				}
				last := i == n-1
				if tcp.FIN != last || tcp.PSH != last || tcp.CWR != (i == 0) || !tcp.ACK {
					t.Errorf("segment %d flags FIN %v PSH %v CWR %v ACK %v", i, tcp.FIN, tcp.PSH, tcp.CWR, tcp.ACK)
				}
				if len(tcp.Options) != 3 {
					t.Errorf("segment %d lost its TCP options", i)
				}
				if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
					if int(ip4.Length) != len(seg)-14 {
						t.Errorf("segment %d IPv4 length %d, frame %d", i, ip4.Length, len(seg))
					}
					if i > 0 && ip4.Id != lastID+1 {
						t.Errorf("segment %d IPv4 id %d after %d", i, ip4.Id, lastID)
					}
					lastID = ip4.Id
				}
				if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && int(ip6.Length) != len(seg)-14-40 {
					t.Errorf("segment %d IPv6 payload length %d", i, ip6.Length)
				}
				got = append(got, tcp.Payload...)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("v6=%v size %d: reassembled payload differs", v6, size)
			}
		}
	}
}

func TestSegmentTCPRejectsInconsistentHeaders(t *testing.T) {
	frame, h := tcpSuperFrame(t, false, make([]byte, 5000), 1448, "")
	out := make([][]byte, 2) // too few buffers for 4 segments
	for i := range out {
		out[i] = make([]byte, 2000)
	}
	sizes := make([]int, 2)
	if _, err := segmentTCP(frame, h, out, sizes, 0); err == nil {
		t.Error("4 segments into 2 buffers: no error")
	}
	for name, mutate := range map[string]func(*vnetHdr){
		"csum_start past the frame":              func(h *vnetHdr) { h.csumStart = 60000 },
		"csum_start inside IP":                   func(h *vnetHdr) { h.csumStart = 14 },
		"mss zero":                               func(h *vnetHdr) { h.gsoSize = 0 },
		"IPv6 type on IPv4 frame":                func(h *vnetHdr) { h.gsoType = vnetGSOTCPv6 },
		"csum_start before the IPv4 header ends": func(h *vnetHdr) { h.csumStart = 14 + 16 },
	} {
		bad := h
		mutate(&bad)
		out := make([][]byte, 8)
		for i := range out {
			out[i] = make([]byte, 2000)
		}
		if _, err := segmentTCP(frame, bad, out, make([]int, 8), 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Header bytes that contradict the virtio header: a TCP data offset
	// below the minimum (found by FuzzDecodeVnet: segments then had no
	// room for the TCP flags written into them), an IPv4 header longer
	// than the gap csum_start leaves for it, and one shorter than an IPv4
	// header can be (the shared part of the header checksum is summed
	// from its addresses to its end).
	for name, mutate := range map[string]func([]byte){
		"TCP data offset 0":        func(f []byte) { f[14+20+12] = 0 },
		"TCP data offset 4":        func(f []byte) { f[14+20+12] = 4 << 4 },
		"IPv4 IHL past csum_start": func(f []byte) { f[14] = 0x46 },
		"IPv4 IHL 0":               func(f []byte) { f[14] = 0x40 },
		"IPv4 IHL 4":               func(f []byte) { f[14] = 0x44 },
	} {
		bad := append([]byte(nil), frame...)
		mutate(bad)
		out := make([][]byte, 8)
		for i := range out {
			out[i] = make([]byte, 2000)
		}
		if _, err := segmentTCP(bad, h, out, make([]int, 8), 0); err != errBadGSO {
			t.Errorf("%s: err %v, want errBadGSO", name, err)
		}
	}
}

func TestCompleteChecksum(t *testing.T) {
	// A UDP frame whose checksum field holds the pseudo-header sum, as
	// the kernel leaves it with CHECKSUM_PARTIAL.
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net4(10, 0, 1, 2), DstIP: net4(10, 0, 1, 3)}
	udp := &layers.UDP{SrcPort: 1234, DstPort: 5678}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload("checksum me"))
	want := append([]byte(nil), buf.Bytes()...)
	frame := append([]byte(nil), want...)
	if len(frame) != 60 {
		t.Fatalf("frame of %d bytes: the test wants Ethernet padding to prove it is not summed", len(frame))
	}
	l4 := frame[34 : 34+8+len("checksum me")]
	pseudo := csum.Fold(csum.Sum(frame[26:34], 17+uint32(len(l4))))
	binary.BigEndian.PutUint16(l4[6:8], pseudo)
	if err := completeChecksum(frame, vnetHdr{flags: vnetFlagNeedsCsum, csumStart: 34, csumOffset: 6}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frame, want) {
		t.Errorf("completed checksum %x, want %x", frame[40:42], want[40:42])
	}
	if err := completeChecksum(frame, vnetHdr{csumStart: 34, csumOffset: 200}); err == nil {
		t.Error("checksum field past the frame: no error")
	}
}

func TestDecodeVnetHdr(t *testing.T) {
	got := decodeVnetHdr([]byte{1, 0x81, 0x42, 0, 0xa8, 0x05, 0x22, 0, 0x10, 0})
	want := vnetHdr{flags: 1, gsoType: 0x81, hdrLen: 0x42, gsoSize: 1448, csumStart: 0x22, csumOffset: 16}
	if got != want {
		t.Errorf("decodeVnetHdr = %+v, want %+v", got, want)
	}
}

func BenchmarkSegmentTCP64K(b *testing.B) {
	t := &testing.T{}
	frame, h := tcpSuperFrame(t, false, make([]byte, 65000-80), 1448, "P")
	out := make([][]byte, 64)
	for i := range out {
		out[i] = make([]byte, 16+2000)
	}
	sizes := make([]int, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := segmentTCP(frame, h, out, sizes, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseTCPSuper: a 64 KiB TCP frame, as a sender's kernel hands a veth
// inside VXLAN, is described for segmenting at the largest MSS the MTU
// allows, and segmenting it with that header yields frames within the MTU.
func TestParseTCPSuper(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		frame, _ := tcpSuperFrame(t, v6, make([]byte, 60000), 1448, "P")
		s, ok := parseTCPSuper(frame, 1450)
		if !ok {
			t.Fatalf("v6=%v: super-frame refused", v6)
		}
		ipLen := 20
		if v6 {
			ipLen = 40
		}
		if want := 1450 - ipLen - 32; int(s.hdr.gsoSize) != want {
			t.Errorf("v6=%v: MSS %d, want %d (MTU - IP - TCP with options)", v6, s.hdr.gsoSize, want)
		}
		out := make([][]byte, 64)
		for i := range out {
			out[i] = make([]byte, 1450+14)
		}
		sizes := make([]int, 64)
		n, err := segmentTCP(frame, s.hdr, out, sizes, 0)
		if err != nil {
			t.Fatalf("v6=%v: %v", v6, err)
		}
		for i := 0; i < n; i++ {
			if sizes[i]-14 > 1450 {
				t.Errorf("v6=%v: segment %d is %d bytes of IP, over the MTU", v6, i, sizes[i]-14)
			}
			verifyL4(t, out[i][:sizes[i]], v6)
		}
	}
	udp := make([]byte, 2000)
	udp[12], udp[13], udp[14], udp[14+9] = 0x08, 0x00, 0x45, 17
	if _, ok := parseTCPSuper(udp, 1450); ok {
		t.Error("a UDP frame was taken for a TCP super-frame")
	}
}
