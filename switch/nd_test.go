package vswitch_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap/taptest"
	"github.com/vxswitch/vxswitch/vtep/vteptest"
)

var (
	ndAsker     = fdb.MAC{2, 0, 0, 0, 0x60, 1}
	ndNeighbor  = fdb.MAC{2, 0, 0, 0, 0x60, 9}
	ndAskerIP   = netip.MustParseAddr("2001:db8:1::1")
	ndNeighIP   = netip.MustParseAddr("2001:db8:1::9")
	ndUnknownIP = netip.MustParseAddr("2001:db8:1::7")
)

// solicitedNode is the solicited-node multicast group of a (RFC 4291 §2.7.1).
func solicitedNode(a netip.Addr) (netip.Addr, net.HardwareAddr) {
	b := a.As16()
	g := [16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}
	return netip.AddrFrom16(g), net.HardwareAddr{0x33, 0x33, 0xff, b[13], b[14], b[15]}
}

func ndFrame(t *testing.T, typ uint8, srcMAC fdb.MAC, src, target netip.Addr, optMAC fdb.MAC) []byte {
	t.Helper()
	dstIP, dstMAC := solicitedNode(target)
	eth := &layers.Ethernet{SrcMAC: srcMAC[:], DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: src.AsSlice(), DstIP: dstIP.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	var body gopacket.SerializableLayer
	if typ == layers.ICMPv6TypeNeighborSolicitation {
		ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice()}
		if !src.IsUnspecified() {
			ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: optMAC[:]}}
		}
		body = ns
	} else {
		body = &layers.ICMPv6NeighborAdvertisement{Flags: 0x20, TargetAddress: target.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: optMAC[:]}}}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// icmpv6ChecksumOK verifies the checksum over the IPv6 pseudo-header
