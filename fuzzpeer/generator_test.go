package fuzzpeer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vxswitch/vxswitch/vtep"
)

var (
	testProber    = Identity{MAC: [6]byte{0x02, 0x66, 0x7a, 0, 0, 1}, IP: netip.MustParseAddr("10.9.0.250")}
	testResponder = Identity{MAC: [6]byte{0x02, 0, 10, 9, 0, 3}, IP: netip.MustParseAddr("10.9.0.3")}
)

func testTemplates() Templates {
	fuzz := Identity{MAC: testProber.MAC, IP: testProber.IP.Next()}
	fuzz.MAC[5]++
	return Templates{VNI: 4097, Fuzz: fuzz, Responder: testResponder,
		Avoid: [][6]byte{testProber.MAC, testResponder.MAC}, AvoidIPs: []netip.Addr{testProber.IP}}
}

// generate returns n datagrams from seed, cycling through the classes in
// batches of 7.
func generate(seed uint64, n int) []Datagram {
	g := NewGenerator(seed, testTemplates())
	var out []Datagram
	for i := range n {
		out = append(out, g.Next(Class(i/7%int(numClasses))))
	}
	return out
}

// TestGeneratorReproducible: the same seed gives the same bytes; another
// seed gives others.
func TestGeneratorReproducible(t *testing.T) {
	a, b := generate(42, 3000), generate(42, 3000)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("seed 42 twice (-first +second):\n%s", diff)
	}
	c := generate(43, 3000)
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Bytes, c[i].Bytes) {
			same++
		}
	}
	if same > len(a)/10 {
		t.Errorf("seeds 42 and 43 made %d of %d identical datagrams", same, len(a))
	}
}

// TestGeneratorClasses checks that each class mutates what it says and
// only that, and that no mutation takes the prober's or the responder's
// MAC as a source or claims their addresses.
func TestGeneratorClasses(t *testing.T) {
	tpl := testTemplates()
	g := NewGenerator(1, tpl)
	seen := map[Class]map[string]bool{}
	for i := range 9000 {
		c := Class(i % int(numClasses))
		d := g.Next(c)
		if seen[c] == nil {
			seen[c] = map[string]bool{}
		}
		seen[c][d.What] = true
		b := d.Bytes
		strictVNI, strictErr := vtep.Parse(b, true)
		switch c {
		case ClassFlags:
			if strictErr == nil {
				t.Fatalf("flags datagram %d (%s) has a clean header", d.Index, d.What)
			}
		case ClassReserved:
			vni, err := vtep.Parse(b, false)
			if err != nil || vni != tpl.VNI || !errors.Is(strictErr, vtep.ErrReservedBits) {
				t.Fatalf("reserved datagram %d (%s): VNI %d, %v; strict %v", d.Index, d.What, vni, err, strictErr)
			}
		case ClassVNI:
			vni, err := vtep.Parse(b, false)
			if err != nil || vni == tpl.VNI {
				t.Fatalf("vni datagram %d (%s): VNI %d, %v", d.Index, d.What, vni, err)
			}
		case ClassTruncate:
			var cut, of int
			i := strings.Index(d.What, "cut to ")
			if i < 0 {
				t.Fatalf("truncate datagram %d: %q", d.Index, d.What)
			}
			fmt.Sscanf(d.What[i:], "cut to %d of %d", &cut, &of)
			if cut != len(b) || cut >= of {
				t.Fatalf("truncate datagram %d (%s) is %d bytes", d.Index, d.What, len(b))
			}
		default:
			if strictErr != nil || strictVNI != tpl.VNI {
				t.Fatalf("%s datagram %d (%s): header % x not clean", c, d.Index, d.What, b[:8])
			}
		}
		if len(b) < vtep.HeaderLen+12 {
			continue
		}
		src := [6]byte(b[vtep.HeaderLen+6 : vtep.HeaderLen+12])
		for _, a := range tpl.Avoid {
			if src == a {
				t.Fatalf("datagram %d (%s) comes from avoided MAC %x", d.Index, d.What, a)
			}
		}
		f := b[vtep.HeaderLen:]
		if len(f) >= ethLen+arpBodyLen && binary.BigEndian.Uint16(f[12:14]) == etherARP {
			spa := netip.AddrFrom4([4]byte(f[ethLen+14 : ethLen+18]))
			if spa == tpl.Responder.IP || spa == testProber.IP {
				t.Fatalf("datagram %d (%s) claims %v", d.Index, d.What, spa)
			}
		}
	}
	for _, c := range Classes() {
		if len(seen[c]) < 5 {
			t.Errorf("class %s made only %d distinct mutations: %v", c, len(seen[c]), seen[c])
		}
	}
}

