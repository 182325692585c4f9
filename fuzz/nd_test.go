package fuzz

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

// checkNAReply asserts that reply is a well-formed IPv6 neighbor
// advertisement (RFC 4861 §4.4, §7.2.4) answering the neighbor
// solicitation in request from the neighbor table: addressed to the
// solicitor, about the solicited target, solicited and override flags set,
// router flag clear, a target link-layer address option with the table's
// MAC, hop limit 255, and a valid ICMPv6 checksum (checked here by hand,
// not by the library that built the reply).
func checkNAReply(t *testing.T, request, reply []byte) {
	t.Helper()
	p := gopacket.NewPacket(reply, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if eth == nil || ip == nil || icmp == nil || na == nil || p.ErrorLayer() != nil {
		t.Fatalf("proxy reply does not parse as Ethernet/IPv6/ICMPv6 NA: % x", reply)
	}
	reqIP := request[14:]
	reqSrc := netip.AddrFrom16([16]byte(reqIP[8:24]))
	reqTarget := netip.AddrFrom16([16]byte(reqIP[40+8 : 40+24]))
	if request[14+40] != layers.ICMPv6TypeNeighborSolicitation {
		t.Fatalf("proxy answered an ICMPv6 type %d with an NA", request[14+40])
	}
	if reqSrc.IsUnspecified() || reqTarget.IsMulticast() || reqSrc == reqTarget {
		t.Fatalf("proxy answered a solicitation it must leave to the owner: %v asks for %v", reqSrc, reqTarget)
	}
	if reqTarget != neighbor6 {
		t.Fatalf("proxy answered for %v, which is not in the neighbor table", reqTarget)
	}
	switch {
	case !bytes.Equal(eth.DstMAC, request[6:12]):
		t.Fatalf("NA to Ethernet %v, the solicitation came from % x", eth.DstMAC, request[6:12])
	case !bytes.Equal(eth.SrcMAC, neighbor[:]):
		t.Fatalf("NA from Ethernet %v, want the neighbor's %v", eth.SrcMAC, neighbor)
	case ip.Version != 6 || ip.HopLimit != 255 || ip.NextHeader != layers.IPProtocolICMPv6:
		t.Fatalf("NA IPv6 header: version %d, hop limit %d, next header %d", ip.Version, ip.HopLimit, ip.NextHeader)
	case int(ip.Length) != len(reply)-14-40:
		t.Fatalf("NA payload length %d, %d bytes follow the header", ip.Length, len(reply)-14-40)
	case !bytes.Equal(ip.SrcIP, reqTarget.AsSlice()) || !bytes.Equal(ip.DstIP, reqSrc.AsSlice()):
		t.Fatalf("NA %v > %v, want %v > %v", ip.SrcIP, ip.DstIP, reqTarget, reqSrc)
	case icmp.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0):
		t.Fatalf("NA type/code %v", icmp.TypeCode)
	case !bytes.Equal(na.TargetAddress, reqTarget.AsSlice()):
		t.Fatalf("NA about %v, solicited for %v", na.TargetAddress, reqTarget)
	case na.Flags&0xe0 != 0x60:
		t.Fatalf("NA flags %#02x: want solicited and override, not router", na.Flags)
	}
	var tlla []byte
	for _, o := range na.Options {
		if o.Type == layers.ICMPv6OptTargetAddress {
			tlla = o.Data
		}
	}
	if !bytes.Equal(tlla, neighbor[:]) {
		t.Fatalf("NA target link-layer address % x, want %v", tlla, neighbor)
	}
	if sum := icmpv6Sum(reply[14+8:14+40], reply[14+40:]); sum != 0xffff {
		t.Fatalf("NA ICMPv6 checksum does not verify (sum %#04x): % x", sum, reply[14+40:])
	}
}

// icmpv6Sum is the ones'-complement sum over the IPv6 pseudo-header
// (RFC 8200 §8.1: addresses, upper-layer length, next header 58) and msg,
// checksum field included: 0xffff when the checksum is right.
func icmpv6Sum(addrs, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(addrs)
	sum += uint32(len(msg)) >> 16
	sum += uint32(len(msg)) & 0xffff
	sum += 58
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// ndSeedFrames are neighbor solicitations the proxy answers (with and
// without a source link-layer option, to the solicited-node multicast
// address and unicast) and ones it must not: DAD, about the asker's own
// address, for a multicast target, hop limit not 255, truncated, tagged,
// an unknown target, and an advertisement.
func ndSeedFrames() [][]byte {
	frame := func(dst fdb.MAC, body []byte) []byte {
		f := make([]byte, 14, 14+len(body))
		copy(f[0:6], dst[:])
		copy(f[6:12], asker[:])
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		return append(f, body...)
	}
	snm := fdb.MAC{0x33, 0x33, 0xff, 0, 0, 9}
	ns := ndBody(135, "fd00::1", "ff02::1:ff00:9", "fd00::9", asker)
	noOpt := append([]byte(nil), ns[:40+24]...)
	binary.BigEndian.PutUint16(noOpt[4:6], 24)
	hop64 := append([]byte(nil), ns...)
	hop64[7] = 64
	tagged := frame(snm, ns)
	tagged = append(append(append([]byte{}, tagged[:12]...), 0x81, 0, 0, 7), tagged[12:]...)
	return [][]byte{
		frame(snm, ns),
		frame(neighbor, ndBody(135, "fd00::1", "fd00::9", "fd00::9", asker)),
		frame(snm, noOpt),
		frame(snm, ndBody(135, "fe80::1", "ff02::1:ff00:9", "fd00::9", asker)),
		frame(snm, ndBody(135, "::", "ff02::1:ff00:9", "fd00::9", asker)),
		frame(snm, ndBody(135, "fd00::9", "ff02::1:ff00:9", "fd00::9", asker)),
		frame(snm, ndBody(135, "fd00::1", "ff02::1:ff00:9", "ff02::1", asker)),
		frame(snm, ndBody(135, "fd00::1", "ff02::1:ff00:7", "fd00::7", asker)),
		frame(snm, hop64),
		frame(snm, ns[:40+20]),
		tagged,
		frame(fdb.MAC{0x33, 0x33, 0, 0, 0, 1}, ndBody(136, "fd00::9", "ff02::1", "fd00::9", asker)),
	}
}

// TestNDSeedsReachTheProxy keeps FuzzPortFrame honest: the first four ND
// seeds must be answered (so checkNAReply runs on them) and the others not.
func TestNDSeedsReachTheProxy(t *testing.T) {
	for i, frame := range ndSeedFrames() {
		r := newRig(t)
		buf := make([]byte, vswitch.Headroom+len(frame))
		copy(buf[vswitch.Headroom:], frame)
		v := r.w.FromPort(r.pb1, buf, vswitch.Headroom, len(frame))
		if want := i < 4; (v.Action == vswitch.ActionProxy) != want {
			t.Errorf("ND seed %d: verdict %v, want proxied %v", i, v.Action, want)
			continue
		}
		if v.Action == vswitch.ActionProxy {
			checkNAReply(t, frame, r.b1.Drain()[0])
		}
	}
}
