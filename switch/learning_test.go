package vswitch_test

import (
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vxswitch/vxswitch/fdb"
	vswitch "github.com/vxswitch/vxswitch/switch"
	"github.com/vxswitch/vxswitch/tap"
	"github.com/vxswitch/vxswitch/tap/taptest"
)

func TestStaticMACNeverOverriddenByLearning(t *testing.T) {
	nc := blue(vtep2, vtep3)
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}}, port("p1", "blue"), port("p2", "blue"))

	// mac(8) shows up as a source on a port and behind another VTEP.
	f.fromPort("p1", frame(t, mac(8), macBroadcast))
	f.fromUnderlay(vtep2, vniBlue, frame(t, mac(8), macBroadcast))
	f.delivered()
	f.sent()

	want := []vswitch.FDBEntry{{Network: "blue", VNI: vniBlue, MAC: mac(8), Where: "vtep 192.0.2.4", Type: fdb.Static}}
	if diff := cmp.Diff(want, f.s.FDB("blue")); diff != "" {
		t.Errorf("FDB (-want +got):\n%s", diff)
	}
	out := frame(t, mac(2), mac(8))
	f.expect(f.fromPort("p2", out), "vtep 192.0.2.4", nil, []encap{{Dst: "192.0.2.4", VNI: vniBlue, Frame: out}})
}

func TestMACMove(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2, vtep3)}},
		port("p1", "blue"), port("p2", "blue"), port("p3", "blue"))
	steps := []struct {
		name  string
		learn func()
		where string
		want  string // verdict of a frame from p3 to mac(1)
	}{
		{"on p1", func() { f.fromPort("p1", frame(t, mac(1), macBroadcast)) }, "port p1", "port p1"},
		{"moves to p2", func() { f.fromPort("p2", frame(t, mac(1), macBroadcast)) }, "port p2", "port p2"},
		{"moves behind .2", func() { f.fromUnderlay(vtep2, vniBlue, frame(t, mac(1), macBroadcast)) }, "vtep 192.0.2.2", "vtep 192.0.2.2"},
		{"moves behind .3", func() { f.fromUnderlay(vtep3, vniBlue, frame(t, mac(1), macBroadcast)) }, "vtep 192.0.2.3", "vtep 192.0.2.3"},
		{"back to p1", func() { f.fromPort("p1", frame(t, mac(1), macBroadcast)) }, "port p1", "port p1"},
	}
	for _, st := range steps {
		st.learn()
		f.delivered()
		f.sent()
		if got := f.where("blue", mac(1)); got != st.where {
			t.Errorf("%s: FDB mac(1) = %q, want %q", st.name, got, st.where)
		}
		if got := verdict(f.fromPort("p3", frame(t, mac(3), mac(1)))); got != st.want {
			t.Errorf("%s: frame to mac(1) = %q, want %q", st.name, got, st.want)
		}
		f.delivered()
		f.sent()
	}
}

func TestAgeing(t *testing.T) {
	nc := blue(vtep2)
	nc.Ageing = 10 * time.Second
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}}, port("p1", "blue"), port("p2", "blue"))

	f.fromPort("p2", frame(t, mac(2), macBroadcast))
	f.delivered()
	f.sent()
	f.clock.Advance(10 * time.Second) // exactly the ageing time: still there
	if got := verdict(f.fromPort("p1", frame(t, mac(1), mac(2)))); got != "port p2" {
		t.Errorf("at 10s: %q, want port p2", got)
	}
	if got := f.s.FDB("blue"); len(got) != 2 || got[1].MAC != mac(2) || got[1].Age != 10*time.Second {
		t.Errorf("FDB at 10s = %+v, want mac(2) aged 10s", got)
	}
	f.delivered()

	f.clock.Advance(time.Second + 1)
	fr := frame(t, mac(1), mac(2))
	f.expect(f.fromPort("p1", fr), "flood 2", map[string][][]byte{"p2": {fr}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr}})
	if got := f.where("blue", mac(2)); got != "" {
		t.Errorf("FDB still shows the aged mac(2) at %q", got)
	}

	// Expire reclaims it; mac(1), refreshed just now, stays.
	f.s.Expire()
	nets, _ := f.s.Stats()
	if nets[0].MACs != 1 {
		t.Errorf("after Expire: %d MACs, want 1", nets[0].MACs)
	}

	// Relearned, it is unicast again.
	f.fromPort("p2", frame(t, mac(2), mac(1)))
	f.delivered()
	if got := verdict(f.fromPort("p1", frame(t, mac(1), mac(2)))); got != "port p2" {
		t.Errorf("relearned: %q, want port p2", got)
	}
}