// TestTemplates checks the valid frames against gopacket: same bytes as
// gopacket serializes with its own lengths and checksums.
func TestTemplates(t *testing.T) {
	tpl := testTemplates()
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		for _, l := range ls {
			if n, ok := l.(gopacket.NetworkLayer); ok {
				for _, m := range ls {
					if c, ok := m.(interface {
						SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
					}); ok {
						c.SetNetworkLayerForChecksum(n)
					}
				}
			}
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return padded(buf.Bytes())
	}
	fz, rs := tpl.Fuzz, tpl.Responder
	eth := func(dst [6]byte, typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: fz.MAC[:], DstMAC: dst[:], EthernetType: typ}
	}
	tests := []struct {
		name      string
		got, want []byte
	}{
		{"arp request", arpFrame(broadcastMAC, arpRequest, fz, [6]byte{}, rs.IP), ser(eth(broadcastMAC, layers.EthernetTypeARP),
			&layers.ARP{AddrType: 1, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: fz.MAC[:], SourceProtAddress: fz.IP.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: rs.IP.AsSlice()})},
		{"icmp echo", echo4Frame(rs.MAC, fz, rs.IP, 7, 9, tag(9)), ser(eth(rs.MAC, layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, IHL: 5, Id: 9, Flags: layers.IPv4DontFragment, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: fz.IP.AsSlice(), DstIP: rs.IP.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 9}, gopacket.Payload(tag(9)))},
		{"icmpv6 echo", echo6Frame(allNodesMAC, fz, allNodes, 7, 9, tag(9)), ser(eth(allNodesMAC, layers.EthernetTypeIPv6),
			&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 64, SrcIP: fz.LinkLocal().AsSlice(), DstIP: allNodes.AsSlice()},
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 9}, gopacket.Payload(tag(9)))},
		{"neighbor advertisement", naFrame(rs.MAC, rs.LinkLocal(), fz.LinkLocal(), fz.MAC), ser(eth(rs.MAC, layers.EthernetTypeIPv6),
			&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: fz.LinkLocal().AsSlice(), DstIP: rs.LinkLocal().AsSlice()},
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(136, 0)},
			&layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: fz.LinkLocal().AsSlice(),
				Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: fz.MAC[:]}}})},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, tt.got, tt.want)
		}
	}
	if got := testResponder.LinkLocal(); got != netip.MustParseAddr("fe80::aff:fe09:3") {
		t.Errorf("EUI-64 link-local of %x = %v", testResponder.MAC, got)
	}
}

func TestParseTarget(t *testing.T) {
	old := localPrefixes
	localPrefixes = func() []netip.Prefix {
		return []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("10.1.2.3/31")}
	}
	defer func() { localPrefixes = old }()
	tests := []struct {
		in   string
		want netip.AddrPort
	}{
		{"192.0.2.2", netip.MustParseAddrPort("192.0.2.2:4789")},
		{"192.0.2.2:8472", netip.MustParseAddrPort("192.0.2.2:8472")},
		{"127.0.0.1", netip.MustParseAddrPort("127.0.0.1:4789")},
		{"::1", netip.MustParseAddrPort("[::1]:4789")},
		{"2001:db8::2", netip.MustParseAddrPort("[2001:db8::2]:4789")},
		{"[2001:db8::2]:4790", netip.MustParseAddrPort("[2001:db8::2]:4790")},
		{"::ffff:192.0.2.9", netip.MustParseAddrPort("192.0.2.9:4789")},
		{" 198.51.100.7 ", netip.MustParseAddrPort("198.51.100.7:4789")},
		{"10.1.2.3", netip.MustParseAddrPort("10.1.2.3:4789")}, // a /31 has no broadcast address
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"", "localhost", "localhost:4789", "vtep.example.com", "192.0.2.0/24", "192.0.2.1-192.0.2.9",
		"192.0.2.1,192.0.2.2", "192.0.2.*", "0.0.0.0", "::", "[::]:4789", "224.0.0.1", "239.1.1.1:4789", "ff02::1",
		"255.255.255.255", "192.0.2.255", "192.0.2.2:0", "192.0.2.2:65536", "192.0.2.2:port", "0x7f000001", "2130706433",
	} {
		if got, err := ParseTarget(in); !errors.Is(err, ErrTarget) {
			t.Errorf("ParseTarget(%q) = %v, %v; want a refusal", in, got, err)
		}
	}
}
