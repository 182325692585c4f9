package vswitch_test

import (
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	vswitch "github.com/vxswitch/vxswitch/switch"
)

func TestNewErrors(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::2")
	tests := []struct {
		name    string
		cfg     vswitch.Config
		wantErr string
	}{
		{name: "no local address", cfg: vswitch.Config{}, wantErr: "no local underlay address"},
		{name: "VNI twice", cfg: vswitch.Config{Local: vtepLocal, Networks: []vswitch.NetworkConfig{blue(), {Name: "again", VNI: vniBlue}}},
			wantErr: `network "again": VNI 4097 used twice`},
		{name: "VNI out of range", cfg: vswitch.Config{Local: vtepLocal, Networks: []vswitch.NetworkConfig{{Name: "big", VNI: 1 << 24}}},
			wantErr: "VNI 16777216 out of range"},
		{name: "flood to self", cfg: vswitch.Config{Local: vtepLocal, Networks: []vswitch.NetworkConfig{blue(vtepLocal)}},
			wantErr: "this switch's own address"},
		{name: "flood to another family", cfg: vswitch.Config{Local: vtepLocal, Networks: []vswitch.NetworkConfig{blue(v6)}},
			wantErr: "address family differs"},
		{name: "static MAC behind another family", cfg: vswitch.Config{Local: vtepLocal, Networks: []vswitch.NetworkConfig{{
			Name: "blue", VNI: vniBlue, StaticMACs: []vswitch.StaticMAC{{MAC: mac(8), VTEP: v6}}}}},
			wantErr: "fdb 02:00:00:00:00:08"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vswitch.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	// The largest VNI and an IPv4-mapped flood address are fine.
	mapped := netip.AddrFrom16(vtep2.As16())
	if _, err := vswitch.New(vswitch.Config{Local: vtepLocal, Networks: []vswitch.NetworkConfig{{Name: "max", VNI: 1<<24 - 1, Flood: []netip.Addr{mapped}}}}); err != nil {
		t.Errorf("New with VNI 16777215 and a mapped flood address: %v", err)
	}
}

// TestIPv6Underlay: the outer IPv6 header is 20 bytes longer, so 20 bytes
// less inner frame fit.
func TestIPv6Underlay(t *testing.T) {
	local, peer := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	nc := blue(peer)
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: peer}}
	f := newFixture(t, vswitch.Config{Local: local, Networks: []vswitch.NetworkConfig{nc}},
		portSpec{name: "p1", network: "blue", mtu: 1500})
	fits := udpFrame(t, mac(1), mac(8), 1, 1500-40-8-8)
	f.expect(f.fromPort("p1", fits), "vtep 2001:db8::2", nil, []encap{{Dst: "2001:db8::2", VNI: vniBlue, Frame: fits}})
	f.expect(f.fromPort("p1", udpFrame(t, mac(1), mac(8), 1, 1500-40-8-8+1)), "drop oversize", nil, nil)

	// Default port MTU: what fits the underlay.
	f.addPort(port("p2", "blue"))
	for _, p := range f.s.Ports() {
		if p.Name == "p2" && p.MTU != 1500-40-8-8-14 {
			t.Errorf("default port MTU on IPv6 = %d, want %d", p.MTU, 1500-40-8-8-14)
		}
	}
}

// TestMappedSourceAddress: a dual-stack socket reports IPv4 senders as
// ::ffff:a.b.c.d; they are the same peers.
func TestMappedSourceAddress(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2)}}, port("p1", "blue"))
	fr := frame(t, mac(7), macBroadcast)
	f.expect(f.datagram(netip.AddrFrom16(vtep2.As16()), encapsulate(vniBlue, fr)), "flood 1",
		map[string][][]byte{"p1": {fr}}, nil)
	if got := f.where("blue", mac(7)); got != "vtep 192.0.2.2" {
		t.Errorf("FDB mac(7) = %q, want vtep 192.0.2.2", got)
	}
}