func TestMaxMACs(t *testing.T) {
	nc := blue(vtep2)
	nc.MaxMACs = 2
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}} // does not count toward the limit
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}},
		port("p1", "blue"), port("p2", "blue"), port("p3", "blue"))

	f.fromPort("p1", frame(t, mac(1), macBroadcast))
	f.fromPort("p2", frame(t, mac(2), macBroadcast))
	f.delivered()
	f.sent()

	// The table is full: mac(3) is not learned, but its frame still goes.
	fr := frame(t, mac(3), mac(1))
	f.expect(f.fromPort("p3", fr), "port p1", map[string][][]byte{"p1": {fr}}, nil)
	fromRemote := frame(t, mac(7), mac(2))
	f.expect(f.fromUnderlay(vtep2, vniBlue, fromRemote), "port p2", map[string][][]byte{"p2": {fromRemote}}, nil)
	if got := f.where("blue", mac(3)); got != "" {
		t.Errorf("mac(3) learned at %q past max_macs", got)
	}
	if got := f.where("blue", mac(7)); got != "" {
		t.Errorf("mac(7) learned at %q past max_macs", got)
	}
	st := f.stats("blue")
	if st.LearnFull != 2 {
		t.Errorf("LearnFull = %d, want 2", st.LearnFull)
	}
	// Frames to an unlearned MAC flood.
	back := frame(t, mac(1), mac(3))
	f.expect(f.fromPort("p1", back), "flood 3", map[string][][]byte{"p2": {back}, "p3": {back}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: back}})
	// Known MACs still refresh and move while the table is full.
	f.fromPort("p3", frame(t, mac(1), macBroadcast))
	if got := f.where("blue", mac(1)); got != "port p3" {
		t.Errorf("full table: mac(1) at %q, want it moved to port p3", got)
	}
	if got := f.stats("blue").LearnFull; got != 2 {
		t.Errorf("LearnFull = %d after a move, want still 2", got)
	}
}

func TestRemovePortForgetsItsMACs(t *testing.T) {
	nc := blue(vtep2)
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nc}},
		port("p1", "blue"), port("p2", "blue"), port("p3", "blue"))
	f.fromPort("p2", frame(t, mac(2), macBroadcast))
	f.fromPort("p2", frame(t, mac(22), macBroadcast))
	f.fromPort("p3", frame(t, mac(3), macBroadcast))
	f.delivered()
	f.sent()

	if err := f.s.RemovePort(f.port["p2"]); err != nil {
		t.Fatalf("RemovePort: %v", err)
	}
	if _, err := f.dev["p2"].Write([]byte{1}); err != tap.ErrClosed {
		t.Errorf("removed port's device: Write = %v, want tap.ErrClosed", err)
	}
	if err := f.s.RemovePort(f.port["p2"]); err != nil {
		t.Errorf("second RemovePort: %v, want nil", err)
	}
	var names []string
	for _, p := range f.s.Ports() {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"p1", "p3"}, names); diff != "" {
		t.Errorf("Ports (-want +got):\n%s", diff)
	}
	if got := f.where("blue", mac(2)); got != "" {
		t.Errorf("mac(2) still at %q", got)
	}
	if got := f.where("blue", mac(22)); got != "" {
		t.Errorf("mac(22) still at %q", got)
	}
	if got := f.where("blue", mac(3)); got != "port p3" {
		t.Errorf("mac(3) at %q, want port p3 (other ports keep theirs)", got)
	}
	fr := frame(t, mac(1), mac(2))
	f.expect(f.fromPort("p1", fr), "flood 2", map[string][][]byte{"p3": {fr}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr}})

	// The name is free again.
	f.dev["p2"] = nil
	f.addPort(port("p2", "blue"))
	fr2 := frame(t, mac(1), macBroadcast)
	f.expect(f.fromPort("p1", fr2), "flood 3", map[string][][]byte{"p2": {fr2}, "p3": {fr2}},
		[]encap{{Dst: "192.0.2.2", VNI: vniBlue, Frame: fr2}})
}

