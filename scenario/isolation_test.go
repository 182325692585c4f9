package scenario

import "testing"

// TestIntegrationVNIIsolation: networks blue (VNI 4097) and red (VNI 4098)
// use the same subnet, and their containers the same addresses and MACs. A
// probe in one network reaches its addressee there and is never seen in
// the other: the other network's counters and ports do not move on any
// host.
func TestIntegrationVNIIsolation(t *testing.T) {
	c := newCluster(t, spec{
		networks: []network{{name: "blue", vni: 4097}, {name: "red", vni: 4098}},
		containers: []ctr{
			{name: "b1", host: 1, network: "blue", ip: "10.0.1.1"},
			{name: "b2", host: 2, network: "blue", ip: "10.0.1.2"},
			{name: "b3", host: 3, network: "blue", ip: "10.0.1.3"},
			{name: "r1", host: 1, network: "red", ip: "10.0.1.1"},
			{name: "r2", host: 2, network: "red", ip: "10.0.1.2"},
			{name: "r3", host: 3, network: "red", ip: "10.0.1.3"},
		},
	})
	sock := map[string]*udpSock{}
	for name, ct := range c.ctrs {
		sock[name] = ct.openUDP(t, 7000)
	}

	for _, tc := range []struct {
		net, other     string
		from, to, twin string // twin: to's namesake in other, same address and MAC
	}{
		{net: "blue", other: "red", from: "b1", to: "b2", twin: "r2"},
		{net: "red", other: "blue", from: "r1", to: "r2", twin: "b2"},
	} {
		t.Run("probe in "+tc.net, func(t *testing.T) {
			before := c.snapshot()
			otherFDB := map[string]string{}
			for _, h := range c.hosts {
				otherFDB[h.name] = h.fdbRows(tc.other, false)
			}
			probe := []byte("probe in " + tc.net)
			sock[tc.from].send(t, sock[tc.to], probe)
			sock[tc.to].expect(t, probe)
			sock[tc.twin].expectNone(t)
			for _, h := range c.hosts {
				h.check(t, before, "no frame counted in "+tc.other+" or on its ports", func(d counts) bool {
					s := d.net(tc.other)
					if s.Received != 0 || s.Forwarded != 0 || s.Flooded != 0 || s.Dropped() != 0 {
						return false
					}
					for _, ct := range c.ctrs {
						if ct.host == h && ct.network == tc.other && d.port(ct) != (portCounts{}) {
							return false
						}
					}
					return true
				})
			}
			c.host(1).check(t, before, "the probe counted in "+tc.net, func(d counts) bool {
				return d.net(tc.net).Received > 0
			})
			// The twins share MACs: only the probe's network may learn
			// where the addressee lives.
			c.host(1).wantFDB(t, tc.net, c.ctr(tc.to), vtepOf(c.host(2)), arrive)
			for _, h := range c.hosts {
				if now := h.fdbRows(tc.other, false); now != otherFDB[h.name] {
					t.Errorf("traffic in %s changed %s's table of %s:\nbefore: %s\nafter:  %s", tc.net, h.name, tc.other, otherFDB[h.name], now)
				}
			}
		})
	}
}
