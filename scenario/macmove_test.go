package scenario

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestIntegrationMACMove: c2's MAC, known behind h2, reappears behind h3 in
// one gratuitous ARP sent from c3's eth1 with c2's MAC and address. After
// that single frame h1 and h2 both have the MAC behind h3, and unicast from
// c1 to it goes to h3, not h2. One gratuitous ARP from c2 moves it back.
func TestIntegrationMACMove(t *testing.T) {
	c := newCluster(t, oneEach(network{}))
	h1, h2, h3 := c.host(1), c.host(2), c.host(3)
	c1, c2, c3 := c.ctr("c1"), c.ctr("c2"), c.ctr("c3")

	// One way, c2 to c1: c2 resolves c1 and then has nothing to refresh,
	// so no later frame from c2 can move the MAC back during the test.
	a, b := c1.openUDP(t, 7000), c2.openUDP(t, 7000)
	b.send(t, a, []byte("from c2"))
	a.expect(t, []byte("from c2"))
	h1.wantFDB(t, "blue", c2, vtepOf(h2), arrive)

	c3raw := c3.openRaw(t, layers.EthernetTypeARP)
	before := c.snapshot()
	c3raw.send(t, gratuitousARP(t, c2.mac, c2.ip))
	h1.wantFDB(t, "blue", c2, vtepOf(h3), arrive)
	h2.wantFDB(t, "blue", c2, vtepOf(h3), arrive)
	h3.wantFDB(t, "blue", c2, portOf(c3), 0)
	h3.check(t, before, "the one gratuitous ARP read from c3's port", func(d counts) bool {
		return d.port(c3).io.RxFrames == 1
	})

	// c1 still maps c2's address to c2's MAC: its datagrams now go to h3,
	// where c3's eth1 receives them (and its kernel, not being that MAC,
	// ignores them).
	c3ip := c3.openRaw(t, layers.EthernetTypeIPv4)
	const n = 20
	before = c.snapshot()
	for i := range n {
		a.send(t, b, []byte{byte(i)})
	}
	if _, ok := c3ip.recv(t, arrive, func(p gopacket.Packet) bool {
		u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		return u != nil && u.DstPort == 7000
	}); !ok {
		t.Errorf("c3's eth1 did not receive c1's datagrams for c2's moved MAC")
	}
	h1.check(t, before, "c1's datagrams sent to h3 only, none flooded", func(d counts) bool {
		return d.peer(h3).TxFrames >= n && d.peer(h2).TxFrames == 0 && d.net("blue").Flooded == 0
	})
	b.expectNone(t)

	// And back: c2 announces itself from its own port.
	c2.openRaw(t, layers.EthernetTypeARP).send(t, gratuitousARP(t, c2.mac, c2.ip))
	h2.wantFDB(t, "blue", c2, portOf(c2), arrive)
	h1.wantFDB(t, "blue", c2, vtepOf(h2), arrive)
	h3.wantFDB(t, "blue", c2, vtepOf(h2), arrive)
}
