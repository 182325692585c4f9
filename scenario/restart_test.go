package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vxswitch/vxswitch/internal/nstest"
)

// TestIntegrationRestart: closing h2's vxswitch removes c2's eth1; starting
// it again with the same configuration recreates eth1, same MAC and
// address, in the namespace that survived, and c1 and c2 talk again with
// h1 and h3 untouched. c1 streams to c2 across the restart.
func TestIntegrationRestart(t *testing.T) {
	c := newCluster(t, oneEach(network{}))
	h1, h2, h3 := c.host(1), c.host(2), c.host(3)
	c1, c2 := c.ctr("c1"), c.ctr("c2")
	a := c1.openUDP(t, 7000)
	exchange(t, a, c2.openUDP(t, 7000), "before restart")
	d1, d3 := h1.d, h3.d

	// c1 keeps sending to c2 throughout, so h2 closes and starts with
	// datagrams arriving from h1.
	stop := stream(a, netip.AddrPortFrom(c2.ip, 7002))
	defer stop()
	if err := h2.d.Close(); err != nil {
		t.Fatalf("close h2: %v", err)
	}
	if c2.hasEth1(t) {
		t.Fatal("c2's eth1 outlived h2's vxswitch")
	}
	h2.start(t)
	if mac := c2.eth1MAC(t); !bytes.Equal(mac, c2.mac) {
		t.Fatalf("c2's eth1 came back with MAC %v, want %s", mac, c2.mac)
	}

	// The new switch takes the stream from h1 at once, before c2 has sent
	// anything to teach it where c1 is.
	if !nstest.Poll(arrive, func() bool { return h2.counts().peer(h1).RxFrames > 0 }) {
		t.Errorf("the restarted h2 received nothing of c1's stream within %v; h2 counters:%v", arrive, h2.counts())
	}
	stop()

	before := c.snapshot()
	// A new socket: the old one's address vanished with the old eth1.
	exchange(t, a, c2.openUDP(t, 7001), "after restart")
	if h1.d != d1 || h3.d != d3 {
		t.Fatal("h1's or h3's switch was replaced")
	}
	h1.check(t, before, "frames exchanged with the restarted h2", func(d counts) bool {
		return d.peer(h2).RxFrames > 0 && d.peer(h2).TxFrames > 0
	})
	h2.wantFDB(t, "blue", c1, vtepOf(h1), 0)
	h2.wantFDB(t, "blue", c2, portOf(c2), 0)
}

// hasEth1 reports whether ct's namespace has an eth1.
func (ct *container) hasEth1(t *testing.T) bool { return ct.eth1MAC(t) != nil }

// eth1MAC returns the MAC of ct's eth1, or nil if it has none.
func (ct *container) eth1MAC(t *testing.T) []byte {
	t.Helper()
	nl := ct.ns.Handle(t)
	defer nl.Close()
	link, err := nl.LinkByName("eth1")
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s: find eth1: %v", ct.name, err)
	}
	return link.Attrs().HardwareAddr
}

// stream sends a datagram from s to dst every millisecond or two until the
// returned stop is called; send errors are ignored.
func stream(s *udpSock, dst netip.AddrPort) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-t.C:
				s.sendErr(dst, fmt.Appendf(nil, "stream %d", i))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}
