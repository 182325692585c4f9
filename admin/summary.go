package admin

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// decoder summarises frames for traces in one line each. It holds one
// preallocated DecodingLayerParser: a trace decodes every frame it shows.
type decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	arp   layers.ARP
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
	echo6 layers.ICMPv6Echo
	ns    layers.ICMPv6NeighborSolicitation
	na    layers.ICMPv6NeighborAdvertisement

	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet,
		&d.eth, &d.dot1q, &d.arp, &d.ip4, &d.ip6, &d.tcp, &d.udp,
		&d.icmp4, &d.icmp6, &d.echo6, &d.ns, &d.na)
	d.parser.IgnoreUnsupported = true
	return d
}

// summary describes an Ethernet frame in the manner of tcpdump:
//
//	ARP who-has 10.0.1.3 tell 10.0.1.2
//	ARP reply 10.0.1.3 is-at 02:00:0a:00:01:03
//	IPv4 10.0.1.2 > 10.0.1.3 TCP 51000 > 443 [S] len 0
//	IPv6 fe80::1 > ff02::1:ff00:3 ICMPv6 neighbor solicitation who-has 2001:db8::3
func (d *decoder) summary(frame []byte) string {
	if len(frame) < ethHeaderLen {
		return fmt.Sprintf("runt frame of %d bytes", len(frame))
	}
	err := d.parser.DecodeLayers(frame, &d.decoded)
	var b strings.Builder
	described := false
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeDot1Q:
			fmt.Fprintf(&b, "vlan %d ", d.dot1q.VLANIdentifier)
		case layers.LayerTypeARP:
			b.WriteString(d.arpSummary())
			described = true
		case layers.LayerTypeIPv4:
			fmt.Fprintf(&b, "IPv4 %s > %s", d.ip4.SrcIP, d.ip4.DstIP)
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				fmt.Fprintf(&b, " fragment offset %d proto %d", int(d.ip4.FragOffset)*8, d.ip4.Protocol)
			} else if !d.decodedAny(layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4) {
				fmt.Fprintf(&b, " proto %d", d.ip4.Protocol)
			}
			described = true
		case layers.LayerTypeIPv6:
			fmt.Fprintf(&b, "IPv6 %s > %s", d.ip6.SrcIP, d.ip6.DstIP)
			if !d.decodedAny(layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv6) {
				next := d.ip6.NextHeader
				if d.ip6.HopByHop != nil {
					next = d.ip6.HopByHop.NextHeader
				}
				fmt.Fprintf(&b, " next header %d", next)
			}
			described = true
		case layers.LayerTypeTCP:
			fmt.Fprintf(&b, " TCP %d > %d [%s] len %d", d.tcp.SrcPort, d.tcp.DstPort, tcpFlags(&d.tcp), len(d.tcp.Payload))
		case layers.LayerTypeUDP:
			fmt.Fprintf(&b, " UDP %d > %d len %d", d.udp.SrcPort, d.udp.DstPort, len(d.udp.Payload))
		case layers.LayerTypeICMPv4:
			b.WriteString(" ICMP " + icmp4Summary(&d.icmp4))
		case layers.LayerTypeICMPv6:
			b.WriteString(" ICMPv6 " + icmp6Name(d.icmp6.TypeCode))
		case layers.LayerTypeICMPv6Echo:
			fmt.Fprintf(&b, " id %d seq %d", d.echo6.Identifier, d.echo6.SeqNumber)
		case layers.LayerTypeICMPv6NeighborSolicitation:
			fmt.Fprintf(&b, " who-has %s", d.ns.TargetAddress)
		case layers.LayerTypeICMPv6NeighborAdvertisement:
			fmt.Fprintf(&b, " %s", d.na.TargetAddress)
			for _, o := range d.na.Options {
				if o.Type == layers.ICMPv6OptTargetAddress && len(o.Data) >= 6 {
					fmt.Fprintf(&b, " is-at %s", net.HardwareAddr(o.Data[:6]))
				}
			}
		}
	}
	if !described {
		fmt.Fprintf(&b, "ethertype %#04x", uint16(etherType(frame)))
	}
	fmt.Fprintf(&b, ", %d bytes", len(frame))
	if err != nil {
		b.WriteString(" (malformed: " + err.Error() + ")")
	}
	return b.String()
}

