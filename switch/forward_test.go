package vswitch_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
)

func TestLocalSwitchingAfterLearning(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"), port("p3", "blue"))

	// mac(2) is unknown: the first frame floods to the other ports and to
	// every VTEP of the flood list, never back to p1.
	first := frame(t, mac(1), mac(2))
	f.expect(f.fromPort("p1", first), "flood 4",
		map[string][][]byte{"p2": {first}, "p3": {first}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: first}, {Dst: "192.0.2.3", VNI: vniBlue, Frame: first}})

	// The reply goes to the port mac(1) was learned on, and only there.
	reply := frame(t, mac(2), mac(1))
	f.expect(f.fromPort("p2", reply), "port p1", map[string][][]byte{"p1": {reply}}, nil)

	// Both are known now: unicast the other way too, nothing to the underlay.
	again := udpFrame(t, mac(1), mac(2), 40001, 200)
	f.expect(f.fromPort("p1", again), "port p2", map[string][][]byte{"p2": {again}}, nil)

	f.checkStats("blue", vswitch.Stats{Received: 3, Forwarded: 2, Flooded: 1})
	if got := f.where("blue", mac(1)); got != "port p1" {
		t.Errorf("FDB mac(1) = %q, want port p1", got)
	}
	if got := f.where("blue", mac(2)); got != "port p2" {
		t.Errorf("FDB mac(2) = %q, want port p2", got)
	}
}

func TestRemoteUnicastToLearnedVTEP(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"))

	// mac(7) speaks from behind 192.0.2.2: the switch learns it there. Its
	// broadcast goes to the local ports only.
	hello := frame(t, mac(7), macBroadcast)
	f.expect(f.fromUnderlay(vtep2, vniBlue, hello), "flood 2",
		map[string][][]byte{"p1": {hello}, "p2": {hello}}, nil)
	if got, want := f.where("blue", mac(7)), "vtep 192.0.2.2"; got != want {
		t.Errorf("FDB mac(7) = %q, want %q", got, want)
	}

	// A frame to mac(7) is encapsulated to that VTEP alone, byte-identical,
	// in the network's VNI.
	out := udpFrame(t, mac(1), mac(7), 40000, 1000)
	f.expect(f.fromPort("p1", out), "vtep 192.0.2.2", nil,
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: out}})

	f.checkStats("blue", vswitch.Stats{Received: 2, Forwarded: 1, Flooded: 1})
}

func TestRemoteUnicastToStaticVTEP(t *testing.T) {
	nc := blue(vtep2)
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}}, port("p1", "blue"))

	out := frame(t, mac(1), mac(8))
	f.expect(f.fromPort("p1", out), "vtep 192.0.2.4", nil,
		[]encap{{Dst: "192.0.2.4", VNI: vniBlue, Frame: out}})
	if got, want := f.where("blue", mac(8)), "vtep 192.0.2.4"; got != want {
		t.Errorf("FDB mac(8) = %q, want %q", got, want)
	}
}

// TestOuterSourcePort: RFC 7348 §5 wants the outer UDP source port hashed
// from the inner flow: every frame of one flow gets the same port, in the
// configured range, and different flows spread.
func TestOuterSourcePort(t *testing.T) {
	nc := blue()
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep2}}
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}}, port("p1", "blue"))

	a := udpFrame(t, mac(1), mac(8), 40000, 100)
	b := udpFrame(t, mac(1), mac(8), 40000, 700) // same flow, other length and payload
	f.fromPort("p1", a)
	f.fromPort("p1", b)
	got := f.sent() // checks the range
	if len(got) != 2 {
		t.Fatalf("sent %d datagrams, want 2", len(got))
	}
	if got[0].Sport != got[1].Sport {
		t.Errorf("one flow got source ports %d and %d, want one port", got[0].Sport, got[1].Sport)
	}

	ports := map[uint16]bool{}
	for sport := uint16(1); sport <= 32; sport++ {
		f.fromPort("p1", udpFrame(t, mac(1), mac(8), sport, 100))
	}
	for _, e := range f.sent() {
		ports[e.Sport] = true
	}
	if len(ports) < 16 {
		t.Errorf("32 flows used %d source ports, want them spread over at least 16", len(ports))
	}
}

