package scenario

import "testing"

// TestIntegrationLocalSwitching: two containers on h1 in one network talk
// through h1's switch alone. Once each has been heard from (the first ARP
// broadcast still floods), a burst each way moves no underlay counter on
// any host, floods nothing, and is counted as forwarded port to port.
func TestIntegrationLocalSwitching(t *testing.T) {
	c := newCluster(t, oneEach(network{}, ctr{name: "c1b", host: 1, network: "blue", ip: "10.0.1.11"}))
	h1 := c.host(1)
	c1, c1b := c.ctr("c1"), c.ctr("c1b")
	a, b := c1.openUDP(t, 7000), c1b.openUDP(t, 7000)

	exchange(t, a, b, "warm-up")
	h1.wantFDB(t, "blue", c1, portOf(c1), 0)
	h1.wantFDB(t, "blue", c1b, portOf(c1b), 0)

	const n = 100
	before := c.snapshot()
	burst(t, a, b, n, "c1 to c1b")
	burst(t, b, a, n, "c1b to c1")
	h1.check(t, before, "both bursts switched port to port, nothing flooded or dropped", func(d counts) bool {
		s, p, q := d.net("blue"), d.port(c1).io, d.port(c1b).io
		return s.Forwarded >= 2*n && s.Flooded == 0 && s.Dropped() == 0 &&
			p.RxFrames >= n && p.TxFrames >= n && q.RxFrames >= n && q.TxFrames >= n
	})
	for _, h := range c.hosts {
		h.check(t, before, "no underlay counter moved during local traffic on h1", noUnderlay)
	}
}