func (d *decoder) decodedAny(lts ...gopacket.LayerType) bool {
	for _, have := range d.decoded {
		for _, lt := range lts {
			if have == lt {
				return true
			}
		}
	}
	return false
}

// etherType is the frame's EtherType after any 802.1Q tags.
func etherType(frame []byte) layers.EthernetType {
	t := binary.BigEndian.Uint16(frame[12:14])
	for off := 14; (t == 0x8100 || t == 0x88a8) && len(frame) >= off+4; off += 4 {
		t = binary.BigEndian.Uint16(frame[off+2 : off+4])
	}
	return layers.EthernetType(t)
}

func (d *decoder) arpSummary() string {
	a := &d.arp
	if a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 || len(a.SourceProtAddress) != 4 || len(a.DstProtAddress) != 4 {
		return fmt.Sprintf("ARP op %d (not Ethernet/IPv4)", a.Operation)
	}
	sender, target := net.IP(a.SourceProtAddress), net.IP(a.DstProtAddress)
	switch a.Operation {
	case layers.ARPRequest:
		if sender.IsUnspecified() {
			return fmt.Sprintf("ARP probe who-has %s", target)
		}
		return fmt.Sprintf("ARP who-has %s tell %s", target, sender)
	case layers.ARPReply:
		return fmt.Sprintf("ARP reply %s is-at %s", sender, net.HardwareAddr(a.SourceHwAddress))
	}
	return fmt.Sprintf("ARP op %d %s > %s", a.Operation, sender, target)
}

// tcpFlags writes TCP flags as tcpdump does: S for SYN, . for ACK, and so
// on, "none" when none is set.
func tcpFlags(t *layers.TCP) string {
	var b strings.Builder
	for _, f := range []struct {
		set bool
		c   byte
	}{{t.FIN, 'F'}, {t.SYN, 'S'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.ACK, '.'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}} {
		if f.set {
			b.WriteByte(f.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func icmp4Summary(i *layers.ICMPv4) string {
	switch i.TypeCode.Type() {
	case layers.ICMPv4TypeEchoRequest:
		return fmt.Sprintf("echo request id %d seq %d", i.Id, i.Seq)
	case layers.ICMPv4TypeEchoReply:
		return fmt.Sprintf("echo reply id %d seq %d", i.Id, i.Seq)
	case layers.ICMPv4TypeDestinationUnreachable:
		return fmt.Sprintf("destination unreachable code %d", i.TypeCode.Code())
	case layers.ICMPv4TypeTimeExceeded:
		return "time exceeded"
	}
	return fmt.Sprintf("type %d code %d", i.TypeCode.Type(), i.TypeCode.Code())
}

func icmp6Name(tc layers.ICMPv6TypeCode) string {
	switch tc.Type() {
	case layers.ICMPv6TypeEchoRequest:
		return "echo request"
	case layers.ICMPv6TypeEchoReply:
		return "echo reply"
	case layers.ICMPv6TypeRouterSolicitation:
		return "router solicitation"
	case layers.ICMPv6TypeRouterAdvertisement:
		return "router advertisement"
	case layers.ICMPv6TypeNeighborSolicitation:
		return "neighbor solicitation"
	case layers.ICMPv6TypeNeighborAdvertisement:
		return "neighbor advertisement"
	case layers.ICMPv6TypeDestinationUnreachable:
		return fmt.Sprintf("destination unreachable code %d", tc.Code())
	case layers.ICMPv6TypePacketTooBig:
		return "packet too big"
	case layers.ICMPv6TypeTimeExceeded:
		return "time exceeded"
	case layers.ICMPv6TypeMLDv2MulticastListenerReportMessageV2:
		return "multicast listener report v2"
	}
	return fmt.Sprintf("type %d code %d", tc.Type(), tc.Code())
}