func TestFlood(t *testing.T) {
	tests := []struct {
		name string
		dst  fdb.MAC
	}{
		{name: "broadcast", dst: macBroadcast},
		{name: "multicast", dst: macMDNS},
		{name: "unknown unicast", dst: mac(99)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3, vtep4)}},
				port("p1", "blue"), port("p2", "blue"), port("p3", "blue"))
			fr := frame(t, mac(1), tt.dst)
			f.expect(f.fromPort("p2", fr), "flood 5",
				map[string][][]byte{"p1": {fr}, "p3": {fr}},
				[]encap{
					{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr},
					{Dst: "192.0.2.3", VNI: vniBlue, Frame: fr},
					{Dst: "192.0.2.4", VNI: vniBlue, Frame: fr},
				})
			f.checkStats("blue", vswitch.Stats{Received: 1, Flooded: 1})
		})
	}
}

// TestFloodListVTEPOnly: with no other local port, a flood is head-end
// replication alone.
func TestFloodListVTEPOnly(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2)}}, port("p1", "blue"))
	fr := frame(t, mac(1), macBroadcast)
	f.expect(f.fromPort("p1", fr), "flood 1", nil, []encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr}})
}

// TestSplitHorizon: what comes from the underlay never goes back to it.
func TestSplitHorizon(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"))

	// A broadcast reaches the local ports only.
	bc := frame(t, mac(7), macBroadcast)
	f.expect(f.fromUnderlay(vtep2, vniBlue, bc), "flood 2", map[string][][]byte{"p1": {bc}, "p2": {bc}}, nil)

	// So does an unknown unicast.
	unknown := frame(t, mac(7), mac(99))
	f.expect(f.fromUnderlay(vtep2, vniBlue, unknown), "flood 2", map[string][][]byte{"p1": {unknown}, "p2": {unknown}}, nil)

	// A destination behind another VTEP is dropped, not relayed.
	nine := frame(t, mac(9), macBroadcast) // mac(9) is behind .3
	f.expect(f.fromUnderlay(vtep3, vniBlue, nine), "flood 2", map[string][][]byte{"p1": {nine}, "p2": {nine}}, nil)
	f.expect(f.fromUnderlay(vtep2, vniBlue, frame(t, mac(7), mac(9))), "drop split_horizon", nil, nil)

	// So is one behind the sender itself.
	f.expect(f.fromUnderlay(vtep3, vniBlue, frame(t, mac(9), mac(7))), "drop split_horizon", nil, nil)

	// A destination on a local port is delivered there.
	f.fromPort("p1", frame(t, mac(1), mac(7))) // learns mac(1) on p1
	f.sent()
	toOne := frame(t, mac(7), mac(1))
	f.expect(f.fromUnderlay(vtep2, vniBlue, toOne), "port p1", map[string][][]byte{"p1": {toOne}}, nil)

	f.checkStats("blue", vswitch.Stats{Received: 7, Forwarded: 2, Flooded: 3,
		Drops: map[string]uint64{"split_horizon": 2}})
}

// TestDecapsulatedFrameIntact: a frame from the underlay is delivered as
// exactly the bytes after the 8-byte VXLAN header.
func TestDecapsulatedFrameIntact(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2)}}, port("p1", "blue"))
	fr := udpFrame(t, mac(7), macBroadcast, 1, 1464)
	f.fromUnderlay(vtep2, vniBlue, fr)
	got := f.delivered()["p1"]
	if len(got) != 1 {
		t.Fatalf("p1 got %d frames, want 1", len(got))
	}
	if diff := cmp.Diff(fr, got[0]); diff != "" {
		t.Errorf("delivered frame (-want +got):\n%s", diff)
	}
}
