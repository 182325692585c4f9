package scenario

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Sizes on a 1500-byte IPv4 underlay: the port MTU is 1500 - 50 = 1450, an
// IP packet of that size is a 1464-byte frame, exactly the largest inner
// frame that fits (1500 - 20 IP - 8 UDP - 8 VXLAN).
const (
	portMTU     = 1450
	maxInner    = 1500 - 20 - 8 - vxlanHeader
	vxlanHeader = 8
	ipUDPHeader = 20 + 8
)

// TestIntegrationMTU: a datagram that makes an IP packet of exactly the
// port MTU crosses the overlay whole, with DF set, and so does TCP in
// full-size segments. Larger frames are dropped whole and counted as
// "oversize", never truncated or fragmented: one from a port whose MTU was
// raised behind the switch's back (dropped on ingress), an 802.1Q frame
// that fits the port but not the underlay (dropped at encapsulation), and
// one that crossed the underlay to a port with a smaller MTU (dropped on
// egress).
func TestIntegrationMTU(t *testing.T) {
	c := newCluster(t, oneEach(network{}, ctr{name: "cs", host: 2, network: "blue", ip: "10.0.1.22", mtu: 1400}))
	h1, h2 := c.host(1), c.host(2)
	c1, c2, cs := c.ctr("c1"), c.ctr("c2"), c.ctr("cs")
	a, b := c1.openUDP(t, 7000), c2.openUDP(t, 7000)
	exchange(t, a, b, "warm-up")
	if mtu := c1.eth1MTU(t); mtu != portMTU {
		t.Fatalf("c1's eth1 has MTU %d, want %d", mtu, portMTU)
	}

	t.Run("exactly the MTU crosses", func(t *testing.T) {
		before := c.snapshot()
		full := bytes.Repeat([]byte{0xa5}, portMTU-ipUDPHeader)
		a.send(t, b, full)
		b.expect(t, full)
		h1.check(t, before, "the full-size frame sent to h2 whole, nothing dropped", func(d counts) bool {
			io := d.peer(h2)
			return io.TxFrames == 1 && io.TxBytes == maxInner+vxlanHeader && d.net("blue").Dropped() == 0
		})
		h2.check(t, before, "the full-size frame written to c2 whole", func(d counts) bool {
			return d.port(c2).io.TxFrames == 1 && d.port(c2).io.TxBytes == maxInner
		})
		// One byte more and c1's own kernel refuses (DF, MTU 1450).
		if err := a.sendErr(b.addr(), append(full, 0)); err == nil {
			t.Errorf("c1 sent a %d-byte packet with DF through a %d-byte MTU", portMTU+1, portMTU)
		}
	})

	t.Run("TCP in full-size segments crosses", func(t *testing.T) {
		// With MSS 1410 the data segments are exactly 1450-byte packets.
		before := c.snapshot()
		transferTCP(t, c1, c2, 8000, 1<<20, 30*time.Second)
		h1.check(t, before, "a megabyte sent to h2 in full-size frames, nothing dropped", func(d counts) bool {
			io := d.peer(h2)
			return io.TxBytes >= 1<<20 && io.TxFrames > 0 && io.TxBytes/io.TxFrames > 1400 && d.net("blue").Dropped() == 0
		})
	})

	t.Run("oversize from a port dropped on ingress", func(t *testing.T) {
		c1.setEth1MTU(t, 1600)
		before := c.snapshot()
		a.send(t, b, bytes.Repeat([]byte{0x5a}, 1500-ipUDPHeader))
		b.expectNone(t)
		h1.check(t, before, "the one frame read from c1's port and dropped as oversize, nothing sent", func(d counts) bool {
			return d.net("blue").Drops["oversize"] == 1 && d.net("blue").Received == 1 &&
				d.port(c1).io.RxFrames == 1 && noUnderlay(d)
		})
		h2.check(t, before, "nothing received", func(d counts) bool {
			return d.peer(h1) == noIO && d.port(c2) == (portCounts{})
		})
	})

	t.Run("tagged frame over the underlay MTU dropped at encapsulation", func(t *testing.T) {
		// An 802.1Q tag lets a frame from a port carry 4 bytes more than
		// the port MTU allows untagged, but the underlay still fits only
		// 1464: the largest such frame crosses, 4 bytes more are dropped
		// whole rather than sent cut.
		raw := c1.openRaw(t, layers.EthernetTypeDot1Q)
		for _, tc := range []struct {
			size    int
			crosses bool
		}{{maxInner, true}, {maxInner + 4, false}} {
			before := c.snapshot()
			raw.send(t, taggedFrame(t, c1, c2, tc.size))
			if tc.crosses {
				h1.check(t, before, fmt.Sprintf("a %d-byte tagged frame sent to h2 whole", tc.size), func(d counts) bool {
					return d.peer(h2).TxFrames == 1 && d.peer(h2).TxBytes == uint64(tc.size+vxlanHeader) && d.net("blue").Dropped() == 0
				})
				h2.check(t, before, fmt.Sprintf("a %d-byte tagged frame written to c2 whole", tc.size), func(d counts) bool {
					return d.port(c2).io.TxFrames == 1 && d.port(c2).io.TxBytes == uint64(tc.size)
				})
				continue
			}
			h1.check(t, before, fmt.Sprintf("a %d-byte tagged frame read and dropped as oversize, nothing sent", tc.size), func(d counts) bool {
				return d.port(c1).io.RxFrames == 1 && d.net("blue").Drops["oversize"] == 1 && noUnderlay(d)
			})
		}
	})

	t.Run("oversize for the egress port dropped", func(t *testing.T) {
		// cs's port MTU is 1400: h2 must not write it a 1450-byte packet
		// that crossed the underlay.
		small := cs.openUDP(t, 7000)
		exchange(t, a, small, "small")
		before := c.snapshot()
		a.send(t, small, bytes.Repeat([]byte{0x3c}, portMTU-ipUDPHeader))
		small.expectNone(t)
		h2.check(t, before, "the frame from h1 dropped as oversize on cs's port, nothing written", func(d counts) bool {
			p := d.port(cs)
			return d.net("blue").Drops["oversize"] == 1 && d.peer(h1).RxFrames == 1 && p.drops == 1 && p.io.TxFrames == 0
		})
	})
}

// eth1MTU returns the MTU of ct's eth1.
func (ct *container) eth1MTU(t *testing.T) int {
	t.Helper()
	nl := ct.ns.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByName("eth1")
	if err != nil {
		t.Fatalf("%s: find eth1: %v", ct.name, err)
	}
	return link.Attrs().MTU
}

// setEth1MTU changes the MTU of ct's eth1 behind the switch's back.
func (ct *container) setEth1MTU(t *testing.T, mtu int) {
	t.Helper()
	nl := ct.ns.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByName("eth1")
	if err == nil {
		err = nl.LinkSetMTU(link, mtu)
	}
	if err != nil {
		t.Fatalf("%s: set eth1 MTU %d: %v", ct.name, mtu, err)
	}
}

// taggedFrame is a size-byte 802.1Q frame (VLAN 100) from one container to
// another, filled with zeros: nothing beyond the tag needs to parse.
func taggedFrame(t *testing.T, from, to *container, size int) []byte {
	t.Helper()
	const tagged = 14 + 4
	eth := &layers.Ethernet{SrcMAC: from.mac, DstMAC: to.mac, EthernetType: layers.EthernetTypeDot1Q}
	tag := &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, tag, gopacket.Payload(make([]byte, size-tagged))); err != nil {
		t.Fatalf("build tagged frame: %v", err)
	}
	return buf.Bytes()
}
