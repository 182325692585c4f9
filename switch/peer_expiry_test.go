package vswitch_test

import (
	"net/netip"
	"testing"
	"time"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

func strangerNet() vswitch.NetworkConfig {
	nc := blue(vtep2)
	nc.AllowUnknownPeers = true
	nc.Ageing = 10 * time.Second
	return nc
}

func peerAddrs(s *vswitch.Switch) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, p := range s.Peers() {
		m[p.Addr] = true
	}
	return m
}

// TestIdlePeersExpire: peers that came in through allow_unknown_peers go
// after a MAC ageing of silence, with the MACs learned behind them;
// configured peers stay however silent.
func TestIdlePeersExpire(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{strangerNet()}}, port("p1", "blue"))
	a, b := netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("192.0.2.51")
	f.fromUnderlay(a, vniBlue, frame(t, mac(50), macBroadcast))
	f.fromUnderlay(b, vniBlue, frame(t, mac(51), macBroadcast))
	f.clock.Advance(6 * time.Second)
	f.fromUnderlay(a, vniBlue, frame(t, mac(50), macBroadcast))
	f.clock.Advance(5 * time.Second) // b silent 11 s, a 5 s
	f.s.Expire()

	got := peerAddrs(f.s)
	if !got[a] || got[b] || !got[vtep2] {
		t.Errorf("peers after expiry: %v; want %s and %s (configured), not %s", got, a, vtep2, b)
	}
	if w := f.where("blue", mac(51)); w != "" {
		t.Errorf("MAC behind the expired peer still in the FDB at %q", w)
	}
	if w := f.where("blue", mac(50)); w != "vtep "+a.String() {
		t.Errorf("MAC behind the live peer at %q", w)
	}
	// The expired sender is welcome back as a new peer.
	if v := f.fromUnderlay(b, vniBlue, frame(t, mac(51), mac(1))); v.Action == vswitch.ActionDrop {
		t.Errorf("returning stranger dropped: %s", verdict(v))
	}
}

// TestFullPeerTableRecovers: strangers that fill the peer table block new
// senders only until they expire and their IDs have rested a MAC ageing,
// so that no FDB entry learned behind an old owner can reach a new one.
func TestFullPeerTableRecovers(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{strangerNet()}}, port("p1", "blue"))
	dgram := encapsulate(vniBlue, frame(t, mac(60), mac(1)))
	for i := 0; i < 65535; i++ { // the configured peer holds the last ID
		f.datagram(netip.AddrFrom4([4]byte{240, 1, byte(i >> 8), byte(i)}), dgram) // class E: never a real host
	}
	if n := len(f.s.Peers()); n != 65536 {
		t.Fatalf("peer table holds %d, want it full at 65536", n)
	}
	newcomer := netip.MustParseAddr("192.0.2.77")
	if v := f.fromUnderlay(newcomer, vniBlue, frame(t, mac(77), mac(1))); v.Reason != vswitch.ReasonUnknownPeer {
		t.Fatalf("newcomer to a full table: %s, want unknown_peer", verdict(v))
	}
	f.clock.Advance(11 * time.Second)
	f.s.Expire()
	if v := f.fromUnderlay(newcomer, vniBlue, frame(t, mac(77), mac(1))); v.Reason != vswitch.ReasonUnknownPeer {
		t.Fatalf("newcomer while the freed IDs rest: %s, want unknown_peer", verdict(v))
	}
	f.clock.Advance(10 * time.Second)
	if v := f.fromUnderlay(newcomer, vniBlue, frame(t, mac(77), mac(1))); v.Action == vswitch.ActionDrop {
		t.Fatalf("newcomer after the quarantine: %s", verdict(v))
	}
	if got := peerAddrs(f.s); len(got) != 2 || !got[newcomer] || !got[vtep2] {
		t.Errorf("peers: %d, want the newcomer and the configured peer", len(got))
	}
}
