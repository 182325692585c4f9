package tap

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The test's own endpoint on the TAP's segment: frames it writes into the
// TAP come "from" here, as they would from a remote container.
var (
	peerMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x99}
	peerIP4 = netip.MustParseAddr("10.99.0.2")
	peerIP6 = netip.MustParseAddr("2001:db8:99::2")
)

// arpRequest builds an RFC 826 request from the peer asking who has target.
func arpRequest(target netip.Addr) []byte {
	f := make([]byte, 60) // minimum Ethernet frame, zero padded
	copy(f[0:6], net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], peerMAC)
	binary.BigEndian.PutUint16(f[12:14], 0x0806)
	binary.BigEndian.PutUint16(f[14:16], 1)      // hardware type Ethernet
	binary.BigEndian.PutUint16(f[16:18], 0x0800) // protocol type IPv4
	f[18], f[19] = 6, 4
	binary.BigEndian.PutUint16(f[20:22], 1) // request
	copy(f[22:28], peerMAC)
	copy(f[28:32], peerIP4.AsSlice())
	copy(f[38:42], target.AsSlice())
	return f
}

// isARPReply reports whether frame is an ARP reply to the peer saying that
// sender is at mac.
func isARPReply(frame []byte, sender netip.Addr, mac net.HardwareAddr) bool {
	return len(frame) >= 42 &&
		binary.BigEndian.Uint16(frame[12:14]) == 0x0806 &&
		binary.BigEndian.Uint16(frame[20:22]) == 2 &&
		net.HardwareAddr(frame[0:6]).String() == peerMAC.String() &&
		net.HardwareAddr(frame[22:28]).String() == mac.String() &&
		netip.AddrFrom4([4]byte(frame[28:32])) == sender
}

// neighborSolicitation builds an RFC 4861 solicitation from the peer for
// target, sent to target's solicited-node multicast address.
func neighborSolicitation(target netip.Addr) ([]byte, error) {
	t := target.As16()
	snm := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	eth := &layers.Ethernet{
		SrcMAC:       peerMAC,
		DstMAC:       net.HardwareAddr{0x33, 0x33, 0xff, t[13], t[14], t[15]},
		EthernetType: layers.EthernetTypeIPv6,
	}
	ip := &layers.IPv6{
		Version:    6,
		HopLimit:   255,
		NextHeader: layers.IPProtocolICMPv6,
		SrcIP:      peerIP6.AsSlice(),
		DstIP:      snm.AsSlice(),
	}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	ns := &layers.ICMPv6NeighborSolicitation{
		TargetAddress: target.AsSlice(),
		Options:       layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: peerMAC}},
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, icmp, ns); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// isNeighborAdvertisement reports whether frame advertises target at mac.
func isNeighborAdvertisement(frame []byte, target netip.Addr, mac net.HardwareAddr) bool {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if eth == nil || na == nil {
		return false
	}
	got, _ := netip.AddrFromSlice(na.TargetAddress)
	return got == target && eth.SrcMAC.String() == mac.String() && eth.DstMAC.String() == peerMAC.String()
}
