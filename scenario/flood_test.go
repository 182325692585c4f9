package scenario

import "testing"

// blue is the overlay network most scenarios use.
var blue = network{name: "blue", vni: 4097}

// oneEach is blue with one container on each host: c1 on h1, c2 on h2, c3
// on h3, with the given network options.
func oneEach(n network, more ...ctr) spec {
	n.name, n.vni = blue.name, blue.vni
	return spec{
		networks: []network{n},
		containers: append([]ctr{
			{name: "c1", host: 1, network: n.name, ip: "10.0.1.1"},
			{name: "c2", host: 2, network: n.name, ip: "10.0.1.2"},
			{name: "c3", host: 3, network: n.name, ip: "10.0.1.3"},
		}, more...),
	}
}

// TestIntegrationFloodAndLearn: the first frame c1 sends to c2, its
// kernel's ARP broadcast, is replicated to both other hosts; the answer
// teaches h1 where c2 lives, after which unicast from c1 to c2 goes to h2
// only: during a burst h3 receives nothing and h1 floods nothing.
func TestIntegrationFloodAndLearn(t *testing.T) {
	c := newCluster(t, oneEach(network{}))
	h1, h2, h3 := c.host(1), c.host(2), c.host(3)
	c1, c2, c3 := c.ctr("c1"), c.ctr("c2"), c.ctr("c3")
	a, b := c1.openUDP(t, 7000), c2.openUDP(t, 7000)

	before := c.snapshot()
	a.send(t, b, []byte("first"))
	b.expect(t, []byte("first"))
	h1.check(t, before, "the first frame flooded to both h2 and h3", func(d counts) bool {
		return d.peer(h2).TxFrames > 0 && d.peer(h3).TxFrames > 0 && d.net("blue").Flooded > 0
	})
	// Split horizon: what came from the underlay never goes back to it.
	h3.check(t, before, "the flood from h1 passed on to c3 and not sent back to the underlay", func(d counts) bool {
		return d.peer(h1).RxFrames > 0 && d.port(c3).io.TxFrames > 0 && noTx(d)
	})

	// c2's ARP reply was unicast, so h3 never saw c2's MAC.
	h1.wantFDB(t, "blue", c2, vtepOf(h2), arrive)
	h1.wantFDB(t, "blue", c1, portOf(c1), 0)
	h2.wantFDB(t, "blue", c1, vtepOf(h1), 0)
	h3.wantFDB(t, "blue", c1, vtepOf(h1), 0)
	h3.wantFDB(t, "blue", c2, "", 0)

	const n = 200
	before = c.snapshot()
	burst(t, a, b, n, "unicast")
	h1.check(t, before, "the whole burst sent to h2, nothing to h3, nothing flooded", func(d counts) bool {
		return d.peer(h2).TxFrames >= n && d.peer(h3).TxFrames == 0 && d.net("blue").Flooded == 0
	})
	h2.check(t, before, "the whole burst from h1 passed on to c2", func(d counts) bool {
		return d.peer(h1).RxFrames >= n && d.port(c2).io.TxFrames >= n && d.net("blue").Forwarded >= n
	})
	h3.check(t, before, "nothing received during a unicast burst from c1 to c2", func(d counts) bool {
		return d.peer(h1).RxFrames == 0 && d.net("blue").Received == 0
	})
}
