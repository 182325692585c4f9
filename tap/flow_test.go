package tap

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// flowFrame builds an Ethernet frame from src:sport to dst:dport over proto
// (TCP, UDP or ICMP), with vlan > 0 adding an 802.1Q tag and frag making an
// IPv4 packet a non-first fragment.
func flowFrame(t *testing.T, src, dst net.IP, sport, dport uint16, proto layers.IPProtocol, vlan uint16, frag bool) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	ipType := layers.EthernetTypeIPv4
	if src.To4() == nil {
		ipType = layers.EthernetTypeIPv6
	}
	if vlan > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: vlan, Type: ipType})
	} else {
		eth.EthernetType = ipType
	}
	var nl gopacket.NetworkLayer
	if ipType == layers.EthernetTypeIPv4 {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
		if frag {
			ip.FragOffset = 100
		}
		nl = ip
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src, DstIP: dst}
		nl = ip
		ls = append(ls, ip)
	}
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true, Window: 100}
		tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: sport})
	}
	ls = append(ls, gopacket.Payload("0123456789"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	flowA4 = net.IP{192, 0, 2, 1}
	flowB4 = net.IP{192, 0, 2, 2}
	flowA6 = net.ParseIP("2001:db8::1")
	flowB6 = net.ParseIP("2001:db8::2")
)

func TestFlowHash(t *testing.T) {
	tcp, udp, icmp := layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4
	for _, fam := range []struct {
		name string
		a, b net.IP
	}{{"ipv4", flowA4, flowB4}, {"ipv6", flowA6, flowB6}} {
		t.Run(fam.name, func(t *testing.T) {
			a, b := fam.a, fam.b
			h := flowHash(flowFrame(t, a, b, 40000, 80, tcp, 0, false))
			if h == 0 {
				t.Fatal("IP frame hashes to 0")
			}
			if got := flowHash(flowFrame(t, b, a, 80, 40000, tcp, 0, false)); got != h {
				t.Errorf("reverse direction: %#x, want %#x (symmetric)", got, h)
			}
			if got := flowHash(flowFrame(t, a, b, 40000, 80, tcp, 7, false)); got != h {
				t.Errorf("with a VLAN tag: %#x, want %#x", got, h)
			}
			if got := flowHash(flowFrame(t, a, b, 40001, 80, tcp, 0, false)); got == h {
				t.Errorf("other source port: same hash %#x", got)
			}
			if got := flowHash(flowFrame(t, a, b, 40000, 80, udp, 0, false)); got == h {
				t.Errorf("UDP with the same ports: same hash %#x as TCP", got)
			}
		})
	}
	t.Run("ipv4 fragments ignore ports", func(t *testing.T) {
		f1 := flowHash(flowFrame(t, flowA4, flowB4, 1, 2, udp, 0, true))
		f2 := flowHash(flowFrame(t, flowA4, flowB4, 3, 4, udp, 0, true))
		if f1 != f2 || f1 == 0 {
			t.Errorf("fragments hash %#x and %#x, want equal and not 0", f1, f2)
		}
	})
	t.Run("icmp ignores id", func(t *testing.T) {
		f1 := flowHash(flowFrame(t, flowA4, flowB4, 1, 0, icmp, 0, false))
		f2 := flowHash(flowFrame(t, flowA4, flowB4, 2, 0, icmp, 0, false))
		if f1 != f2 {
			t.Errorf("echo ids 1 and 2 hash %#x and %#x, want equal", f1, f2)
		}
	})
	t.Run("not IP", func(t *testing.T) {
		if got := flowHash(arpRequest(addr4.Addr())); got != 0 {
			t.Errorf("ARP hashes to %#x, want 0", got)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		f := flowFrame(t, flowA6, flowB6, 40000, 80, tcp, 7, false)
		for n := range len(f) {
			flowHash(f[:n]) // must not panic
		}
		bad := flowFrame(t, flowA4, flowB4, 40000, 80, tcp, 0, false)
		bad[ethHeaderLen] = 0x4f // IHL 60 bytes, longer than the frame
		flowHash(bad)
	})
}

// TestQueueIndexSpread checks that flows differing only in a source port
// spread evenly over the queues.
func TestQueueIndexSpread(t *testing.T) {
	const queues, flows = 4, 4000
	f := flowFrame(t, flowA4, flowB4, 0, 80, layers.IPProtocolUDP, 0, false)
	var count [queues]int
	for p := range flows {
		binary.BigEndian.PutUint16(f[ethHeaderLen+ipv4MinHeaderLen:], uint16(20000+p))
		i := queueIndex(flowHash(f), queues)
		if i < 0 || i >= queues {
			t.Fatalf("queueIndex = %d, want [0, %d)", i, queues)
		}
		count[i]++
	}
	for i, c := range count {
		if c < flows/queues*8/10 || c > flows/queues*12/10 {
			t.Errorf("queue %d got %d of %d flows, want about %d: %v", i, c, flows, flows/queues, count)
		}
	}
	if queueIndex(0, queues) != 0 || queueIndex(^uint32(0), queues) != queues-1 {
		t.Errorf("queueIndex bounds: %d %d", queueIndex(0, queues), queueIndex(^uint32(0), queues))
	}
}

func TestFlowHashAllocs(t *testing.T) {
	f := flowFrame(t, flowA6, flowB6, 40000, 80, layers.IPProtocolTCP, 7, false)
	if a := testing.AllocsPerRun(100, func() { flowHash(f) }); a != 0 {
		t.Errorf("flowHash: %v allocs per run, want 0", a)
	}
}
