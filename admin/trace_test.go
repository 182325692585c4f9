package admin

import (
	"bufio"
	"encoding/json"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestTrace(t *testing.T) {
	tb := newTestbed(t)
	s, err := tb.client.Trace(ctxT(t), TraceRequest{Network: "blue", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tb.exchange()
	tb.c1.Inject(arpRequest(t, mac(1), ip(1), ip(9)))
	var got []TraceEvent
	sc := bufio.NewScanner(s)
	for sc.Scan() {
		var ev TraceEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if ev.Time.IsZero() || time.Since(ev.Time) > time.Minute {
			t.Errorf("event time %v", ev.Time)
		}
		got = append(got, ev)
	}
	// The two readers run concurrently: order by ingress, then summary.
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].Ingress != got[j].Ingress {
			return got[i].Ingress < got[j].Ingress
		}
		return got[i].Summary < got[j].Summary
	})
	vni := uint32(vniBlue)
	want := []TraceEvent{
		{Ingress: "port c1-eth1", Network: "blue", VNI: &vni, Src: "02:00:00:00:00:01", Dst: "ff:ff:ff:ff:ff:ff", Length: 60,
			Summary: "ARP who-has 10.0.1.9 tell 10.0.1.1, 60 bytes",
			Verdict: Verdict{Action: "proxy", Port: "c1-eth1", Decision: "proxied"}},
		{Ingress: "port c1-eth1", Network: "blue", VNI: &vni, Src: "02:00:00:00:00:01", Dst: "02:00:00:00:00:02", Length: 60,
			Summary: "IPv4 10.0.1.1 > 10.0.1.2 UDP 5000 > 53 len 5, 60 bytes",
			Verdict: Verdict{Action: "vtep", VTEP: "192.0.2.2", Decision: "→ vtep 192.0.2.2"}},
		{Ingress: "vtep 192.0.2.2", Network: "blue", VNI: &vni, Src: "02:00:00:00:00:02", Dst: "ff:ff:ff:ff:ff:ff", Length: 60,
			Summary: "IPv4 10.0.1.2 > 255.255.255.255 UDP 68 > 67 len 5, 60 bytes",
			Verdict: Verdict{Action: "flood", Copies: 1, Decision: "flood ×1"}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(TraceEvent{}, "Time")); diff != "" {
		t.Errorf("trace mismatch (-want +got):\n%s", diff)
	}
	if packets, drops, ok := s.Counts(); !ok || packets != 3 || drops != 0 {
		t.Errorf("counts %d, %d, %v; want 3, 0, true", packets, drops, ok)
	}
}

func TestFormatTrace(t *testing.T) {
	vni := uint32(4097)
	at := time.Date(2026, 5, 1, 12, 0, 1, 42000, time.UTC)
	tests := []struct {
		name string
		ev   TraceEvent
		want string
	}{
		{
			"proxied ARP",
			TraceEvent{Time: at, Ingress: "port c1-eth1", Network: "blue", VNI: &vni, Src: "02:00:0a:00:01:02", Dst: "ff:ff:ff:ff:ff:ff",
				Summary: "ARP who-has 10.0.1.3 tell 10.0.1.2, 42 bytes", Verdict: Verdict{Decision: "proxied"}},
			"12:00:01.000042 port c1-eth1   vni 4097     02:00:0a:00:01:02 > ff:ff:ff:ff:ff:ff ARP who-has 10.0.1.3 tell 10.0.1.2, 42 bytes [proxied]",
		},
		{
			"datagram of no network",
			TraceEvent{Time: at, Ingress: "vtep 192.0.2.9", Summary: "VXLAN datagram of 3 bytes, shorter than its header",
				Verdict: Verdict{Decision: "drop: vxlan_runt"}},
			"12:00:01.000042 vtep 192.0.2.9 vni -        - > - VXLAN datagram of 3 bytes, shorter than its header [drop: vxlan_runt]",
		},
	}
	for _, tt := range tests {
		if got := FormatTrace(tt.ev, time.UTC); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	m1, m2 := mac(1), mac(2)
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: m1, DstMAC: m2, EthernetType: t}
	}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: ip(2), DstIP: ip(3)}
	}
	src6, dst6 := net.ParseIP("fe80::2"), net.ParseIP("ff02::1:ff00:3")
	ip6 := func() *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src6, DstIP: dst6}
	}
	ipTCP := ip4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 51000, DstPort: 443, SYN: true, Window: 1000}
	tcp.SetNetworkLayerForChecksum(ipTCP)
	ipICMP6 := ip6()
	icmp6 := func(typ uint8) *layers.ICMPv6 {
		l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		l.SetNetworkLayerForChecksum(ipICMP6)
		return l
	}
	target := net.ParseIP("2001:db8::3")
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"ARP request", arpRequest(t, m1, ip(2), ip(3)), "ARP who-has 10.0.1.3 tell 10.0.1.2, 60 bytes"},
		{"ARP probe", arpRequest(t, m1, net.IPv4zero.To4(), ip(3)), "ARP probe who-has 10.0.1.3, 60 bytes"},
		{"ARP reply", serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: mac(3), SourceProtAddress: ip(3), DstHwAddress: m1, DstProtAddress: ip(2),
		}), "ARP reply 10.0.1.3 is-at 02:00:00:00:00:03, 60 bytes"},
		{"TCP SYN", serialize(t, eth(layers.EthernetTypeIPv4), ipTCP, tcp), "IPv4 10.0.1.2 > 10.0.1.3 TCP 51000 > 443 [S] len 0, 60 bytes"},
		{"ICMP echo", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}),
			"IPv4 10.0.1.2 > 10.0.1.3 ICMP echo request id 7 seq 1, 60 bytes"},
		{"IPv4 other protocol", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE), gopacket.Payload("x")),
			"IPv4 10.0.1.2 > 10.0.1.3 proto 47, 60 bytes"},
		{"neighbor solicitation", serialize(t, eth(layers.EthernetTypeIPv6), ipICMP6, icmp6(layers.ICMPv6TypeNeighborSolicitation),
			&layers.ICMPv6NeighborSolicitation{TargetAddress: target}),
			"IPv6 fe80::2 > ff02::1:ff00:3 ICMPv6 neighbor solicitation who-has 2001:db8::3, 78 bytes"},
		{"neighbor advertisement", serialize(t, eth(layers.EthernetTypeIPv6), ipICMP6, icmp6(layers.ICMPv6TypeNeighborAdvertisement),
			&layers.ICMPv6NeighborAdvertisement{TargetAddress: target, Flags: 0x60,
				Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: mac(3)}}}),
			"IPv6 fe80::2 > ff02::1:ff00:3 ICMPv6 neighbor advertisement 2001:db8::3 is-at 02:00:00:00:00:03, 86 bytes"},
		{"VLAN tagged", serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeARP}, &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: m1, SourceProtAddress: ip(2), DstHwAddress: make([]byte, 6), DstProtAddress: ip(3),
		}), "vlan 10 ARP who-has 10.0.1.3 tell 10.0.1.2, 60 bytes"},
		{"LLDP", serialize(t, eth(layers.EthernetTypeLinkLayerDiscovery), gopacket.Payload(make([]byte, 46))), "ethertype 0x88cc, 60 bytes"},
		{"runt", []byte{1, 2, 3}, "runt frame of 3 bytes"},
		{"truncated IPv4", append(serialize(t, eth(layers.EthernetTypeIPv4))[:ethHeaderLen], 0x45, 0), "ethertype 0x0800, 16 bytes (malformed: Invalid ip4 header. Length 2 less than 20)"},
	}
	d := newDecoder()
	for _, tt := range tests {
		if got := d.summary(tt.frame); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
