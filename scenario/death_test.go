package scenario

import (
	"testing"
	"time"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// TestIntegrationContainerDeath: deleting a container's namespace deletes
// its TAP; h2's switch notices, drops the port and the MACs learned on it,
// and keeps switching for the container that remains.
func TestIntegrationContainerDeath(t *testing.T) {
	c := newCluster(t, oneEach(network{}, ctr{name: "c2b", host: 2, network: "blue", ip: "10.0.1.12"}))
	h2 := c.host(2)
	c1, c2, c2b := c.ctr("c1"), c.ctr("c2"), c.ctr("c2b")
	a := c1.openUDP(t, 7000)

	doomed := c2b.openUDP(t, 7000)
	exchange(t, a, doomed, "before death")
	h2.wantFDB(t, "blue", c2b, portOf(c2b), 0)
	d := h2.d
	// The socket would keep the namespace, and so the TAP, alive.
	doomed.Close()
	c2b.ns.Delete(t)

	if !nstest.Poll(10*time.Second, func() bool { return !h2.hasPort(c2b) }) {
		t.Fatalf("h2 still lists port %s 10s after its namespace was deleted: %+v", c2b.port, h2.d.Switch.Ports())
	}
	if !h2.hasPort(c2) {
		t.Fatalf("h2 lost port %s too: %+v", c2.port, h2.d.Switch.Ports())
	}
	if where := h2.fdbWhere("blue", c2b); where != "" {
		t.Errorf("h2 still has %s's MAC at %s; %s", c2b.name, where, h2.fdbString("blue"))
	}

	b := c2.openUDP(t, 7000)
	before := c.snapshot()
	exchange(t, a, b, "after death")
	if h2.d != d {
		t.Fatal("h2's switch was replaced")
	}
	h2.check(t, before, "c2's traffic switched after c2b died", func(d counts) bool {
		return d.port(c2).io.TxFrames > 0 && d.port(c2).io.RxFrames > 0 && d.net("blue").Received > 0
	})
}

// hasPort reports whether h's switch lists ct's port.
func (h *host) hasPort(ct *container) bool {
	for _, p := range h.d.Switch.Ports() {
		if p.Name == ct.port {
			return true
		}
	}
	return false
}
