package scenario

import (
	"fmt"
	"testing"
	"time"
)

// TestIntegrationAgeing: with ageing 2s, a MAC that keeps sending stays in
// h1's FDB past the ageing time; once silent it disappears within a few
// seconds, and the next unicast frame to it is flooded to every peer again.
func TestIntegrationAgeing(t *testing.T) {
	const ageing = 2 * time.Second
	c := newCluster(t, oneEach(network{extra: []string{"ageing: 2s"}}))
	h1, h2, h3 := c.host(1), c.host(2), c.host(3)
	c1, c2 := c.ctr("c1"), c.ctr("c2")

	a, b := c1.openUDP(t, 7000), c2.openUDP(t, 7000)

	// c2 talks to c1 every 250 ms for longer than the ageing time: each
	// datagram refreshes c2's MAC on h1, so it must never go. c2 resolves
	// c1 once and then has nothing to ask, so after the last datagram
	// nothing refreshes the entry.
	var last time.Time
	for i, start := 0, time.Now(); time.Since(start) < ageing+time.Second; i++ {
		msg := fmt.Appendf(nil, "keep-alive %d", i)
		b.send(t, a, msg)
		a.expect(t, msg)
		last = time.Now()
		if where := h1.fdbWhere("blue", c2); where != vtepOf(h2) {
			t.Fatalf("%v into traffic every 250 ms, h1 has c2's MAC at %q, want %q: a refreshed entry aged; %s",
				time.Since(start).Round(time.Millisecond), where, vtepOf(h2), h1.fdbString("blue"))
		}
		time.Sleep(250 * time.Millisecond) // pacing the traffic, not waiting for it
	}

	// Entries age out after 2 s and the sweep runs every second; allow the
	// rest for a busy machine. The entry was refreshed a little before
	// last, so it may seem to go a little early.
	h1.wantFDB(t, "blue", c2, "", ageing+3*time.Second)
	if gone := time.Since(last); gone < ageing-500*time.Millisecond {
		t.Errorf("c2's MAC left h1's FDB %v after it was last refreshed, before the ageing time %v", gone, ageing)
	}

	// c1 knows c2's MAC from c2's ARP request; h1 no longer does.
	before := c.snapshot()
	a.send(t, b, []byte("after ageing"))
	b.expect(t, []byte("after ageing"))
	h1.check(t, before, "the first frame to c2's aged MAC flooded to both peers", func(d counts) bool {
		return d.net("blue").Flooded > 0 && d.peer(h2).TxFrames > 0 && d.peer(h3).TxFrames > 0
	})
}
