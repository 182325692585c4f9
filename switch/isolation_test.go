package vswitch_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

// TestVNIIsolation runs two networks with the same overlay subnet and the
// same MACs: frames and datagrams never cross between them.
func TestVNIIsolation(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2), red(vtep2)}},
		port("b1", "blue"), port("b2", "blue"), port("r1", "red"), port("r2", "red"))

	// Same MAC, same IP, two networks: each flood stays in its network and
	// goes to the VTEP in its own VNI.
	bb := frame(t, mac(1), macBroadcast)
	f.expect(f.fromPort("b1", bb), "flood 2", map[string][][]byte{"b2": {bb}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: bb}})
	rb := udpFrame(t, mac(1), macBroadcast, 1, 300)
	f.expect(f.fromPort("r1", rb), "flood 2", map[string][][]byte{"r2": {rb}},
		[]encap{{Dst: "192.0.2.2", VNI: vniRed, Frame: rb}})

	// mac(1) lives on b1 in blue and on r1 in red, and the switch keeps both.
	if got := f.where("blue", mac(1)); got != "port b1" {
		t.Errorf("blue FDB mac(1) = %q, want port b1", got)
	}
	if got := f.where("red", mac(1)); got != "port r1" {
		t.Errorf("red FDB mac(1) = %q, want port r1", got)
	}

	// mac(2) replies in each network: unicast back within it.
	br := frame(t, mac(2), mac(1))
	f.expect(f.fromPort("b2", br), "port b1", map[string][][]byte{"b1": {br}}, nil)
	rr := frame(t, mac(2), mac(1))
	f.expect(f.fromPort("r2", rr), "port r1", map[string][][]byte{"r1": {rr}}, nil)

	// A MAC learned only in blue is unknown in red: red floods it.
	f.fromPort("b1", frame(t, mac(5), macBroadcast))
	f.delivered()
	f.sent()
	toFive := frame(t, mac(2), mac(5))
	f.expect(f.fromPort("r2", toFive), "flood 2", map[string][][]byte{"r1": {toFive}},
		[]encap{{Dst: "192.0.2.2", VNI: vniRed, Frame: toFive}})

	// Datagrams are delivered by VNI.
	d1 := frame(t, mac(7), macBroadcast)
	f.expect(f.fromUnderlay(vtep2, vniBlue, d1), "flood 2", map[string][][]byte{"b1": {d1}, "b2": {d1}}, nil)
	d2 := frame(t, mac(7), mac(1))
	f.expect(f.fromUnderlay(vtep2, vniRed, d2), "port r1", map[string][][]byte{"r1": {d2}}, nil)
	// mac(7) learned behind .2 in both networks independently.
	if got := f.where("blue", mac(7)); got != "vtep 192.0.2.2" {
		t.Errorf("blue FDB mac(7) = %q", got)
	}
	if got := f.where("red", mac(7)); got != "vtep 192.0.2.2" {
		t.Errorf("red FDB mac(7) = %q", got)
	}

	// A VNI no network has: dropped, counted outside every network.
	f.expect(f.fromUnderlay(vtep2, 5000, frame(t, mac(7), macBroadcast)), "drop unknown_vni", nil, nil)
	if diff := cmp.Diff(vswitch.Stats{Received: 1, Drops: map[string]uint64{"unknown_vni": 1}}, f.unmatched()); diff != "" {
		t.Errorf("unmatched stats (-want +got):\n%s", diff)
	}
	f.checkStats("blue", vswitch.Stats{Received: 4, Forwarded: 1, Flooded: 3})
	f.checkStats("red", vswitch.Stats{Received: 4, Forwarded: 2, Flooded: 2})
}

func TestUnknownPeer(t *testing.T) {
	static := blue(vtep2)
	static.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	open := blue(vtep2)
	open.AllowUnknownPeers = true
	tests := []struct {
		name    string
		nc      vswitch.NetworkConfig
		from    string
		want    string
		learned string // FDB Where of the sender's MAC afterwards
	}{
		{name: "flood-list peer", nc: static, from: "192.0.2.2", want: "flood 1", learned: "vtep 192.0.2.2"},
		{name: "stranger dropped", nc: static, from: "192.0.2.99", want: "drop unknown_peer"},
		{name: "static-FDB VTEP is a known peer", nc: static, from: "192.0.2.4", want: "flood 1", learned: "vtep 192.0.2.4"},
		{name: "stranger allowed", nc: open, from: "192.0.2.99", want: "flood 1", learned: "vtep 192.0.2.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{tt.nc}}, port("p1", "blue"))
			src := mustAddr(tt.from)
			fr := frame(t, mac(7), macBroadcast)
			var wantPorts map[string][][]byte
			if tt.want != "drop unknown_peer" {
				wantPorts = map[string][][]byte{"p1": {fr}}
			}
			f.expect(f.fromUnderlay(src, vniBlue, fr), tt.want, wantPorts, nil)
			if got := f.where("blue", mac(7)); got != tt.learned {
				t.Errorf("FDB mac(7) = %q, want %q", got, tt.learned)
			}
			st := f.stats("blue")
			if st.Received != 1 || st.Received != st.Forwarded+st.Flooded+st.Proxied+st.Dropped() {
				t.Errorf("stats %+v: want exactly one frame counted", st)
			}
			if u := f.unmatched(); u.Received != 0 {
				t.Errorf("unmatched stats %+v, want nothing: the VNI matched", u)
			}
			// A peer the switch accepted shows in Peers with a last-seen time.
			seen := false
			for _, p := range f.s.Peers() {
				if p.Addr == src && p.LastSeen >= 0 {
					seen = true
				}
			}
			if accepted := tt.learned != ""; seen != accepted {
				t.Errorf("peer %s seen in Peers = %v, want %v", src, seen, accepted)
			}
		})
	}
}
