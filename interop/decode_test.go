package interop

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// datagram is a captured VXLAN datagram, decoded with gopacket: a decoder
// independent of vxswitch's own codec.
type datagram struct {
	frame
	src, dst         netip.Addr // outer IP
	srcPort, dstPort uint16
	ipLen            int // IPv4 total length, or IPv6 header + payload length
	ihl              uint8
	udpLen           uint16
	udpSum           uint16
	udp              []byte  // outer UDP header and payload as captured
	hdr              [8]byte // the VXLAN header as sent
	vni              uint32
	iFlag            bool
	inner            []byte // inner Ethernet frame (cut if the frame was)
}

// complete reports whether the whole UDP datagram was captured.
func (d *datagram) complete() bool { return len(d.udp) == int(d.udpLen) }

// reservedZero reports whether every bit of the VXLAN header but the I
// flag and the VNI is zero (RFC 7348 §5: "Reserved fields ... MUST be set
// to zero on transmission").
func (d *datagram) reservedZero() bool {
	h := d.hdr
	return h[0]&^0x08 == 0 && h[1]|h[2]|h[3]|h[7] == 0
}

// checksumOK verifies the outer UDP checksum over the pseudo-header; only
// meaningful for a complete datagram whose checksum was not left to the
// device.
func (d *datagram) checksumOK() bool {
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
	add(d.src.AsSlice())
	add(d.dst.AsSlice())
	sum += 17 + uint32(len(d.udp)) // protocol, UDP length
	add(d.udp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// flowKey is an inner IP flow: addresses, protocol and ports.
type flowKey struct {
	src, dst         netip.Addr
	proto            uint8
	srcPort, dstPort uint16
}

// decoder decodes captured frames; it reuses its layers, so decoding a
// capture allocates little.
type decoder struct {
	eth   layers.Ethernet
	ip4   layers.IPv4
	ip6   layers.IPv6
	udp   layers.UDP
	vxlan layers.VXLAN
	outer *gopacket.DecodingLayerParser

	ieth  layers.Ethernet
	iip4  layers.IPv4
	iip6  layers.IPv6
	itcp  layers.TCP
	iudp  layers.UDP
	icmp6 layers.ICMPv6
	ns    layers.ICMPv6NeighborSolicitation
	inner *gopacket.DecodingLayerParser

	found []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{}
	d.outer = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.eth, &d.ip4, &d.ip6, &d.udp)
	d.outer.IgnoreUnsupported = true
	d.inner = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.ieth, &d.iip4, &d.iip6, &d.itcp, &d.iudp, &d.icmp6, &d.ns)
	d.inner.IgnoreUnsupported = true
	return d
}

// vxlan decodes f as a VXLAN datagram: UDP to or from port.
func (d *decoder) datagram(f frame, port uint16) (datagram, bool) {
	if err := d.outer.DecodeLayers(f.data, &d.found); err != nil {
		return datagram{}, false
	}
	g := datagram{frame: f}
	var haveUDP bool
	for _, typ := range d.found {
		switch typ {
		case layers.LayerTypeIPv4:
			g.src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			g.dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
			g.ipLen, g.ihl = int(d.ip4.Length), d.ip4.IHL
		case layers.LayerTypeIPv6:
			g.src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			g.dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			g.ipLen = 40 + int(d.ip6.Length)
		case layers.LayerTypeUDP:
			haveUDP = true
		}
	}
	if !haveUDP || (uint16(d.udp.DstPort) != port && uint16(d.udp.SrcPort) != port) {
		return datagram{}, false
	}
	g.srcPort, g.dstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
	g.udpLen, g.udpSum = d.udp.Length, d.udp.Checksum
	g.udp = append(append([]byte(nil), d.udp.Contents...), d.udp.Payload...)
	if d.vxlan.DecodeFromBytes(d.udp.Payload, gopacket.NilDecodeFeedback) != nil {
		return datagram{}, false
	}
	copy(g.hdr[:], d.vxlan.Contents)
	g.vni, g.iFlag = d.vxlan.VNI, d.vxlan.ValidIDFlag
	g.inner = d.vxlan.Payload
	return g, true
}

// flow returns the inner IP flow of a datagram carrying TCP or UDP.
func (d *decoder) flow(g datagram) (flowKey, bool) {
	if d.inner.DecodeLayers(g.inner, &d.found) != nil {
		return flowKey{}, false
	}
	var k flowKey
	var l4 bool
	for _, typ := range d.found {
		switch typ {
		case layers.LayerTypeIPv4:
			k.src, _ = netip.AddrFromSlice(d.iip4.SrcIP)
			k.dst, _ = netip.AddrFromSlice(d.iip4.DstIP)
			k.proto = uint8(d.iip4.Protocol)
		case layers.LayerTypeIPv6:
			k.src, _ = netip.AddrFromSlice(d.iip6.SrcIP)
			k.dst, _ = netip.AddrFromSlice(d.iip6.DstIP)
			k.proto = uint8(d.iip6.NextHeader)
		case layers.LayerTypeTCP:
			k.srcPort, k.dstPort, l4 = uint16(d.itcp.SrcPort), uint16(d.itcp.DstPort), true
		case layers.LayerTypeUDP:
			k.srcPort, k.dstPort, l4 = uint16(d.iudp.SrcPort), uint16(d.iudp.DstPort), true
		}
	}
	return k, l4
}

// nsTarget returns the target of the IPv6 neighbor solicitation a
// datagram carries.
func (d *decoder) nsTarget(g datagram) (netip.Addr, bool) {
	if d.inner.DecodeLayers(g.inner, &d.found) != nil {
		return netip.Addr{}, false
	}
	for _, typ := range d.found {
		if typ == layers.LayerTypeICMPv6NeighborSolicitation {
			a, ok := netip.AddrFromSlice(d.ns.TargetAddress)
			return a, ok
		}
	}
	return netip.Addr{}, false
}

// datagrams decodes the VXLAN datagrams among frames.
func datagrams(frames []frame) []datagram {
	d := newDecoder()
	var out []datagram
	for _, f := range frames {
		if g, ok := d.datagram(f, vxlanPort); ok {
			out = append(out, g)
		}
	}
	return out
}

// from keeps the datagrams whose outer source is src.
func from(gs []datagram, src netip.Addr) []datagram {
	var out []datagram
	for _, g := range gs {
		if g.src == src {
			out = append(out, g)
		}
	}
	return out
}
