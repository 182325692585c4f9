package admin

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// onesSum is an independent RFC 1071 checksum verifier: the one's
// complement sum of the 16-bit words, computed bytewise with end-around
// carry. A correct checksum makes the sum over the covered bytes 0xffff.
func onesSum(chunks ...[]byte) uint16 {
	var s uint32
	for _, c := range chunks {
		if len(c)%2 == 1 {
			c = append(append([]byte(nil), c...), 0)
		}
		for i := 0; i < len(c); i += 2 {
			s += uint32(c[i])<<8 | uint32(c[i+1])
			s = s&0xffff + s>>16
		}
	}
	return uint16(s)
}

func TestUnderlayFrameIPv4(t *testing.T) {
	payload := datagram(4097, []byte("an odd-length inner frame"))
	src := netip.MustParseAddrPort("192.0.2.1:51234")
	dst := netip.MustParseAddrPort("192.0.2.2:4789")
	b := appendUnderlayFrame(nil, src, dst, payload)

	if len(b) != 14+20+8+len(payload) {
		t.Fatalf("length %d", len(b))
	}
	ip := b[14:34]
	if ip[0] != 0x45 {
		t.Errorf("version/IHL %#x, want 0x45 (IHL counts 32-bit words)", ip[0])
	}
	if got := onesSum(ip); got != 0xffff {
		t.Errorf("IPv4 header sums to %#04x, want 0xffff: checksum wrong", got)
	}
	if got := binary.BigEndian.Uint16(b[14+20+6:]); got != 0 {
		t.Errorf("UDP checksum %#04x over IPv4, want 0 (none)", got)
	}
	// gopacket builds the same headers from the same fields.
	eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	udp := &layers.UDP{SrcPort: 51234, DstPort: 4789}
	udp.SetNetworkLayerForChecksum(ip4)
	want := serialize(t, eth, ip4, udp, gopacket.Payload(payload))
	binary.BigEndian.PutUint16(want[14+20+6:], 0) // gopacket computes the optional UDP checksum
	if !bytes.Equal(b, want) {
		t.Errorf("frame differs from gopacket's:\n got % x\nwant % x", b[:42], want[:42])
	}
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	vx, _ := pkt.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
	if vx == nil || vx.VNI != 4097 {
		t.Errorf("no VXLAN VNI 4097 decoded: %v", pkt)
	}
}

func TestUnderlayFrameIPv6(t *testing.T) {
	for _, payload := range [][]byte{datagram(7, make([]byte, 60)), datagram(7, []byte("odd"))} {
		src := netip.MustParseAddrPort("[2001:db8::2]:4789")
		dst := netip.MustParseAddrPort("[2001:db8::1]:4789")
		b := appendUnderlayFrame(nil, src, dst, payload)
		if binary.BigEndian.Uint16(b[12:]) != 0x86dd || len(b) != 14+40+8+len(payload) {
			t.Fatalf("not an IPv6 frame of the right length: % x", b[:20])
		}
		ip, udp := b[14:54], b[54:]
		if binary.BigEndian.Uint16(udp[6:]) == 0 {
			t.Fatal("UDP checksum 0 over IPv6; RFC 8200 requires one")
		}
		// RFC 8200 §8.1 pseudo-header: source, destination, upper-layer
		// length (32 bits), three zero bytes and the next header.
		pseudo := make([]byte, 40)
		copy(pseudo, ip[8:40])
		binary.BigEndian.PutUint32(pseudo[32:], uint32(len(udp)))
		pseudo[39] = 17
		if got := onesSum(pseudo, udp); got != 0xffff {
			t.Errorf("UDP checksum does not verify: sum %#04x", got)
		}
		eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv6}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::1")}
		gu := &layers.UDP{SrcPort: 4789, DstPort: 4789}
		gu.SetNetworkLayerForChecksum(ip6)
		if want := serialize(t, eth, ip6, gu, gopacket.Payload(payload)); !bytes.Equal(b, want) {
			t.Errorf("frame differs from gopacket's:\n got % x\nwant % x", b[:62], want[:62])
		}
		pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
		u, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil || u.SrcPort != 4789 || u.DstPort != 4789 || pkt.Layer(layers.LayerTypeVXLAN) == nil {
			t.Errorf("does not decode as IPv6/UDP/VXLAN: %v", pkt)
		}
	}
}

func TestUnderlayFrameMixedFamilies(t *testing.T) {
	// An IPv4-mapped sender (as dual-stack sockets report) is written as
	// IPv4; a real mix falls back to IPv6.
	b := appendUnderlayFrame(nil, netip.MustParseAddrPort("[::ffff:192.0.2.2]:4789"), netip.MustParseAddrPort("192.0.2.1:4789"), []byte{8, 0, 0, 0, 0, 0, 1, 0})
	if binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		t.Errorf("mapped sender: ethertype %#04x, want IPv4", binary.BigEndian.Uint16(b[12:]))
	}
	b = appendUnderlayFrame(nil, netip.MustParseAddrPort("[2001:db8::2]:4789"), netip.MustParseAddrPort("192.0.2.1:4789"), nil)
	if binary.BigEndian.Uint16(b[12:]) != 0x86dd {
		t.Errorf("mixed families: ethertype %#04x, want IPv6", binary.BigEndian.Uint16(b[12:]))
	}
}