func TestSnapshots(t *testing.T) {
	nb := blue(vtep2)
	nb.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	nb.Neighbors = []vswitch.Neighbor{{IP: ip(8), MAC: mac(8)}}
	nr := red(vtep3)
	nr.AllowUnknownPeers = true
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{nb, nr}})
	hw := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	p1, err := f.s.AddPort(vswitch.PortConfig{Name: "p1", Network: "blue", Device: taptest.New("p1"), MTU: 1400,
		MAC: hw, Netns: "/run/netns/c1", IfName: "eth1"})
	if err != nil {
		t.Fatal(err)
	}
	f.addPort(port("p2", "red"))
	if _, err := f.s.AddPort(vswitch.PortConfig{Name: "p1", Network: "red", Device: taptest.New("x")}); err == nil {
		t.Errorf("AddPort with a name in use: no error")
	}
	if _, err := f.s.AddPort(vswitch.PortConfig{Name: "x", Network: "green", Device: taptest.New("x")}); err == nil {
		t.Errorf("AddPort to an unknown network: no error")
	}
	if _, err := f.s.AddPort(vswitch.PortConfig{Name: "x", Network: "blue"}); err == nil {
		t.Errorf("AddPort without a device: no error")
	}

	// p1 broadcasts (to .2 only), .2 answers with an ARP reply, and a
	// stranger talks in red, which allows unknown peers.
	bc := frame(t, mac(1), macBroadcast)
	buf := make([]byte, vswitch.Headroom+len(bc))
	copy(buf[vswitch.Headroom:], bc)
	if got := verdict(f.w.FromPort(p1, buf, vswitch.Headroom, len(bc))); got != "flood 1" {
		t.Errorf("broadcast from p1: %q, want flood 1", got)
	}
	f.clock.Advance(3 * time.Second)
	reply := arpReply(t, mac(7), ip(7), mac(1), ip(1))
	if got := verdict(f.fromUnderlay(vtep2, vniBlue, reply)); got != "port p1" {
		t.Errorf("ARP reply from .2: %q, want port p1", got)
	}
	f.clock.Advance(2 * time.Second)
	if got := verdict(f.fromUnderlay(vtepStray, vniRed, frame(t, mac(9), macBroadcast))); got != "flood 1" {
		t.Errorf("broadcast from a stranger in red: %q, want flood 1", got)
	}

	wantFDB := []vswitch.FDBEntry{
		{Network: "blue", VNI: vniBlue, MAC: mac(1), Where: "port p1", Type: fdb.Learned, Age: 5 * time.Second},
		{Network: "blue", VNI: vniBlue, MAC: mac(7), Where: "vtep 192.0.2.2", Type: fdb.Learned, Age: 2 * time.Second},
		{Network: "blue", VNI: vniBlue, MAC: mac(8), Where: "vtep 192.0.2.4", Type: fdb.Static},
		{Network: "red", VNI: vniRed, MAC: mac(9), Where: "vtep 192.0.2.99", Type: fdb.Learned},
	}
	if diff := cmp.Diff(wantFDB, f.s.FDB("")); diff != "" {
		t.Errorf("FDB (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantFDB[3:], f.s.FDB("red")); diff != "" {
		t.Errorf("FDB red (-want +got):\n%s", diff)
	}

	wantNeigh := []vswitch.NeighEntry{
		{Network: "blue", VNI: vniBlue, IP: ip(7), MAC: mac(7), Type: fdb.Learned, Age: 2 * time.Second},
		{Network: "blue", VNI: vniBlue, IP: ip(8), MAC: mac(8), Type: fdb.Static},
	}
	if diff := cmp.Diff(wantNeigh, f.s.Neighbors(""), cmpAddr); diff != "" {
		t.Errorf("Neighbors (-want +got):\n%s", diff)
	}
	if got := f.s.Neighbors("red"); len(got) != 0 {
		t.Errorf("Neighbors(red) = %v, want none", got)
	}

	arpLen := uint64(len(reply))
	wantPorts := []vswitch.PortInfo{
		{Name: "p1", Network: "blue", Netns: "/run/netns/c1", IfName: "eth1", MAC: hw, MTU: 1400,
			IO: vswitch.IOStats{RxFrames: 1, RxBytes: uint64(len(bc)), TxFrames: 1, TxBytes: arpLen}},
		{Name: "p2", Network: "red", MTU: 1450, // the default: what fits the underlay
			IO: vswitch.IOStats{TxFrames: 1, TxBytes: uint64(len(bc))}},
	}
	if diff := cmp.Diff(wantPorts, f.s.Ports()); diff != "" {
		t.Errorf("Ports (-want +got):\n%s", diff)
	}

	wantPeers := []vswitch.PeerInfo{
		{Addr: vtep2, LastSeen: 2 * time.Second, IO: vswitch.IOStats{RxFrames: 1, RxBytes: 8 + arpLen, TxFrames: 1, TxBytes: 8 + uint64(len(bc))}},
		{Addr: vtep4, LastSeen: -1},
		{Addr: vtep3, LastSeen: -1},
		{Addr: vtepStray, LastSeen: 0, IO: vswitch.IOStats{RxFrames: 1, RxBytes: 8 + uint64(len(bc))}},
	}
	if diff := cmp.Diff(wantPeers, f.s.Peers(), cmpAddr); diff != "" {
		t.Errorf("Peers (-want +got):\n%s", diff)
	}

	nets, unmatched := f.s.Stats()
	wantNets := []vswitch.NetworkStats{
		{Name: "blue", VNI: vniBlue, MACs: 3, Neighbors: 2, Stats: vswitch.Stats{Received: 2, Forwarded: 1, Flooded: 1, Drops: map[string]uint64{}}},
		{Name: "red", VNI: vniRed, MACs: 1, Neighbors: 0, Stats: vswitch.Stats{Received: 1, Flooded: 1, Drops: map[string]uint64{}}},
	}
	if diff := cmp.Diff(wantNets, nets); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if unmatched.Received != 0 {
		t.Errorf("unmatched = %+v, want none", unmatched)
	}
}