// (RFC 8200 §8.1) independently of gopacket.
func icmpv6ChecksumOK(ip []byte) bool {
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
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
	add(ip[8:40])
	sum += uint32(plen) + 58
	add(ip[40 : 40+plen])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

type ndRig struct {
	sw     *vswitch.Switch
	w      *vswitch.Worker
	rec    *vteptest.Recorder
	p1     *vswitch.Port
	d1, d2 *taptest.Device
}

func newNDRig(t *testing.T, proxy bool) *ndRig {
	t.Helper()
	var now int64 = 1e12
	sw, err := vswitch.New(vswitch.Config{
		Local: netip.MustParseAddr("192.0.2.1"), MTU: 1500, Now: func() int64 { return now },
		Networks: []vswitch.NetworkConfig{{Name: "blue", VNI: 4097, Learning: true, ARPProxy: proxy,
			Flood:     []netip.Addr{netip.MustParseAddr("192.0.2.2")},
			Neighbors: []vswitch.Neighbor{{IP: ndNeighIP, MAC: ndNeighbor}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &ndRig{sw: sw, rec: &vteptest.Recorder{}, d1: taptest.New("p1"), d2: taptest.New("p2")}
	if r.p1, err = sw.AddPort(vswitch.PortConfig{Name: "p1", Network: "blue", Device: r.d1, MTU: 1450}); err != nil {
		t.Fatal(err)
	}
	if _, err = sw.AddPort(vswitch.PortConfig{Name: "p2", Network: "blue", Device: r.d2, MTU: 1450}); err != nil {
		t.Fatal(err)
	}
	r.w = sw.NewWorker(r.rec)
	return r
}

func (r *ndRig) send(frame []byte) vswitch.Verdict {
	buf := make([]byte, vswitch.Headroom+len(frame))
	copy(buf[vswitch.Headroom:], frame)
	return r.w.FromPort(r.p1, buf, vswitch.Headroom, len(frame))
}

func TestNDProxyAnswersKnownTarget(t *testing.T) {
	r := newNDRig(t, true)
	v := r.send(ndFrame(t, layers.ICMPv6TypeNeighborSolicitation, ndAsker, ndAskerIP, ndNeighIP, ndAsker))
	if v.Action != vswitch.ActionProxy {
		t.Fatalf("verdict %v/%v, want proxy", v.Action, v.Reason)
	}
	if n := len(r.d2.Drain()) + len(r.rec.Take()); n != 0 {
		t.Fatalf("proxied NS also went to %d other destinations", n)
	}
	back := r.d1.Drain()
	if len(back) != 1 {
		t.Fatalf("%d frames back on the asking port, want 1 NA", len(back))
	}
	p := gopacket.NewPacket(back[0], layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if eth == nil || ip == nil || na == nil {
		t.Fatalf("reply is not Ethernet/IPv6/NA: %v", p)
	}
	if fdb.MAC(eth.SrcMAC) != ndNeighbor || fdb.MAC(eth.DstMAC) != ndAsker {
		t.Errorf("Ethernet %v > %v, want %v > %v", eth.SrcMAC, eth.DstMAC, ndNeighbor, ndAsker)
	}
	if ip.HopLimit != 255 || !ip.SrcIP.Equal(ndNeighIP.AsSlice()) || !ip.DstIP.Equal(ndAskerIP.AsSlice()) {
		t.Errorf("IPv6 %v > %v hop limit %d", ip.SrcIP, ip.DstIP, ip.HopLimit)
	}
	if !na.TargetAddress.Equal(ndNeighIP.AsSlice()) || !na.Solicited() || !na.Override() {
		t.Errorf("NA target %v solicited %v override %v", na.TargetAddress, na.Solicited(), na.Override())
	}
	if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || fdb.MAC(na.Options[0].Data) != ndNeighbor {
		t.Errorf("NA options %v, want target link-layer %v", na.Options, ndNeighbor)
	}
	if !icmpv6ChecksumOK(back[0][14:]) {
		t.Error("NA has a bad ICMPv6 checksum")
	}
}

func TestNDProxyDoesNotAnswer(t *testing.T) {
	tests := []struct {
		name        string
		proxy       bool
		src, target netip.Addr
	}{
		{"unknown target floods", true, ndAskerIP, ndUnknownIP},
		{"DAD (source ::) reaches the owner", true, netip.IPv6Unspecified(), ndNeighIP},
		{"about the asker's own address", true, ndNeighIP, ndNeighIP},
		{"proxy off", false, ndAskerIP, ndNeighIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newNDRig(t, tt.proxy)
			v := r.send(ndFrame(t, layers.ICMPv6TypeNeighborSolicitation, ndAsker, tt.src, tt.target, ndAsker))
			if v.Action != vswitch.ActionFlood {
				t.Fatalf("verdict %v/%v, want flood", v.Action, v.Reason)
			}
			if len(r.d1.Drain()) != 0 {
				t.Error("a reply came back on the asking port")
			}
			if len(r.d2.Drain()) != 1 || len(r.rec.Take()) != 1 {
				t.Error("NS not flooded to the other port and the flood list")
			}
		})
	}
}

func TestNDSnooping(t *testing.T) {
	r := newNDRig(t, true)
	// An NA from the underlay teaches the table; the next NS is answered.
	other := fdb.MAC{2, 0, 0, 0, 0x60, 7}
	na := ndFrame(t, layers.ICMPv6TypeNeighborAdvertisement, other, ndUnknownIP, ndUnknownIP, other)
	dgram := append([]byte{0x08, 0, 0, 0, 0, 0x10, 0x01, 0}, na...)
	r.w.FromUnderlay(netip.MustParseAddrPort("192.0.2.2:50000"), dgram)
	r.d1.Drain()
	r.d2.Drain()
	v := r.send(ndFrame(t, layers.ICMPv6TypeNeighborSolicitation, ndAsker, ndAskerIP, ndUnknownIP, ndAsker))
	if v.Action != vswitch.ActionProxy {
		t.Fatalf("after snooping an NA, NS verdict %v, want proxy", v.Action)
	}
	// The asker's NS taught its own address too.
	found := false
	for _, e := range r.sw.Neighbors("blue") {
		if e.IP == ndAskerIP && e.MAC == ndAsker && e.Type == fdb.Learned {
			found = true
		}
	}
	if !found {
		t.Errorf("NS source not learned: %+v", r.sw.Neighbors("blue"))
	}
	// A spoofed NA cannot override the static neighbor.
	r.send(ndFrame(t, layers.ICMPv6TypeNeighborAdvertisement, other, ndNeighIP, ndNeighIP, other))
	for _, e := range r.sw.Neighbors("blue") {
		if e.IP == ndNeighIP && e.MAC != ndNeighbor {
			t.Errorf("static neighbor overridden: %+v", e)
		}
	}
}
