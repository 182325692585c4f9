package scenario

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestIntegrationARPProxy: every container is a static neighbor, so h1
// answers c1's ARP requests itself, on c1's port: the Proxied counter
// grows, nothing is flooded or sent to the underlay for the request, and
// c2, whose address was asked for, never sees it. An ARP probe is not
// answered but reaches c2.
func TestIntegrationARPProxy(t *testing.T) {
	c := newCluster(t, oneEach(network{staticNeighbors: true}))
	h1 := c.host(1)
	c1, c2 := c.ctr("c1"), c.ctr("c2")
	c2arp := c2.openRaw(t, layers.EthernetTypeARP)
	// askedFor reports an ARP request for c2's address.
	askedFor := func(p gopacket.Packet) bool {
		a := arpOf(p)
		return a != nil && a.Operation == layers.ARPRequest && bytes.Equal(a.DstProtAddress, c2.ip.AsSlice())
	}

	t.Run("raw request", func(t *testing.T) {
		raw := c1.openRaw(t, layers.EthernetTypeARP)
		before := c.snapshot()
		raw.send(t, arpRequest(t, c1, c2.ip))
		reply, ok := raw.recv(t, arrive, func(p gopacket.Packet) bool {
			a := arpOf(p)
			return a != nil && a.Operation == layers.ARPReply
		})
		if !ok {
			t.Fatalf("c1 got no ARP reply for %s within %v; h1 counters since:%v", c2.ip, arrive, h1.since(before))
		}
		eth := reply.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		a := arpOf(reply)
		if !bytes.Equal(a.SourceHwAddress, c2.mac) || !bytes.Equal(a.SourceProtAddress, c2.ip.AsSlice()) ||
			!bytes.Equal(a.DstHwAddress, c1.mac) || !bytes.Equal(a.DstProtAddress, c1.ip.AsSlice()) ||
			!bytes.Equal(eth.DstMAC, c1.mac) || !bytes.Equal(eth.SrcMAC, c2.mac) {
			t.Errorf("reply %v / %v, want %s is at %s, to %s at %s", eth, a, c2.ip, c2.mac, c1.ip, c1.mac)
		}
		if _, ok := c2arp.recv(t, quiet, askedFor); ok {
			t.Errorf("c2 saw c1's ARP request although h1 answered it")
		}
		h1.check(t, before, "the request counted as one proxied frame, the reply written to c1's port", func(d counts) bool {
			s := d.net("blue")
			return s.Proxied == 1 && s.Received == 1 && s.Flooded == 0 && s.Forwarded == 0 &&
				d.port(c1).io.TxFrames == 1 && d.port(c1).io.RxFrames == 1
		})
		for _, h := range c.hosts {
			h.check(t, before, "no underlay counter moved for a proxied request", noUnderlay)
		}
	})

	t.Run("kernel request", func(t *testing.T) {
		// c1's kernel must resolve c2 before the datagram leaves; the
		// unsolicited raw reply above did not teach it (arp_accept is 0).
		a, b := c1.openUDP(t, 7000), c2.openUDP(t, 7000)
		before := c.snapshot()
		a.send(t, b, []byte("after ARP"))
		b.expect(t, []byte("after ARP"))
		if _, ok := c2arp.recv(t, quiet, askedFor); ok {
			t.Errorf("c2 saw c1's kernel's ARP request although h1 answers for c2")
		}
		h1.check(t, before, "c1's kernel's request proxied", func(d counts) bool { return d.net("blue").Proxied > 0 })
		if mac := neighMAC(t, c1, c2.ip); !bytes.Equal(mac, c2.mac) {
			t.Errorf("c1's kernel has %s at %v, want %s", c2.ip, mac, c2.mac)
		}
	})

	t.Run("probe reaches the owner", func(t *testing.T) {
		// An ARP probe (sender 0.0.0.0, RFC 5227) is duplicate address
		// detection: the switch must let the owner answer.
		raw := c1.openRaw(t, layers.EthernetTypeARP)
		before := c.snapshot()
		raw.send(t, arpFrame(t, layers.ARPRequest, c1.mac, broadcast, c1.mac, netip.IPv4Unspecified(), make(net.HardwareAddr, 6), c2.ip))
		if _, ok := c2arp.recv(t, arrive, askedFor); !ok {
			t.Errorf("c2 did not see an ARP probe for its address")
		}
		h1.check(t, before, "the probe flooded, not proxied", func(d counts) bool {
			s := d.net("blue")
			return s.Proxied == 0 && s.Flooded == 1 && d.peer(c.host(2)).TxFrames == 1
		})
	})
}

// neighMAC returns the MAC ct's kernel has for ip on eth1, or nil.
func neighMAC(t *testing.T, ct *container, ip netip.Addr) []byte {
	t.Helper()
	nl := ct.ns.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByName("eth1")
	if err != nil {
		t.Fatalf("%s: find eth1: %v", ct.name, err)
	}
	ns, err := nl.NeighList(link.Attrs().Index, unix.AF_INET)
	if err != nil {
		t.Fatalf("%s: list neighbors: %v", ct.name, err)
	}
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
			return n.HardwareAddr
		}
	}
	return nil
}