// TestKnownPeersArePerNetwork: a VTEP in one network's flood list is a
// stranger to another network.
func TestKnownPeersArePerNetwork(t *testing.T) {
	f := newFixture(t, vswitch.Config{Networks: []vswitch.NetworkConfig{blue(vtep2), red(vtep3)}},
		port("b1", "blue"), port("r1", "red"))
	f.expect(f.fromUnderlay(vtep2, vniRed, frame(t, mac(7), macBroadcast)), "drop unknown_peer", nil, nil)
	f.expect(f.fromUnderlay(vtep3, vniBlue, frame(t, mac(7), macBroadcast)), "drop unknown_peer", nil, nil)
	f.checkStats("red", vswitch.Stats{Received: 1, Drops: map[string]uint64{"unknown_peer": 1}})
	f.checkStats("blue", vswitch.Stats{Received: 1, Drops: map[string]uint64{"unknown_peer": 1}})
}

func TestReasonAndActionNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range vswitch.Reasons() {
		name := r.String()
		if name == "" || name == "none" || name == "unknown_reason" || seen[name] {
			t.Errorf("reason %d: name %q is empty, reserved or used twice", r, name)
		}
		seen[name] = true
	}
	if len(seen) != 13 {
		t.Errorf("%d reasons, want 13", len(seen))
	}
	if got := vswitch.Reason(200).String(); got != "unknown_reason" {
		t.Errorf("Reason(200) = %q", got)
	}
	for a, want := range map[vswitch.Action]string{vswitch.ActionDrop: "drop", vswitch.ActionPort: "port",
		vswitch.ActionVTEP: "vtep", vswitch.ActionFlood: "flood", vswitch.ActionProxy: "proxy", 99: "unknown"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d) = %q, want %q", a, got, want)
		}
	}
}

// TestDebugLogging runs every kind of verdict with debug logging on: the
// log fields build without panicking, on runts too.
func TestDebugLogging(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	nc := blue(vtep2)
	nc.StaticMACs = []vswitch.StaticMAC{{MAC: mac(8), VTEP: vtep4}}
	nc.Neighbors = []vswitch.Neighbor{{IP: ip(8), MAC: mac(8)}}
	f := newFixture(t, vswitch.Config{Logger: zap.New(core), Networks: []vswitch.NetworkConfig{nc}},
		port("p1", "blue"), port("p2", "blue"))
	f.fromPort("p1", frame(t, mac(1), macBroadcast))                          // flood
	f.fromPort("p2", frame(t, mac(2), mac(1)))                                // port
	f.fromPort("p1", frame(t, mac(1), mac(8)))                                // vtep
	f.fromPort("p1", arpRequest(t, mac(1), ip(1), ip(8)))                     // proxy
	f.fromPort("p1", []byte{1, 2, 3})                                         // runt
	f.fromUnderlay(vtep2, vniBlue, []byte{1, 2, 3})                           // runt inner frame
	f.datagram(vtep2, []byte{1})                                              // vxlan runt
	f.fromUnderlay(vtep2, 5000, frame(t, mac(7), macBroadcast))               // unknown VNI
	f.fromUnderlay(vtep2, vniBlue, arpReply(t, mac(7), ip(7), mac(1), ip(1))) // port, with ARP fields
	f.delivered()
	f.sent()

	var actions []string
	for _, e := range logs.All() {
		if a, ok := e.ContextMap()["action"].(string); ok {
			actions = append(actions, a)
		}
	}
	want := []string{"flood ×2", "→ port p1", "→ vtep 192.0.2.4", "proxied", "drop: runt", "drop: runt",
		"drop: vxlan_runt", "drop: unknown_vni", "→ port p1"}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Errorf("logged actions:\n got %q\nwant %q", actions, want)
	}
	last := logs.All()[len(logs.All())-1].ContextMap()
	frameFields, _ := last["frame"].(map[string]any)
	if frameFields["arp"] != "op 2 10.0.0.7 > 10.0.0.1" {
		t.Errorf("last entry's frame = %v, want the ARP summary", last["frame"])
	}
}
